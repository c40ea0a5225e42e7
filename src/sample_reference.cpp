// The CPU reference of the sampler contract (docs/semantics.md, "Sampling (the fused sampler)"),
// computed directly in float64, plus the Philox noise the GPU draws and a chi-square p-value for
// the statistical tests. Like src/reference.cpp it is kept simple: decode, sort, accumulate.
#include "samplejit/sample_reference.hpp"

#include "compensated_sum.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "samplejit/error.hpp"
#include "samplejit/reference.hpp"

namespace samplejit::ref {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();


// One Philox4x32 round: two 32x32->64 products, then the Feistel-like mix with the round key.
std::array<std::uint32_t, 4> philox_round(const std::array<std::uint32_t, 4>& c, const std::array<std::uint32_t, 2>& k) {
  constexpr std::uint64_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  const std::uint64_t p0 = kM0 * c[0];
  const std::uint64_t p1 = kM1 * c[2];
  const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
  const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
  return {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}

// Q(a, x) = Gamma(a, x) / Gamma(a), the regularized upper incomplete gamma, for a > 0, x > 0.
double upper_regularized_gamma(double a, double x) {
  // log of x^a e^-x / Gamma(a), the factor common to both expansions.
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  constexpr double kEps = 1e-17;
  constexpr int kMaxTerms = 1000000;
  if (x < a + 1.0) {
    // P(a, x) = x^a e^-x / Gamma(a) * sum_{n>=0} x^n / (a (a+1) ... (a+n)); all terms positive,
    // and here the series converges fast. Q = 1 - P loses nothing: P stays below about 0.92.
    double term = 1.0 / a, total = term, denom = a;
    for (int n = 1; n < kMaxTerms; ++n) {
      denom += 1.0;
      term *= x / denom;
      total += term;
      if (term < total * kEps) break;
    }
    return 1.0 - total * std::exp(log_front);
  }
  // Q(a, x) = x^a e^-x / Gamma(a) * 1 / (x + 1 - a - 1(1-a) / (x + 3 - a - 2(2-a) / (x + 5 - a - ...))),
  // evaluated forward with the modified Lentz method.
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < kMaxTerms; ++i) {
    const double an = -static_cast<double>(i) * (static_cast<double>(i) - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < kEps) break;
  }
  return std::exp(log_front) * h;
}

}  // namespace

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key advances by the Weyl increments between rounds
      key[0] += kW0;
      key[1] += kW1;
    }
    counter = philox_round(counter, key);
  }
  return counter;
}

std::uint32_t noise_word(std::uint64_t seed, std::uint64_t offset, std::uint32_t index) {
  const std::array<std::uint32_t, 2> key = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  const std::array<std::uint32_t, 4> counter = {index, 0u, static_cast<std::uint32_t>(offset),
                                                static_cast<std::uint32_t>(offset >> 32)};
  return philox4x32_10(counter, key)[0];
}

SampleResult sample_row(DType dtype, const void* row, std::int64_t vocab, SampleParams params) {
  // Candidates, rank order and top-k exactly as in truncation (it also validates the arguments).
  // Its top-p is left off: ours needs the post-temperature masses.
  const RowResult trunc = truncate_row(dtype, row, vocab, RowParams{params.top_k, 1.0f});

  SampleResult r;
  r.greedy = !(params.temperature > 0.0f);  // <= 0 or NaN
  r.order = trunc.order;
  const auto candidates = static_cast<std::int64_t>(r.order.size());
  if (candidates == 0) return r;  // valid = false, kept = 0, vectors empty
  r.valid = true;

  if (r.greedy) {
    r.kept = 1;
    r.prob = {1.0};
    r.log_z = 0.0;
    r.log_prob_full = {0.0};
    return r;
  }

  // Log weights log(w_j) = z_j - zmax and weights w_j, in rank order, over all candidates.
  const auto n_all = static_cast<std::size_t>(candidates);
  std::vector<double> log_w(n_all), w(n_all);
  const double top = load_logit(dtype, row, r.order[0]);
  if (top == kInf) {
    // +inf rule: each +inf candidate weighs 1, each finite one 0, whatever the temperature.
    for (std::size_t j = 0; j < n_all; ++j) {
      const bool infinite = load_logit(dtype, row, r.order[j]) == kInf;
      log_w[j] = infinite ? 0.0 : -kInf;
      w[j] = infinite ? 1.0 : 0.0;
    }
  } else {
    const auto t = static_cast<double>(params.temperature);  // > 0, possibly +inf
    const double z_max = top / t;
    for (std::size_t j = 0; j < n_all; ++j) {
      log_w[j] = load_logit(dtype, row, r.order[j]) / t - z_max;  // <= 0: order is preserved by T > 0
      w[j] = std::exp(log_w[j]);
    }
  }

  // top-k: the survivors are the first after_top_k ranks.
  const std::int64_t n = trunc.after_top_k;
  std::int64_t kept = n;

  // top-p over the top-k survivors, with masses renormalized over them (as in truncation).
  if (params.top_p < 1.0f) {  // false for NaN
    const double p = static_cast<double>(params.top_p);
    CompensatedSum total;
    for (std::int64_t j = 0; j < n; ++j) total.add(w[j]);
    const double s = total.value();  // >= 1: rank 0 weighs exp(0) (or 1 under the +inf rule)
    CompensatedSum prefix;
    prefix.add(w[0]);
    for (std::int64_t j = 1; j < n; ++j) {
      if (!(prefix.value() / s < p)) {
        kept = j;
        break;
      }
      prefix.add(w[j]);
    }
  }

  // min-p relative to the largest weight (1): w is nonincreasing in rank, so the cut is a prefix.
  if (params.min_p > 0.0f) {  // false for NaN
    const double min_p = static_cast<double>(params.min_p);
    for (std::int64_t j = 1; j < kept; ++j) {
      if (!(w[j] >= min_p)) {
        kept = j;
        break;
      }
    }
  }
  r.kept = kept;

  CompensatedSum kept_sum, all_sum;
  for (std::size_t j = 0; j < n_all; ++j) {
    all_sum.add(w[j]);
    if (static_cast<std::int64_t>(j) < kept) kept_sum.add(w[j]);
  }
  const double s_kept = kept_sum.value(), s_all = all_sum.value();
  const double log_s_all = std::log(s_all);
  r.log_z = std::min(0.0, std::log(s_kept) - log_s_all);
  r.prob.resize(static_cast<std::size_t>(kept));
  r.log_prob_full.resize(static_cast<std::size_t>(kept));
  for (std::size_t j = 0; j < static_cast<std::size_t>(kept); ++j) {
    r.prob[j] = w[j] / s_kept;
    r.log_prob_full[j] = log_w[j] - log_s_all;  // -inf - finite stays -inf for finite tokens under the +inf rule
  }
  return r;
}

double chi_square_p_value(double statistic, double dof) {
  if (!(dof > 0.0) || !std::isfinite(dof))
    throw_invalid("dof", fmt::format("{}", dof), "must be a positive finite number");
  if (std::isnan(statistic)) throw_invalid("statistic", "nan", "must be a number");
  if (statistic <= 0.0) return 1.0;
  if (statistic == kInf) return 0.0;
  return std::clamp(upper_regularized_gamma(0.5 * dof, 0.5 * statistic), 0.0, 1.0);
}

}  // namespace samplejit::ref
