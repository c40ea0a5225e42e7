// The CPU reference of the truncation contract (docs/semantics.md), computed directly in float64.
// Kept deliberately simple: decode, sort, accumulate. Speed matters only enough for `verify`.
#include "samplejit/reference.hpp"

#include "compensated_sum.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "samplejit/error.hpp"

namespace samplejit::ref {

namespace {

double decode_f16(std::uint16_t h) {
  const bool negative = (h & 0x8000u) != 0;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  double magnitude = 0.0;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else {
    magnitude = std::ldexp(static_cast<double>(1024 + mantissa), exponent - 25);
  }
  return negative ? -magnitude : magnitude;
}

double decode_bf16(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f = 0.0f;
  std::memcpy(&f, &bits, sizeof f);
  return static_cast<double>(f);
}

void check_row_args(DType dtype, const void* row, std::int64_t vocab) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    throw_invalid("dtype", std::to_string(static_cast<int>(dtype)), "expected fp32, fp16 or bf16");
  if (vocab < 1) throw_invalid("vocab", std::to_string(vocab), "must be at least 1");
  if (row == nullptr) throw_invalid("row", "null", "must point to vocab logits");
}

bool is_candidate(double x) { return !std::isnan(x) && x != -std::numeric_limits<double>::infinity(); }


}  // namespace

double load_logit(DType dtype, const void* row, std::int64_t index) {
  if (row == nullptr) throw_invalid("row", "null", "must point to logits");
  const auto* bytes = static_cast<const unsigned char*>(row);
  switch (dtype) {
    case DType::F32: {
      float f = 0.0f;
      std::memcpy(&f, bytes + index * 4, sizeof f);
      return static_cast<double>(f);
    }
    case DType::F16: {
      std::uint16_t h = 0;
      std::memcpy(&h, bytes + index * 2, sizeof h);
      return decode_f16(h);
    }
    case DType::BF16: {
      std::uint16_t b = 0;
      std::memcpy(&b, bytes + index * 2, sizeof b);
      return decode_bf16(b);
    }
  }
  throw_invalid("dtype", std::to_string(static_cast<int>(dtype)), "expected fp32, fp16 or bf16");
}

std::uint32_t neg_inf_bits(DType dtype) {
  switch (dtype) {
    case DType::F32: return 0xFF800000u;
    case DType::F16: return 0xFC00u;
    case DType::BF16: return 0xFF80u;
  }
  throw_invalid("dtype", std::to_string(static_cast<int>(dtype)), "expected fp32, fp16 or bf16");
}

RowResult truncate_row(DType dtype, const void* row, std::int64_t vocab, RowParams params) {
  check_row_args(dtype, row, vocab);
  std::vector<double> x(static_cast<std::size_t>(vocab));
  RowResult r;
  for (std::int64_t i = 0; i < vocab; ++i) {
    x[i] = load_logit(dtype, row, i);
    if (is_candidate(x[i])) r.order.push_back(i);
  }
  // Value descending, index ascending: a strict total order on candidates (+0 == -0 is a tie).
  std::sort(r.order.begin(), r.order.end(), [&](std::int64_t a, std::int64_t b) {
    if (x[a] != x[b]) return x[a] > x[b];
    return a < b;
  });
  const auto candidates = static_cast<std::int64_t>(r.order.size());

  r.top_k_on = params.top_k > 0 && params.top_k < vocab;
  r.after_top_k = r.top_k_on ? std::min<std::int64_t>(params.top_k, candidates) : candidates;
  r.top_p_on = params.top_p < 1.0f;  // false for NaN

  const std::int64_t n = r.after_top_k;
  r.mass_ahead.assign(static_cast<std::size_t>(n), 0.0);
  if (n == 0) return r;

  const double m = x[r.order[0]];
  if (m == std::numeric_limits<double>::infinity()) {
    // Every +inf survivor carries 1/count of the mass; finite survivors carry none.
    std::int64_t infinite = 0;
    while (infinite < n && x[r.order[infinite]] == m) ++infinite;
    for (std::int64_t j = 0; j < n; ++j)
      r.mass_ahead[j] = j >= infinite ? 1.0 : static_cast<double>(j) / static_cast<double>(infinite);
  } else {
    CompensatedSum prefix;
    for (std::int64_t j = 0; j < n; ++j) {
      r.mass_ahead[j] = prefix.value();  // unnormalized for now
      prefix.add(std::exp(x[r.order[j]] - m));
    }
    const double total = prefix.value();  // >= 1: the top survivor contributes exp(0)
    for (double& a : r.mass_ahead) a /= total;
  }

  r.kept = n;
  if (r.top_p_on) {
    const double p = static_cast<double>(params.top_p);
    for (std::int64_t j = 1; j < n; ++j) {
      if (!(r.mass_ahead[j] < p)) {
        r.kept = j;
        break;
      }
    }
  }
  return r;
}

std::vector<std::uint8_t> keep_flags(const RowResult& r, std::int64_t vocab) {
  if (vocab < 1) throw_invalid("vocab", std::to_string(vocab), "must be at least 1");
  if (r.kept < 0 || r.kept > static_cast<std::int64_t>(r.order.size()))
    throw_invalid("RowResult::kept", std::to_string(r.kept),
                  fmt::format("must be in [0, {}] (the number of candidates)", r.order.size()));
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(vocab), 0);
  for (std::int64_t j = 0; j < r.kept; ++j) {
    const std::int64_t token = r.order[j];
    if (token < 0 || token >= vocab)
      throw_invalid("RowResult::order entry", std::to_string(token), fmt::format("outside the vocab of {}", vocab));
    keep[token] = 1;
  }
  return keep;
}

std::optional<std::string> check_row(DType dtype, const void* row, std::int64_t vocab, RowParams params,
                                     const std::uint8_t* gpu_keep, double tol) {
  check_row_args(dtype, row, vocab);
  if (gpu_keep == nullptr) throw_invalid("gpu_keep", "null", "must point to vocab flags");
  if (!(tol >= 0.0)) throw_invalid("tol", fmt::format("{}", tol), "must be a non-negative number");

  const RowResult r = truncate_row(dtype, row, vocab, params);
  const auto candidates = static_cast<std::int64_t>(r.order.size());
  const std::string where = fmt::format("(top_k={}, top_p={}, {} candidates, {} after top-k)", params.top_k,
                                        params.top_p, candidates, r.after_top_k);

  std::vector<std::int64_t> rank(static_cast<std::size_t>(vocab), -1);
  for (std::int64_t j = 0; j < candidates; ++j) rank[r.order[j]] = j;

  // (a) Only candidates, and exactly a rank-order prefix.
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < vocab; ++i) {
    const std::uint8_t flag = gpu_keep[i];
    if (flag > 1) return fmt::format("keep flag of token {} is {}, neither 0 nor 1", i, flag);
    if (flag == 0) continue;
    if (rank[i] < 0)
      return fmt::format("row keeps token {} whose logit is {} (never a candidate) {}", i,
                         load_logit(dtype, row, i), where);
    ++kept;
  }
  for (std::int64_t j = 0; j < kept; ++j) {
    if (gpu_keep[r.order[j]] != 0) continue;
    // kept candidates outnumber the kept ranks below `kept`, so a kept token ranks after j.
    for (std::int64_t later = j + 1; later < candidates; ++later) {
      if (gpu_keep[r.order[later]] != 0)
        return fmt::format("row keeps token {} (rank {}) but drops token {} (rank {}) which ranks above it {}",
                           r.order[later], later, r.order[j], j, where);
    }
  }

  // (b) How many.
  const std::int64_t lg = kept, lr = r.kept;
  if (!r.top_p_on) {
    if (lg != lr)
      return fmt::format("row keeps {} tokens but the reference keeps exactly {} (top-p off) {}", lg, lr, where);
    return std::nullopt;
  }
  if (lg > r.after_top_k)
    return fmt::format("row keeps {} tokens but top-k leaves only {} {}", lg, r.after_top_k, where);
  if (candidates > 0 && lg == 0)
    return fmt::format("row keeps no token but has {} candidates; the top-ranked token is always kept {}",
                       candidates, where);
  const double p = static_cast<double>(params.top_p);
  for (std::int64_t j = std::min(lg, lr); j < std::max(lg, lr); ++j) {
    const double ahead = r.mass_ahead[j];
    if (!(std::fabs(ahead - p) <= tol))
      return fmt::format(
          "row keeps {} tokens (Lg) but the reference keeps {} (Lr); rank {} (token {}) has mass_ahead {} which is "
          "{} from p = {}, beyond tolerance {} {}",
          lg, lr, j, r.order[j], ahead, ahead - p, p, tol, where);
  }
  return std::nullopt;
}

}  // namespace samplejit::ref
