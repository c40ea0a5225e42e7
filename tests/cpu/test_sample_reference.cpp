// Tests of the sampler reference (src/sample_reference.cpp) against docs/semantics.md, "Sampling".
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "samplejit/error.hpp"
#include "samplejit/reference.hpp"
#include "samplejit/sample_reference.hpp"

namespace {

using samplejit::DType;
namespace ref = samplejit::ref;

constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// One row of raw logits; 16-bit dtypes hold bit patterns.
struct SRow {
  DType dtype = DType::F32;
  std::vector<unsigned char> bytes;
  std::int64_t vocab() const { return static_cast<std::int64_t>(bytes.size() / (dtype == DType::F32 ? 4 : 2)); }
  const void* data() const { return bytes.data(); }
};

SRow make_f32(const std::vector<float>& values) {
  SRow r{DType::F32, std::vector<unsigned char>(values.size() * 4)};
  std::memcpy(r.bytes.data(), values.data(), r.bytes.size());
  return r;
}

SRow make_16(DType dtype, const std::vector<std::uint16_t>& bits) {
  SRow r{dtype, std::vector<unsigned char>(bits.size() * 2)};
  std::memcpy(r.bytes.data(), bits.data(), r.bytes.size());
  return r;
}

ref::SampleResult sample(const SRow& row, float t, std::int32_t k = 0, float p = 1.0f, float min_p = 0.0f) {
  return ref::sample_row(row.dtype, row.data(), row.vocab(), ref::SampleParams{t, k, p, min_p});
}

// Tokens of the final kept set, in rank order.
std::vector<std::int64_t> kept_tokens(const ref::SampleResult& r) {
  return {r.order.begin(), r.order.begin() + r.kept};
}

// ---- independent decoding for the brute force --------------------------------------------------

double f16_value(std::uint16_t h) {
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  const int e = (h >> 10) & 31;
  const int m = h & 1023;
  if (e == 31) return m != 0 ? std::numeric_limits<double>::quiet_NaN() : sign * kInf;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

double value_at(const SRow& row, std::int64_t i) {
  if (row.dtype == DType::F32) {
    float f = 0;
    std::memcpy(&f, row.bytes.data() + 4 * i, 4);
    return f;
  }
  std::uint16_t h = 0;
  std::memcpy(&h, row.bytes.data() + 2 * i, 2);
  if (row.dtype == DType::F16) return f16_value(h);
  const std::uint32_t wide = static_cast<std::uint32_t>(h) << 16;
  float f = 0;
  std::memcpy(&f, &wide, 4);
  return f;
}

// ---- the contract, the slow and obvious way ------------------------------------------------------

struct Expected {
  bool valid = false, greedy = false;
  std::vector<std::int64_t> order;
  std::int64_t kept = 0;
  std::vector<long double> prob;
  long double log_z = 0;
  std::vector<long double> log_prob_full;
};

struct Brute {
  Expected base;                        // valid, greedy, order (and everything, when not sampling)
  bool sampling = false;                // false: base is the full answer
  std::vector<double> log_w, w;         // per rank, all candidates
  bool forced = false;                  // the +inf rule
  std::int64_t after_top_k = 0;
  std::vector<std::int64_t> top_p_cuts; // every top-p cut the float64 rounding could justify
  float min_p = 0;
};

Brute brute_force(const SRow& row, ref::SampleParams sp) {
  const std::int64_t V = row.vocab();
  std::vector<double> x(static_cast<std::size_t>(V));
  for (std::int64_t i = 0; i < V; ++i) x[i] = value_at(row, i);
  Brute b;
  Expected& e = b.base;
  for (std::int64_t i = 0; i < V; ++i)
    if (!std::isnan(x[i]) && x[i] != -kInf) e.order.push_back(i);
  std::stable_sort(e.order.begin(), e.order.end(), [&](std::int64_t a, std::int64_t c) { return x[a] > x[c]; });
  e.greedy = std::isnan(sp.temperature) || sp.temperature <= 0.0f;
  const auto n = static_cast<std::int64_t>(e.order.size());
  if (n == 0) return b;
  e.valid = true;
  if (e.greedy) {
    e.kept = 1;
    e.prob = {1.0L};
    e.log_prob_full = {0.0L};
    return b;
  }
  b.sampling = true;
  b.min_p = sp.min_p;
  b.forced = x[e.order[0]] == kInf;
  for (std::int64_t j = 0; j < n; ++j) {
    const double v = x[e.order[j]];
    double lw = 0;
    if (b.forced)
      lw = v == kInf ? 0.0 : -kInf;
    else
      lw = v / static_cast<double>(sp.temperature) - x[e.order[0]] / static_cast<double>(sp.temperature);
    b.log_w.push_back(lw);
    b.w.push_back(std::exp(lw));
  }
  b.after_top_k = (sp.top_k > 0 && sp.top_k < V) ? std::min<std::int64_t>(sp.top_k, n) : n;
  if (!(sp.top_p < 1.0f)) {
    b.top_p_cuts = {b.after_top_k};
    return b;
  }
  // ahead[j] = mass of ranks < j over the top-k survivors; keep j iff ahead[j] < p (rank 0 always).
  // Where ahead[j] lies within 1e-12 of p but is not exactly p, float64 rounding may decide either
  // way. (Exact hits, as in ties of w = 1, are exact in float64 too and must cut.)
  const long double p = sp.top_p;
  long double total = 0;
  for (std::int64_t j = 0; j < b.after_top_k; ++j) total += b.w[j];
  long double before = 0;
  bool stopped = false;
  for (std::int64_t j = 1; j < b.after_top_k && !stopped; ++j) {
    before += b.w[j - 1];
    const long double ahead = before / total;
    const bool close = ahead != p && std::fabs(ahead - p) <= 1e-12L;
    if (close) {
      b.top_p_cuts.push_back(j);  // cut here, or keep going
    } else if (ahead >= p) {
      b.top_p_cuts.push_back(j);
      stopped = true;
    }
  }
  if (!stopped) b.top_p_cuts.push_back(b.after_top_k);
  return b;
}

// The rest of the pipeline for one top-p cut.
Expected finish(const Brute& b, std::int64_t cut) {
  Expected e = b.base;
  if (!b.sampling) return e;
  std::int64_t kept = cut;
  if (b.min_p > 0.0f) {
    kept = 1;
    while (kept < cut && b.w[kept] >= static_cast<double>(b.min_p)) ++kept;
  }
  e.kept = kept;
  long double s_kept = 0, s_all = 0;
  for (std::size_t j = 0; j < b.w.size(); ++j) {
    s_all += b.w[j];
    if (static_cast<std::int64_t>(j) < kept) s_kept += b.w[j];
  }
  e.log_z = std::log(s_kept) - std::log(s_all);
  for (std::int64_t j = 0; j < kept; ++j) {
    e.prob.push_back(b.w[j] / s_kept);
    e.log_prob_full.push_back(static_cast<long double>(b.log_w[j]) - std::log(s_all));
  }
  return e;
}

bool near(double got, long double want, long double tol) {
  if (std::isinf(want) || std::isinf(got)) return static_cast<long double>(got) == want;
  return std::fabs(static_cast<long double>(got) - want) <= tol * std::max(1.0L, std::fabs(want));
}

std::string describe(const SRow& row, ref::SampleParams sp) {
  std::ostringstream os;
  os.precision(17);
  os << samplejit::to_string(row.dtype) << " V " << row.vocab() << " T " << sp.temperature << " k " << sp.top_k
     << " p " << sp.top_p << " min_p " << sp.min_p << " x [";
  for (std::int64_t i = 0; i < row.vocab(); ++i) os << ' ' << value_at(row, i);
  os << " ]";
  return os.str();
}

// f16 bits of k/8 for |k| <= 64 (exact).
std::uint16_t f16_eighths(int k) {
  if (k == 0) return 0;
  const std::uint16_t sign = k < 0 ? 0x8000u : 0u;
  const int m = std::abs(k);
  int e = 0;
  while ((m >> (e + 1)) != 0) ++e;  // 2^e <= m < 2^(e+1)
  const int mantissa = (m << (10 - e)) & 0x3FF;
  return static_cast<std::uint16_t>(sign | ((e - 3 + 15) << 10) | mantissa);
}

std::uint16_t bf16_of(float f) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &f, 4);
  return static_cast<std::uint16_t>(bits >> 16);
}

// Long double references for the chi-square tail, by closed forms of Q(a, y) at integer and
// half-integer a (all terms positive, so no cancellation).
long double q_integer(int a, long double y) {  // Q(a, y) = e^-y sum_{i<a} y^i / i!
  long double s = 0;
  for (int i = 0; i < a; ++i) s += std::exp(i * std::log(y) - y - std::lgamma(static_cast<long double>(i) + 1));
  return s;
}
long double q_half(int n, long double y) {  // Q(n + 1/2, y) = erfc(sqrt y) + e^-y sum_{i=1..n} y^(i-1/2) / Gamma(i+1/2)
  long double s = std::erfc(std::sqrt(y));
  for (int i = 1; i <= n; ++i)
    s += std::exp((i - 0.5L) * std::log(y) - y - std::lgamma(static_cast<long double>(i) + 0.5L));
  return s;
}

double gumbel_score(double log_w, std::uint32_t word) {  // as docs/semantics.md describes the GPU
  const double u = (static_cast<double>(word >> 8) + 0.5) * 0x1p-24;
  const double exp_variate = -std::log(u);
  return static_cast<double>(static_cast<float>(log_w) - static_cast<float>(std::log(exp_variate)));
}

}  // namespace

// ---- Philox ------------------------------------------------------------------------------------

TEST_CASE("philox4x32_10 reproduces the Random123 known-answer vectors", "[sample_ref]") {
  // Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4] key[2] -> result[4].
  struct Kat {
    std::array<std::uint32_t, 4> ctr;
    std::array<std::uint32_t, 2> key;
    std::array<std::uint32_t, 4> out;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       {0xffffffffu, 0xffffffffu},
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       {0xa4093822u, 0x299f31d0u},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) CHECK(ref::philox4x32_10(k.ctr, k.key) == k.out);
}

TEST_CASE("noise_word uses counter {index, 0, offset lo, offset hi} and key {seed lo, seed hi}", "[sample_ref]") {
  const std::uint64_t seeds[] = {0, 1, 0x123456789abcdef0ull, 0xffffffffffffffffull};
  const std::uint64_t offsets[] = {0, 7, 0x1'0000'0000ull, 0xfedcba9876543210ull};
  const std::uint32_t indices[] = {0, 1, 151935, 0xffffffffu};
  for (auto s : seeds)
    for (auto o : offsets)
      for (auto i : indices) {
        const auto full = ref::philox4x32_10({i, 0u, static_cast<std::uint32_t>(o), static_cast<std::uint32_t>(o >> 32)},
                                             {static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(s >> 32)});
        CHECK(ref::noise_word(s, o, i) == full[0]);
      }
  // The all-zero known answer is word 0 of counter 0, key 0.
  CHECK(ref::noise_word(0, 0, 0) == 0x6627e8d5u);
}

TEST_CASE("noise_word depends on every bit group of seed, offset and index", "[sample_ref]") {
  const std::uint64_t s = 0x0123456789abcdefull, o = 0x0fedcba987654321ull;
  const std::uint32_t i = 12345;
  const std::uint32_t base = ref::noise_word(s, o, i);
  CHECK(ref::noise_word(s ^ 1u, o, i) != base);
  CHECK(ref::noise_word(s ^ (1ull << 40), o, i) != base);
  CHECK(ref::noise_word(s, o ^ 1u, i) != base);
  CHECK(ref::noise_word(s, o ^ (1ull << 40), i) != base);
  CHECK(ref::noise_word(s, o, i ^ 1u) != base);
  CHECK(ref::noise_word(s, o, i ^ 0x80000000u) != base);
  // Swapping the roles of seed and offset, or of the two halves, gives other words.
  CHECK(ref::noise_word(o, s, i) != base);
  CHECK(ref::noise_word((s << 32) | (s >> 32), o, i) != base);
  // Same inputs, same word (a pure function).
  CHECK(ref::noise_word(s, o, i) == base);
}

TEST_CASE("noise words are uniform (top byte, chi-square)", "[sample_ref]") {
  std::vector<double> bins(256, 0.0);
  const int draws = 1 << 16;
  for (int d = 0; d < draws; ++d) bins[ref::noise_word(42, static_cast<std::uint64_t>(d / 64), static_cast<std::uint32_t>(d % 64)) >> 24] += 1;
  double stat = 0;
  const double expect = draws / 256.0;
  for (double c : bins) stat += (c - expect) * (c - expect) / expect;
  CHECK(ref::chi_square_p_value(stat, 255) > 1e-4);
}

// ---- sample_row: hand examples ---------------------------------------------------------------

TEST_CASE("greedy temperatures pick rank 0 and ignore top-k, top-p and min-p", "[sample_ref]") {
  const SRow row = make_f32({1.0f, 3.0f, kNaNF, 3.0f, -kInfF, 2.0f});
  for (float t : {0.0f, -0.0f, -1.0f, kNaNF, -kInfF}) {
    INFO("T = " << t);
    for (float min_p : {0.0f, 0.5f, 2.0f}) {
      const auto r = sample(row, t, 3, 0.1f, min_p);
      CHECK(r.valid);
      CHECK(r.greedy);
      CHECK(r.order == std::vector<std::int64_t>{1, 3, 5, 0});
      CHECK(r.kept == 1);
      CHECK(kept_tokens(r) == std::vector<std::int64_t>{1});  // tie 3.0 at 1 and 3: lowest index
      CHECK(r.prob == std::vector<double>{1.0});
      CHECK(r.log_z == 0.0);
      CHECK(r.log_prob_full == std::vector<double>{0.0});
    }
  }
  // The smallest positive temperature samples (not greedy).
  const auto tiny = sample(row, std::numeric_limits<float>::denorm_min());
  CHECK_FALSE(tiny.greedy);
  CHECK(tiny.kept == 4);
  CHECK(tiny.prob[0] == Approx(0.5));  // the two tied maxima share the mass
  CHECK(tiny.prob[1] == Approx(0.5));
  CHECK(tiny.prob[2] == 0.0);
}

TEST_CASE("temperature changes the top-p kept set", "[sample_ref]") {
  const SRow row = make_f32({3.0f, 3.0f, 0.0f, 0.0f, 0.0f});
  // T = 1: w = 1, 1, e^-3 x3; ahead at rank 2 = 2 / (2 + 3e^-3) = 0.93 >= 0.9: two kept.
  const auto cold = sample(row, 1.0f, 0, 0.9f);
  CHECK(cold.kept == 2);
  // T = 5: w = 1, 1, e^-0.6 x3; ahead at ranks 2..4 = 0.55, 0.70, 0.85 < 0.9: all five kept.
  const double w5 = std::exp(-0.6), s5 = 2.0 + 3.0 * w5;
  REQUIRE((2.0 + 2.0 * w5) / s5 < 0.9);
  const auto hot = sample(row, 5.0f, 0, 0.9f);
  CHECK(hot.kept == 5);
  CHECK(hot.log_z == 0.0);
  CHECK(hot.prob[2] == Approx(w5 / s5).epsilon(1e-14));
  // At T = 1 the kept set is exactly truncation's.
  const auto trunc = ref::truncate_row(row.dtype, row.data(), row.vocab(), ref::RowParams{0, 0.9f});
  CHECK(trunc.kept == cold.kept);
  // Truncation ignores temperature, so it keeps 2 where the sampler at T = 5 keeps 5.
  CHECK(trunc.kept != hot.kept);
}

TEST_CASE("top-p renormalizes over the top-k survivors", "[sample_ref]") {
  // w = 1, e^-1, e^-2, e^-3 at T = 1. Over all four, ahead at rank 2 = (1 + e^-1) / S4 = 0.881 < 0.89;
  // over the top-3 survivors it is (1 + e^-1) / S3 = 0.910 >= 0.89.
  const SRow row = make_f32({0.0f, -1.0f, -2.0f, -3.0f});
  const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), e3 = std::exp(-3.0);
  REQUIRE((1 + e1) / (1 + e1 + e2 + e3) < 0.89);
  REQUIRE((1 + e1) / (1 + e1 + e2) >= 0.89);
  REQUIRE((1 + e1 + e2) / (1 + e1 + e2 + e3) >= 0.89);
  CHECK(sample(row, 1.0f, 0, 0.89f).kept == 3);
  CHECK(sample(row, 1.0f, 3, 0.89f).kept == 2);
  CHECK(sample(row, 1.0f, 4, 0.89f).kept == 3);  // k >= V: off
}

TEST_CASE("min-p keeps tokens with w >= min_p of the post-temperature softmax", "[sample_ref]") {
  const SRow row = make_f32({-1.0f, 0.0f, -0.5f, -2.0f, -3.0f});  // ranks: 1, 2, 0, 3, 4
  // T = 1: w = 1, 0.607, 0.368, 0.135, 0.050.
  CHECK(kept_tokens(sample(row, 1.0f, 0, 1.0f, 0.3f)) == std::vector<std::int64_t>{1, 2, 0});
  CHECK(sample(row, 1.0f, 0, 1.0f, 0.1f).kept == 4);
  // The boundary is w >= min_p exactly: the floats either side of e^-1 (token 0's weight).
  const double e1 = std::exp(-1.0);
  float below = static_cast<float>(e1);
  if (static_cast<double>(below) > e1) below = std::nextafter(below, 0.0f);
  const float above = std::nextafter(below, 1.0f);
  REQUIRE(static_cast<double>(below) < e1);
  REQUIRE(static_cast<double>(above) > e1);
  CHECK(sample(row, 1.0f, 0, 1.0f, below).kept == 3);
  CHECK(sample(row, 1.0f, 0, 1.0f, above).kept == 2);
  // T = 2: w = 1, 0.779, 0.607, 0.368, 0.223: min_p 0.3 keeps four.
  CHECK(sample(row, 2.0f, 0, 1.0f, 0.3f).kept == 4);
  // min_p = 1 keeps only w == 1; min_p > 1 keeps rank 0 alone.
  CHECK(sample(row, 1.0f, 0, 1.0f, 1.0f).kept == 1);
  CHECK(sample(row, 1.0f, 0, 1.0f, 1.5f).kept == 1);
  CHECK(sample(row, 1.0f, 0, 1.0f, kInfF).kept == 1);
  // Off: 0, negative, NaN.
  for (float off : {0.0f, -0.0f, -0.5f, kNaNF, -kInfF}) CHECK(sample(row, 1.0f, 0, 1.0f, off).kept == 5);
  // min-p runs after top-k and top-p, and thresholds against the global maximum.
  CHECK(sample(row, 1.0f, 2, 1.0f, 0.1f).kept == 2);
  // top-p: ahead at rank 1 = 1 / 2.16 = 0.463, at rank 2 = 0.744. p = 0.5 keeps two, p = 0.45 one.
  CHECK(sample(row, 1.0f, 0, 0.5f, 0.1f).kept == 2);
  CHECK(sample(row, 1.0f, 0, 0.45f, 0.1f).kept == 1);
  CHECK(sample(row, 1.0f, 0, 0.5f, 0.7f).kept == 1);  // then min-p cuts rank 1 (w = 0.607)
}

TEST_CASE("min-p keeps ties at the maximum when min_p = 1", "[sample_ref]") {
  const SRow row = make_f32({2.0f, 1.0f, 2.0f, 2.0f});
  CHECK(kept_tokens(sample(row, 0.7f, 0, 1.0f, 1.0f)) == std::vector<std::int64_t>{0, 2, 3});
  CHECK(kept_tokens(sample(row, 0.7f, 0, 1.0f, 1.0000001f)) == std::vector<std::int64_t>{0});
}

TEST_CASE("probabilities, log_z and log_prob_full by hand", "[sample_ref]") {
  const SRow row = make_f32({-2.0f, 0.0f, -1.0f, kNaNF});
  const double e1 = std::exp(-0.5), e2 = std::exp(-1.0);  // T = 2
  const double s_all = 1 + e1 + e2, s_kept = 1 + e1;
  const auto r = sample(row, 2.0f, 2);
  REQUIRE(r.valid);
  CHECK_FALSE(r.greedy);
  CHECK(r.order == std::vector<std::int64_t>{1, 2, 0});
  REQUIRE(r.kept == 2);
  CHECK(r.prob[0] == Approx(1 / s_kept).epsilon(1e-14));
  CHECK(r.prob[1] == Approx(e1 / s_kept).epsilon(1e-14));
  CHECK(r.prob[0] + r.prob[1] == Approx(1.0).epsilon(1e-15));
  CHECK(r.log_z == Approx(std::log(s_kept / s_all)).epsilon(1e-14));
  CHECK(r.log_z < 0.0);
  CHECK(r.log_prob_full[0] == Approx(-std::log(s_all)).epsilon(1e-14));
  CHECK(r.log_prob_full[1] == Approx(-0.5 - std::log(s_all)).epsilon(1e-14));
  // log_prob_full - log_z is the renormalized log prob.
  CHECK(r.log_prob_full[1] - r.log_z == Approx(std::log(r.prob[1])).epsilon(1e-14));
  // Nothing dropped: log_z is exactly 0.
  CHECK(sample(row, 2.0f).log_z == 0.0);
}

TEST_CASE("+inf logits share the mass whatever the temperature", "[sample_ref]") {
  const SRow row = make_f32({kInfF, 1.0f, kInfF, 0.0f, kNaNF});
  for (float t : {1.0f, 0.25f, 7.0f, kInfF}) {
    INFO("T = " << t);
    const auto all = sample(row, t);
    CHECK(all.order == std::vector<std::int64_t>{0, 2, 1, 3});
    REQUIRE(all.kept == 4);
    CHECK(all.prob == std::vector<double>{0.5, 0.5, 0.0, 0.0});
    CHECK(all.log_z == 0.0);
    CHECK(all.log_prob_full[0] == Approx(std::log(0.5)).epsilon(1e-15));
    CHECK(all.log_prob_full[1] == Approx(std::log(0.5)).epsilon(1e-15));
    CHECK(all.log_prob_full[2] == -kInf);
    CHECK(all.log_prob_full[3] == -kInf);
    const auto k1 = sample(row, t, 1);
    CHECK(k1.kept == 1);
    CHECK(k1.prob == std::vector<double>{1.0});
    CHECK(k1.log_z == Approx(std::log(0.5)).epsilon(1e-15));
    CHECK(sample(row, t, 0, 0.5f).kept == 1);   // ahead at rank 1 is exactly 0.5
    CHECK(sample(row, t, 0, 0.6f).kept == 2);   // ahead at rank 2 is 1
    CHECK(sample(row, t, 0, 1.0f, 0.5f).kept == 2);
    CHECK(sample(row, t, 0, 1.0f, 1e-30f).kept == 2);  // finite tokens weigh 0
    CHECK(sample(row, t, 0, 1.0f, 1.5f).kept == 1);
  }
  CHECK(sample(row, 0.0f).order[0] == 0);
}

TEST_CASE("rows without candidates are invalid", "[sample_ref]") {
  const SRow f32 = make_f32({kNaNF, -kInfF, kNaNF});
  const SRow bf16 = make_16(DType::BF16, {0xFF80u, 0x7FC0u});
  const SRow f16 = make_16(DType::F16, {0xFC00u});
  for (const SRow* row : {&f32, &bf16, &f16})
    for (float t : {1.0f, 0.0f, kInfF}) {
      const auto r = sample(*row, t, 2, 0.5f, 0.1f);
      CHECK_FALSE(r.valid);
      CHECK(r.kept == 0);
      CHECK(r.order.empty());
      CHECK(r.prob.empty());
      CHECK(r.log_prob_full.empty());
    }
}

TEST_CASE("T = +inf samples uniformly over the kept set", "[sample_ref]") {
  const SRow row = make_f32({5.0f, -3.0f, 100.0f, kNaNF, 0.0f, -0.0f});
  const auto r = sample(row, kInfF);
  CHECK_FALSE(r.greedy);
  CHECK(r.order == std::vector<std::int64_t>{2, 0, 4, 5, 1});
  REQUIRE(r.kept == 5);
  for (double p : r.prob) CHECK(p == Approx(0.2).epsilon(1e-15));
  for (double l : r.log_prob_full) CHECK(l == Approx(std::log(0.2)).epsilon(1e-15));
  CHECK(r.log_z == 0.0);
  const auto k2 = sample(row, kInfF, 2);
  CHECK(k2.prob == std::vector<double>{0.5, 0.5});
  CHECK(k2.log_z == Approx(std::log(0.4)).epsilon(1e-15));
  // ahead = 0.2, 0.4, 0.6, ...; p is compared as its exact fp32 value, and 0.4f > 0.4.
  REQUIRE(static_cast<double>(0.4f) > 0.4);
  CHECK(sample(row, kInfF, 0, 0.4f).kept == 3);
  CHECK(sample(row, kInfF, 0, std::nextafter(0.4f, 0.0f)).kept == 2);
  CHECK(sample(row, kInfF, 0, 1.0f, 1.0f).kept == 5);  // every w is 1
}

TEST_CASE("sample_row rejects bad arguments", "[sample_ref]") {
  const float one = 1.0f;
  CHECK_THROWS_AS(ref::sample_row(DType::F32, &one, 0, {}), samplejit::Error);
  CHECK_THROWS_AS(ref::sample_row(DType::F32, nullptr, 1, {}), samplejit::Error);
  CHECK_THROWS_AS(ref::sample_row(static_cast<DType>(9), &one, 1, {}), samplejit::Error);
}

// ---- sample_row: brute force -------------------------------------------------------------------

TEST_CASE("sample_row agrees with a brute-force definition on random rows", "[sample_ref]") {
  std::mt19937_64 rng(20240611);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const float temps[] = {0.0f, -1.0f, kNaNF, 1e-3f, 0.25f, 0.5f, 1.0f, 1.0f, 2.0f, 5.0f, 1e4f, kInfF};
  const float ps[] = {1.0f, 1.0f, 0.9f, 0.5f, 0.25f, 0.75f, 0.3f, 0.99f, 0.0f, -0.0f, kNaNF, 2.0f};
  const float min_ps[] = {0.0f, 0.0f, kNaNF, -1.0f, 0.01f, 0.1f, 0.3f, 0.5f, 1.0f, 1.5f, 1e-30f};
  int ambiguous = 0, sampled = 0, trimmed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    const DType dtype = std::array<DType, 3>{DType::F32, DType::F16, DType::BF16}[static_cast<std::size_t>(uni(0, 2))];
    const int V = uni(1, 40);
    const bool with_inf = chance(0.2);
    // A pool of values per row makes ties common.
    std::vector<std::uint32_t> pool;  // f32 bits, or 16-bit patterns
    const int pool_size = uni(1, 6);
    for (int q = 0; q < pool_size; ++q) {
      const int k8 = uni(-64, 64);
      const float eighths = static_cast<float>(k8) / 8.0f;
      if (dtype == DType::F32) {
        float f = chance(0.5) ? eighths : static_cast<float>(std::normal_distribution<double>(0, 4)(rng));
        std::uint32_t bits = 0;
        std::memcpy(&bits, &f, 4);
        pool.push_back(bits);
      } else if (chance(0.15)) {
        pool.push_back(static_cast<std::uint32_t>(uni(0, 0xFFFF)));  // anything: NaN, inf, subnormal, huge
      } else {
        pool.push_back(dtype == DType::F16 ? f16_eighths(k8) : bf16_of(eighths));
      }
    }
    const std::uint32_t nan_bits = dtype == DType::F32 ? 0x7FC00000u : dtype == DType::F16 ? 0x7E00u : 0x7FC0u;
    const std::uint32_t inf_bits = dtype == DType::F32 ? 0x7F800000u : dtype == DType::F16 ? 0x7C00u : 0x7F80u;
    const std::uint32_t neg_inf = ref::neg_inf_bits(dtype);
    const std::uint32_t neg_zero = dtype == DType::F32 ? 0x80000000u : 0x8000u;
    std::vector<std::uint32_t> bits(static_cast<std::size_t>(V));
    for (auto& b : bits) {
      const int r = uni(0, 99);
      b = r < 8 ? nan_bits : r < 16 ? neg_inf : (r < 20 && with_inf) ? inf_bits : r < 23 ? neg_zero
                                                                       : pool[static_cast<std::size_t>(uni(0, pool_size - 1))];
    }
    SRow row;
    if (dtype == DType::F32) {
      row = SRow{dtype, std::vector<unsigned char>(bits.size() * 4)};
      std::memcpy(row.bytes.data(), bits.data(), row.bytes.size());
    } else {
      std::vector<std::uint16_t> h(bits.size());
      for (std::size_t i = 0; i < bits.size(); ++i) h[i] = static_cast<std::uint16_t>(bits[i]);
      row = make_16(dtype, h);
    }
    const std::int32_t ks[] = {0, -1, 1, 2, 3, 5, V, V + 1, uni(1, V)};
    ref::SampleParams sp;
    sp.temperature = temps[uni(0, 11)];
    sp.top_k = ks[uni(0, 8)];
    sp.top_p = ps[uni(0, 11)];
    sp.min_p = min_ps[uni(0, 10)];

    const auto got = ref::sample_row(row.dtype, row.data(), row.vocab(), sp);
    const Brute b = brute_force(row, sp);
    INFO(describe(row, sp));
    CHECK(got.valid == b.base.valid);
    CHECK(got.greedy == b.base.greedy);
    CHECK(got.order == b.base.order);
    if (b.top_p_cuts.size() > 1) ++ambiguous;
    // Pick the brute-force answer for the top-p cut the reference took (any allowed cut).
    bool matched = false;
    Expected want;
    const std::vector<std::int64_t> cuts = b.sampling ? b.top_p_cuts : std::vector<std::int64_t>{0};
    for (auto cut : cuts) {
      want = finish(b, cut);
      if (want.kept == got.kept) {
        matched = true;
        break;
      }
    }
    REQUIRE(matched);
    if (b.sampling) ++sampled;
    if (got.valid && got.kept < static_cast<std::int64_t>(got.order.size())) ++trimmed;
    REQUIRE(got.prob.size() == want.prob.size());
    REQUIRE(got.log_prob_full.size() == want.log_prob_full.size());
    double sum = 0;
    for (std::size_t j = 0; j < want.prob.size(); ++j) {
      CHECK(near(got.prob[j], want.prob[j], 1e-12L));
      CHECK(near(got.log_prob_full[j], want.log_prob_full[j], 1e-12L));
      CHECK(got.prob[j] >= 0.0);
      sum += got.prob[j];
    }
    if (got.valid) CHECK(sum == Approx(1.0).margin(1e-12));
    CHECK(near(got.log_z, want.log_z, 1e-12L));
    CHECK(got.log_z <= 0.0);
  }
  // The generator reaches the interesting cases.
  CHECK(sampled > 1000);
  CHECK(trimmed > 500);
  CHECK(ambiguous < 5);
}

// ---- the documented Gumbel-max draw realizes prob ------------------------------------------------

TEST_CASE("Gumbel-max over noise_word samples the kept distribution", "[sample_ref]") {
  const SRow row = make_f32({1.0f, 0.5f, 0.0f, -1.0f, 2.0f, kNaNF, -kInfF, 0.25f, -4.0f, 1.5f});
  const auto r = sample(row, 0.8f, 7, 0.97f, 0.02f);
  REQUIRE(r.kept >= 5);
  const auto kept = static_cast<std::size_t>(r.kept);
  // log w per kept rank, as the kernel sees it.
  std::vector<double> log_w(kept);
  const double zmax = 2.0 / 0.8;
  for (std::size_t j = 0; j < kept; ++j) log_w[j] = static_cast<double>(ref::load_logit(row.dtype, row.data(), r.order[j])) / 0.8 - zmax;
  const int draws = 40000;
  const std::uint64_t seed = 0x5eedull;
  std::vector<double> hist(kept, 0.0);
  for (int d = 0; d < draws; ++d) {
    std::size_t best = 0;
    double best_score = -kInf;
    for (std::size_t j = 0; j < kept; ++j) {
      const auto token = static_cast<std::uint32_t>(r.order[j]);
      const double score = gumbel_score(log_w[j], ref::noise_word(seed, static_cast<std::uint64_t>(d), token));
      if (score > best_score || (score == best_score && r.order[j] < r.order[best])) {
        best = j;
        best_score = score;
      }
    }
    hist[best] += 1;
  }
  auto p_value = [&](const std::vector<double>& expected_prob) {
    double stat = 0;
    for (std::size_t j = 0; j < kept; ++j) {
      const double e = draws * expected_prob[j];
      stat += (hist[j] - e) * (hist[j] - e) / e;
    }
    return ref::chi_square_p_value(stat, static_cast<double>(kept - 1));
  };
  CHECK(p_value(r.prob) > 1e-4);
  // The test has power: the untempered (T = 1) distribution is rejected.
  const auto t1 = sample(row, 1.0f, 7, 0.97f, 0.02f);
  REQUIRE(t1.kept == r.kept);
  CHECK(p_value(t1.prob) < 1e-6);
}

// ---- chi-square ----------------------------------------------------------------------------------

TEST_CASE("chi_square_p_value matches known quantiles", "[sample_ref]") {
  CHECK(ref::chi_square_p_value(3.841458820694124, 1) == Approx(0.05).epsilon(1e-10));
  CHECK(ref::chi_square_p_value(18.307038053275146, 10) == Approx(0.05).epsilon(1e-10));
  CHECK(ref::chi_square_p_value(124.34211340400407, 100) == Approx(0.05).epsilon(1e-10));
  CHECK(ref::chi_square_p_value(2 * std::log(1000.0), 2) == Approx(1e-3).epsilon(1e-12));
}

TEST_CASE("chi_square_p_value matches closed forms", "[sample_ref]") {
  // dof 2: Q = exp(-x/2). dof 1: Q = erfc(sqrt(x/2)).
  for (double x : {1e-8, 1e-3, 0.5, 1.0, 1.9, 2.0, 2.1, 3.0, 10.0, 50.0, 200.0, 1000.0}) {
    INFO("x = " << x);
    CHECK(ref::chi_square_p_value(x, 2) == Approx(std::exp(-x / 2)).epsilon(1e-12));
    CHECK(ref::chi_square_p_value(x, 1) == Approx(std::erfc(std::sqrt(x / 2))).epsilon(1e-11));
  }
  // Integer and half-integer a = dof/2 up to dof 10001, around the bulk and into both tails.
  for (int dof : {3, 4, 7, 10, 31, 64, 99, 255, 1000, 1001, 4095, 9999, 10000, 10001}) {
    for (double c : {-5.0, -3.0, -1.0, -0.1, 0.0, 0.3, 1.0, 3.0, 6.0, 10.0}) {
      const double x = dof + c * std::sqrt(2.0 * dof);
      if (x <= 0) continue;
      const long double y = x / 2.0L;
      const long double want = dof % 2 == 0 ? q_integer(dof / 2, y) : q_half(dof / 2, y);
      const double got = ref::chi_square_p_value(x, dof);
      INFO("dof " << dof << " x " << x << " want " << static_cast<double>(want) << " got " << got);
      CHECK(std::fabs(static_cast<long double>(got) - want) <= 1e-10L * want);
    }
  }
}

TEST_CASE("chi_square_p_value edges and arguments", "[sample_ref]") {
  CHECK(ref::chi_square_p_value(0.0, 5) == 1.0);
  CHECK(ref::chi_square_p_value(-3.0, 5) == 1.0);
  CHECK(ref::chi_square_p_value(kInf, 5) == 0.0);
  CHECK(ref::chi_square_p_value(1e6, 5) == 0.0);  // underflows
  double prev = 1.0;
  for (double x = 0.5; x < 60; x += 0.5) {
    const double q = ref::chi_square_p_value(x, 20);
    CHECK(q < prev);
    prev = q;
  }
  CHECK_THROWS_AS(ref::chi_square_p_value(1.0, 0.0), samplejit::Error);
  CHECK_THROWS_AS(ref::chi_square_p_value(1.0, -1.0), samplejit::Error);
  CHECK_THROWS_AS(ref::chi_square_p_value(1.0, std::nan("")), samplejit::Error);
  CHECK_THROWS_AS(ref::chi_square_p_value(1.0, kInf), samplejit::Error);
  CHECK_THROWS_AS(ref::chi_square_p_value(std::nan(""), 3.0), samplejit::Error);
}
