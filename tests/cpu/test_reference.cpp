// Tests of the CPU reference (src/reference.cpp) against docs/semantics.md.
#include <catch2/catch.hpp>

#include <algorithm>
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

namespace {

using samplejit::DType;
namespace ref = samplejit::ref;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One row of raw logits; 16-bit dtypes hold bit patterns.
struct Row {
  DType dtype = DType::F32;
  std::vector<unsigned char> bytes;
  std::int64_t vocab() const {
    return static_cast<std::int64_t>(bytes.size() / (dtype == DType::F32 ? 4 : 2));
  }
  const void* data() const { return bytes.data(); }
};

Row f32_row(const std::vector<float>& values) {
  Row r{DType::F32, std::vector<unsigned char>(values.size() * 4)};
  std::memcpy(r.bytes.data(), values.data(), r.bytes.size());
  return r;
}

Row bits16_row(DType dtype, const std::vector<std::uint16_t>& bits) {
  Row r{dtype, std::vector<unsigned char>(bits.size() * 2)};
  std::memcpy(r.bytes.data(), bits.data(), r.bytes.size());
  return r;
}

std::uint32_t f32_bits(float f) {
  std::uint32_t b = 0;
  std::memcpy(&b, &f, 4);
  return b;
}

// Independent decoders (not the library's) for the brute force.
double decode_f16_test(std::uint16_t h) {
#if defined(__FLT16_MAX__)
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return static_cast<double>(v);
#else
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  const int e = (h >> 10) & 31, m = h & 1023;
  if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  if (e == 0) return sign * std::pow(2.0, -14) * (m / 1024.0);
  return sign * std::pow(2.0, e - 15) * (1.0 + m / 1024.0);
#endif
}

double decode_test(const Row& row, std::int64_t i) {
  if (row.dtype == DType::F32) {
    float f;
    std::memcpy(&f, row.bytes.data() + 4 * i, 4);
    return f;
  }
  std::uint16_t h;
  std::memcpy(&h, row.bytes.data() + 2 * i, 2);
  if (row.dtype == DType::F16) return decode_f16_test(h);
  const std::uint32_t wide = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &wide, 4);
  return f;
}

// Indices kept by the reference, in increasing index order.
std::vector<std::int64_t> kept_set(const Row& row, ref::RowParams params) {
  const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), params);
  const auto flags = ref::keep_flags(r, row.vocab());
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < row.vocab(); ++i)
    if (flags[i]) out.push_back(i);
  return out;
}

using Set = std::vector<std::int64_t>;

// The contract, written the slow and obvious way.
struct Brute {
  std::vector<int> kept;        // 0/1 per token
  std::vector<int> ambiguous;   // top-p boundary within 1e-12: either answer accepted
  std::vector<std::int64_t> rank;  // -1 for non-candidates
  std::vector<long double> mass_ahead;  // per token, survivors only
  std::int64_t candidates = 0, survivors = 0;
  bool top_k_on = false, top_p_on = false;
};

Brute brute_force(const std::vector<double>& x, std::int32_t k, float p) {
  const auto V = static_cast<std::int64_t>(x.size());
  Brute b;
  b.kept.assign(x.size(), 0);
  b.ambiguous.assign(x.size(), 0);
  b.rank.assign(x.size(), -1);
  b.mass_ahead.assign(x.size(), 0.0L);
  auto cand = [&](std::int64_t i) { return !std::isnan(x[i]) && !(std::isinf(x[i]) && x[i] < 0); };
  for (std::int64_t i = 0; i < V; ++i) {
    if (!cand(i)) continue;
    ++b.candidates;
    std::int64_t above = 0;
    for (std::int64_t c = 0; c < V; ++c)
      if (cand(c) && (x[c] > x[i] || (x[c] == x[i] && c < i))) ++above;
    b.rank[i] = above;
  }
  b.top_k_on = k > 0 && k < V;
  b.top_p_on = p < 1.0f;
  std::vector<int> survivor(x.size(), 0);
  long double m = -std::numeric_limits<long double>::infinity();
  for (std::int64_t i = 0; i < V; ++i) {
    survivor[i] = b.rank[i] >= 0 && (!b.top_k_on || b.rank[i] < k);
    if (survivor[i]) {
      ++b.survivors;
      m = std::max(m, static_cast<long double>(x[i]));
    }
  }
  std::vector<long double> mass(x.size(), 0.0L);
  if (b.survivors > 0) {
    if (std::isinf(m)) {
      long double infinite = 0;
      for (std::int64_t i = 0; i < V; ++i) infinite += survivor[i] && std::isinf(x[i]);
      for (std::int64_t i = 0; i < V; ++i) mass[i] = survivor[i] && std::isinf(x[i]) ? 1.0L / infinite : 0.0L;
    } else {
      long double S = 0;
      for (std::int64_t i = 0; i < V; ++i)
        if (survivor[i]) S += std::exp(static_cast<long double>(x[i]) - m);
      for (std::int64_t i = 0; i < V; ++i)
        if (survivor[i]) mass[i] = std::exp(static_cast<long double>(x[i]) - m) / S;
    }
  }
  for (std::int64_t i = 0; i < V; ++i) {
    if (!survivor[i]) continue;
    long double ahead = 0;
    for (std::int64_t c = 0; c < V; ++c)
      if (survivor[c] && b.rank[c] < b.rank[i]) ahead += mass[c];
    b.mass_ahead[i] = ahead;
    const long double lp = p;
    b.kept[i] = !b.top_p_on || b.rank[i] == 0 || ahead < lp;
    b.ambiguous[i] = b.top_p_on && b.rank[i] > 0 && std::fabs(ahead - lp) <= 1e-12L;
  }
  return b;
}

std::string describe(const Row& row, const std::vector<double>& x, std::int32_t k, float p) {
  std::ostringstream os;
  os.precision(17);
  os << samplejit::to_string(row.dtype) << " V " << row.vocab() << " k " << k << " p " << p << " x [";
  for (double v : x) os << ' ' << v;
  os << " ]";
  return os.str();
}

}  // namespace

TEST_CASE("the CPU reference agrees with a brute-force definition", "[reference]") {
  std::mt19937_64 rng(0x5A3E1F00C0FFEEull);
  auto below = [&](std::uint64_t n) { return static_cast<std::int64_t>(rng() % n); };
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);

  // Tiny value set {-1, -0, +0, 0.5, 1, 2} for exact ties.
  const std::vector<float> tiny_f = {-1.0f, -0.0f, 0.0f, 0.5f, 1.0f, 2.0f};
  const std::vector<std::uint16_t> tiny_h = {0xBC00, 0x8000, 0x0000, 0x3800, 0x3C00, 0x4000};
  const std::vector<std::uint32_t> special32 = {0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x7F800000u,
                                                0xFF800000u, 0x80000000u, 0x00000000u, 0x00000001u};
  const std::vector<std::uint16_t> special_h = {0x7E00, 0xFC01, 0x7C01, 0x7C00, 0xFC00, 0x8000, 0x0000, 0x0001};
  const std::vector<std::uint16_t> special_b = {0x7FC0, 0xFF81, 0x7F81, 0x7F80, 0xFF80, 0x8000, 0x0000, 0x0001};

  const int kRows = 30000;
  int failures = 0, top_p_cut = 0, top_k_cut = 0, ambiguous_rows = 0, empty_rows = 0, inf_top_rows = 0;
  for (int iter = 0; iter < kRows; ++iter) {
    const DType dtype = static_cast<DType>(below(3));
    const std::int64_t V = 1 + below(64);
    const int mode = static_cast<int>(below(7));
    std::vector<std::uint32_t> bits(static_cast<std::size_t>(V));
    for (auto& w : bits) {
      int m = mode;
      if (mode >= 4 && below(100) < 20) m = 9;  // specials sprinkled in
      if (mode == 3) m = 8;                     // no candidate at all (usually)
      std::uint32_t f = 0;
      switch (m) {
        case 0:
        case 4: {  // tiny set
          const auto t = below(6);
          f = dtype == DType::F16 ? tiny_h[t] : f32_bits(tiny_f[t]) >> (dtype == DType::BF16 ? 16 : 0);
          break;
        }
        case 1:
        case 5: {  // moderate spread, so top-p boundaries fall everywhere
          if (dtype == DType::F16)
            f = static_cast<std::uint32_t>((below(2) << 15) | ((10 + below(9)) << 10) | below(1024));
          else
            f = f32_bits(normal(rng)) >> (dtype == DType::BF16 ? 16 : 0);
          break;
        }
        case 2:
        case 6:  // arbitrary bit patterns: huge, subnormal, NaN, inf
          f = static_cast<std::uint32_t>(rng()) >> (dtype == DType::F32 ? 0 : 16);
          break;
        case 8: {  // NaN / -inf only (rarely one candidate)
          const auto t = below(40) == 0 ? below(8) : (below(2) ? 4 : below(3));
          f = dtype == DType::F32 ? special32[t] : dtype == DType::F16 ? special_h[t] : special_b[t];
          break;
        }
        default: {
          const auto t = below(8);
          f = dtype == DType::F32 ? special32[t] : dtype == DType::F16 ? special_h[t] : special_b[t];
        }
      }
      w = f;
    }
    Row row;
    if (dtype == DType::F32) {
      row.dtype = dtype;
      row.bytes.resize(bits.size() * 4);
      std::memcpy(row.bytes.data(), bits.data(), row.bytes.size());
    } else {
      std::vector<std::uint16_t> h(bits.size());
      for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint16_t>(bits[i]);
      row = bits16_row(dtype, h);
    }

    const std::int32_t ks[] = {-1, 0, 1, 2, static_cast<std::int32_t>(V - 1), static_cast<std::int32_t>(V),
                               static_cast<std::int32_t>(V + 5), static_cast<std::int32_t>(1 + below(V))};
    const float ps[] = {kNaN, -kInf, -1.0f, 0.0f, 1e-9f, 0.3f, 0.5f, 0.9f, 0.999999f, 1.0f, 2.0f, unit(rng)};
    const std::int32_t k = ks[below(8)];
    const float p = ps[below(12)];

    std::vector<double> x(static_cast<std::size_t>(V));
    for (std::int64_t i = 0; i < V; ++i) x[i] = decode_test(row, i);
    const Brute b = brute_force(x, k, p);
    const auto r = ref::truncate_row(dtype, row.data(), V, {k, p});
    const auto flags = ref::keep_flags(r, V);

    std::string problem;
    if (static_cast<std::int64_t>(r.order.size()) != b.candidates) problem = "candidate count";
    if (r.after_top_k != b.survivors) problem = "after_top_k";
    if (static_cast<std::int64_t>(r.mass_ahead.size()) != r.after_top_k) problem = "mass_ahead size";
    if (r.top_k_on != b.top_k_on || r.top_p_on != b.top_p_on) problem = "on/off flags";
    if (problem.empty()) {
      std::int64_t flag_count = 0;
      for (std::int64_t i = 0; i < V; ++i) {
        flag_count += flags[i];
        if (b.rank[i] >= 0 && r.order[b.rank[i]] != i) problem = "rank of token " + std::to_string(i);
        if (b.rank[i] >= 0 && b.rank[i] < r.after_top_k &&
            std::fabs(static_cast<long double>(r.mass_ahead[b.rank[i]]) - b.mass_ahead[i]) > 1e-12L)
          problem = "mass_ahead of token " + std::to_string(i);
        if (flags[i] != b.kept[i] && !b.ambiguous[i]) problem = "keep flag of token " + std::to_string(i);
      }
      if (flag_count != r.kept) problem = "kept count";
    }
    if (!problem.empty()) {
      if (++failures <= 5) FAIL_CHECK(problem << " differs for " << describe(row, x, k, p));
      continue;
    }
    std::int64_t brute_kept = 0;
    bool any_ambiguous = false;
    for (std::int64_t i = 0; i < V; ++i) {
      brute_kept += b.kept[i];
      any_ambiguous = any_ambiguous || b.ambiguous[i];
    }
    top_p_cut += r.top_p_on && r.kept < r.after_top_k && r.kept > 1;
    top_k_cut += r.top_k_on && r.after_top_k < b.candidates;
    ambiguous_rows += any_ambiguous;
    empty_rows += b.candidates == 0;
    inf_top_rows += !r.order.empty() && std::isinf(x[r.order[0]]) && r.top_p_on && r.after_top_k > 1;
  }
  CHECK(failures == 0);
  // The generator really exercises each regime.
  CHECK(top_p_cut > 1000);
  CHECK(top_k_cut > 1000);
  CHECK(empty_rows > 100);
  CHECK(inf_top_rows > 100);
  CHECK(ambiguous_rows > 0);
}

TEST_CASE("top-k ties at the k-th value keep the lowest indices", "[reference]") {
  const Row row = f32_row({1.0f, 3.0f, 2.0f, 3.0f, 3.0f, 0.0f, -0.0f, 2.0f});
  CHECK(kept_set(row, {1, 1.0f}) == Set{1});
  CHECK(kept_set(row, {2, 1.0f}) == Set{1, 3});
  CHECK(kept_set(row, {3, 1.0f}) == Set{1, 3, 4});
  CHECK(kept_set(row, {4, 1.0f}) == Set{1, 2, 3, 4});
  CHECK(kept_set(row, {6, 1.0f}) == Set{0, 1, 2, 3, 4, 7});
  // +0 (index 5) and -0 (index 6) tie; the lower index wins.
  CHECK(kept_set(row, {7, 1.0f}) == Set{0, 1, 2, 3, 4, 5, 7});
  const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), {3, 1.0f});
  CHECK(r.order == std::vector<std::int64_t>{1, 3, 4, 2, 7, 0, 5, 6});
  CHECK(r.after_top_k == 3);
  CHECK(r.kept == 3);
  CHECK(r.top_k_on);
  CHECK_FALSE(r.top_p_on);
}

TEST_CASE("bf16 rows with many equal values rank by index", "[reference]") {
  // 1.0 = 0x3F80, 2.0 = 0x4000, 1.0078125 = 0x3F81 (the next bf16 after 1.0).
  const Row row = bits16_row(DType::BF16, {0x3F80, 0x3F80, 0x4000, 0x3F80, 0x3F81, 0x3F80, 0x4000, 0x3F80});
  CHECK(kept_set(row, {1, 1.0f}) == Set{2});
  CHECK(kept_set(row, {3, 1.0f}) == Set{2, 4, 6});
  CHECK(kept_set(row, {5, 1.0f}) == Set{0, 1, 2, 4, 6});
  CHECK(kept_set(row, {7, 1.0f}) == Set{0, 1, 2, 3, 4, 5, 6});

  // Eight equal values: each mass 1/8, mass_ahead = j/8. p = 0.3 keeps ranks 0..2 (0.375 >= 0.3).
  const Row flat = bits16_row(DType::BF16, std::vector<std::uint16_t>(8, 0x3F80));
  CHECK(kept_set(flat, {0, 0.3f}) == Set{0, 1, 2});
  CHECK(kept_set(flat, {0, 0.25f}) == Set{0, 1});  // mass_ahead[2] = 0.25 is not < 0.25
  CHECK(kept_set(flat, {4, 0.6f}) == Set{0, 1, 2});  // renormalized over 4 survivors: 0, .25, .5, .75
  const auto r = ref::truncate_row(DType::BF16, flat.data(), 8, {4, 0.6f});
  REQUIRE(r.mass_ahead.size() == 4);
  CHECK(r.mass_ahead[0] == 0.0);
  CHECK(r.mass_ahead[1] == 0.25);
  CHECK(r.mass_ahead[2] == 0.5);
  CHECK(r.mass_ahead[3] == 0.75);
}

TEST_CASE("top-p with p <= 0 keeps exactly the top-ranked token", "[reference]") {
  const Row row = f32_row({0.5f, 4.0f, 4.0f, -1.0f, kNaN});
  for (float p : {0.0f, -0.0f, -1.0f, -kInf, 1e-30f}) {
    INFO("p = " << p);
    CHECK(kept_set(row, {0, p}) == Set{1});
    CHECK(kept_set(row, {3, p}) == Set{1});
  }
  // The two 4.0 tokens each carry mass 1 / (2 + e^-3.5 + e^-5) ~= 0.4909.
  CHECK(kept_set(row, {0, 0.4f}) == Set{1});
  CHECK(kept_set(row, {0, 0.49f}) == Set{1});
  CHECK(kept_set(row, {0, 0.5f}) == Set{1, 2});
  CHECK(kept_set(row, {0, 0.99f}) == Set{0, 1, 2});  // mass_ahead[2] ~= 0.9818
}

TEST_CASE("top-p with NaN or p >= 1 is off", "[reference]") {
  const Row row = f32_row({0.0f, 10.0f, -kInf, 5.0f, kNaN, -3.0f});
  for (float p : {kNaN, 1.0f, 2.0f, kInf}) {
    INFO("p = " << p);
    const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), {0, p});
    CHECK_FALSE(r.top_p_on);
    CHECK(kept_set(row, {0, p}) == Set{0, 1, 3, 5});
    CHECK(kept_set(row, {2, p}) == Set{1, 3});
  }
  // Just below 1 it is on. Masses: token 1 ~= 0.99326, token 3 ~= 0.00669, tokens 0 and 5 ~= 4.7e-5.
  CHECK(ref::truncate_row(row.dtype, row.data(), row.vocab(), {0, 0.99f}).top_p_on);
  CHECK(kept_set(row, {0, 0.99f}) == Set{1});
  CHECK(kept_set(row, {0, 0.9999f}) == Set{1, 3});
}

TEST_CASE("+inf logits share the top-p mass equally", "[reference]") {
  const Row row = f32_row({kInf, 5.0f, kInf, 1.0f, kNaN, -kInf});
  CHECK(kept_set(row, {0, 0.5f}) == Set{0});
  CHECK(kept_set(row, {0, 0.6f}) == Set{0, 2});
  CHECK(kept_set(row, {0, 0.999999f}) == Set{0, 2});  // finite survivors carry no mass
  CHECK(kept_set(row, {0, 1.0f}) == Set{0, 1, 2, 3});
  CHECK(kept_set(row, {3, 1.0f}) == Set{0, 1, 2});
  const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), {0, 0.6f});
  CHECK(r.order == std::vector<std::int64_t>{0, 2, 1, 3});
  CHECK(r.mass_ahead == std::vector<double>{0.0, 0.5, 1.0, 1.0});
  // fp16 +inf behaves the same.
  const Row h = bits16_row(DType::F16, {0x3C00, 0x7C00, 0x7C00, 0x7C00, 0x7BFF});
  CHECK(kept_set(h, {0, 0.3f}) == Set{1});
  CHECK(kept_set(h, {0, 0.4f}) == Set{1, 2});
  CHECK(kept_set(h, {0, 0.9f}) == Set{1, 2, 3});
  CHECK(kept_set(h, {2, 0.9f}) == Set{1, 2});
}

TEST_CASE("rows without candidates keep nothing", "[reference]") {
  const Row nan_row = f32_row({kNaN, kNaN, kNaN});
  const Row mixed = bits16_row(DType::F16, {0xFC00, 0x7E00, 0xFC00, 0xFE01});
  const Row neg_inf = bits16_row(DType::BF16, {0xFF80, 0xFF80});
  for (const Row* row : {&nan_row, &mixed, &neg_inf}) {
    for (ref::RowParams params : {ref::RowParams{0, 1.0f}, ref::RowParams{1, 0.5f}, ref::RowParams{1, -1.0f}}) {
      const auto r = ref::truncate_row(row->dtype, row->data(), row->vocab(), params);
      CHECK(r.order.empty());
      CHECK(r.after_top_k == 0);
      CHECK(r.kept == 0);
      CHECK(r.mass_ahead.empty());
      CHECK(kept_set(*row, params).empty());
    }
  }
  // NaN and -inf never survive, whatever the parameters.
  const Row some = f32_row({kNaN, -kInf, 1.0f, kNaN});
  CHECK(kept_set(some, {0, 1.0f}) == Set{2});
  CHECK(kept_set(some, {3, 1.0f}) == Set{2});
}

TEST_CASE("top-k is off for k <= 0 and for k >= V", "[reference]") {
  const Row row = f32_row({3.0f, 1.0f, 2.0f, kNaN});
  for (std::int32_t k : {0, -1, -1000, 4, 5, 1 << 30}) {
    INFO("k = " << k);
    const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), {k, 1.0f});
    CHECK_FALSE(r.top_k_on);
    CHECK(kept_set(row, {k, 1.0f}) == Set{0, 1, 2});
  }
  // k = 3 = V - 1 is on, and exceeds nothing: all three candidates are kept.
  CHECK(ref::truncate_row(row.dtype, row.data(), row.vocab(), {3, 1.0f}).top_k_on);
  CHECK(kept_set(row, {3, 1.0f}) == Set{0, 1, 2});
  CHECK(kept_set(row, {2, 1.0f}) == Set{0, 2});
}

TEST_CASE("fp16 and bf16 decode exactly, subnormals included", "[reference]") {
  const std::vector<std::uint16_t> h = {0x0001, 0x03FF, 0x8001, 0x0400, 0x7BFF, 0x3C00, 0xC000,
                                        0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555};
  const Row row = bits16_row(DType::F16, h);
  CHECK(ref::load_logit(DType::F16, row.data(), 0) == std::ldexp(1.0, -24));
  CHECK(ref::load_logit(DType::F16, row.data(), 1) == std::ldexp(1023.0, -24));
  CHECK(ref::load_logit(DType::F16, row.data(), 2) == -std::ldexp(1.0, -24));
  CHECK(ref::load_logit(DType::F16, row.data(), 3) == std::ldexp(1.0, -14));
  CHECK(ref::load_logit(DType::F16, row.data(), 4) == 65504.0);
  CHECK(ref::load_logit(DType::F16, row.data(), 5) == 1.0);
  CHECK(ref::load_logit(DType::F16, row.data(), 6) == -2.0);
  CHECK(ref::load_logit(DType::F16, row.data(), 7) == std::numeric_limits<double>::infinity());
  CHECK(ref::load_logit(DType::F16, row.data(), 8) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(ref::load_logit(DType::F16, row.data(), 9)));
  CHECK(ref::load_logit(DType::F16, row.data(), 10) == 0.0);
  CHECK(std::signbit(ref::load_logit(DType::F16, row.data(), 10)));
  CHECK(ref::load_logit(DType::F16, row.data(), 11) == 0.25 + 0x155 * std::ldexp(1.0, -12));

  // Subnormals rank correctly: 2^-23 > 2^-24 > 0 == -0 > -2^-24.
  const Row sub = bits16_row(DType::F16, {0x0001, 0x0002, 0x0000, 0x8001, 0x8000});
  CHECK(ref::truncate_row(DType::F16, sub.data(), 5, {0, 1.0f}).order == std::vector<std::int64_t>{1, 0, 2, 4, 3});
  CHECK(kept_set(sub, {2, 1.0f}) == Set{0, 1});

  const Row b = bits16_row(DType::BF16, {0x3F80, 0x0001, 0x8001, 0x7F7F, 0xC0A0, 0x7FC1, 0x7F80});
  CHECK(ref::load_logit(DType::BF16, b.data(), 0) == 1.0);
  CHECK(ref::load_logit(DType::BF16, b.data(), 1) == std::ldexp(1.0, -133));
  CHECK(ref::load_logit(DType::BF16, b.data(), 2) == -std::ldexp(1.0, -133));
  CHECK(ref::load_logit(DType::BF16, b.data(), 3) == std::ldexp(255.0, 120));
  CHECK(ref::load_logit(DType::BF16, b.data(), 4) == -5.0);
  CHECK(std::isnan(ref::load_logit(DType::BF16, b.data(), 5)));
  CHECK(ref::load_logit(DType::BF16, b.data(), 6) == std::numeric_limits<double>::infinity());

  const Row f = f32_row({1.5f, std::numeric_limits<float>::denorm_min()});
  CHECK(ref::load_logit(DType::F32, f.data(), 0) == 1.5);
  CHECK(ref::load_logit(DType::F32, f.data(), 1) == std::ldexp(1.0, -149));
}

TEST_CASE("neg_inf_bits is -inf of each dtype", "[reference]") {
  CHECK(ref::neg_inf_bits(DType::F32) == 0xFF800000u);
  CHECK(ref::neg_inf_bits(DType::F16) == 0xFC00u);
  CHECK(ref::neg_inf_bits(DType::BF16) == 0xFF80u);
  for (DType d : {DType::F32, DType::F16, DType::BF16}) {
    const std::uint32_t bits = ref::neg_inf_bits(d);
    CHECK(ref::load_logit(d, &bits, 0) == -std::numeric_limits<double>::infinity());  // little-endian low bytes
  }
}

TEST_CASE("keep_flags marks exactly the kept prefix", "[reference]") {
  const Row row = f32_row({1.0f, kNaN, 7.0f, 3.0f, -kInf, 3.0f});
  const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), {3, 1.0f});
  CHECK(ref::keep_flags(r, row.vocab()) == std::vector<std::uint8_t>{0, 0, 1, 1, 0, 1});
  ref::RowResult bad = r;
  bad.kept = 7;
  CHECK_THROWS_AS(ref::keep_flags(bad, row.vocab()), samplejit::Error);
  CHECK_THROWS_AS(ref::keep_flags(r, 3), samplejit::Error);  // order names token 5
}

TEST_CASE("reference functions reject bad arguments", "[reference]") {
  const Row row = f32_row({1.0f, 2.0f});
  const std::uint8_t keep[2] = {1, 0};
  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const samplejit::Error& e) {
      return static_cast<int>(e.code());
    }
    return 0;
  };
  const int invalid = static_cast<int>(samplejit::ErrorCode::InvalidArgument);
  CHECK(code_of([&] { ref::truncate_row(DType::F32, row.data(), 0, {}); }) == invalid);
  CHECK(code_of([&] { ref::truncate_row(DType::F32, row.data(), -5, {}); }) == invalid);
  CHECK(code_of([&] { ref::truncate_row(DType::F32, nullptr, 2, {}); }) == invalid);
  CHECK(code_of([&] { ref::check_row(DType::F32, row.data(), 2, {}, nullptr); }) == invalid);
  CHECK(code_of([&] { ref::check_row(DType::F32, nullptr, 2, {}, keep); }) == invalid);
  CHECK(code_of([&] { ref::check_row(DType::F32, row.data(), 0, {}, keep); }) == invalid);
  CHECK(code_of([&] { ref::check_row(DType::F32, row.data(), 2, {}, keep, -1.0); }) == invalid);
  CHECK(code_of([&] { ref::load_logit(DType::F32, nullptr, 0); }) == invalid);
  CHECK(code_of([&] { ref::keep_flags(ref::RowResult{}, 0); }) == invalid);
  CHECK(code_of([&] { ref::check_row(DType::F32, row.data(), 2, {}, keep); }) == 0);  // valid call, no throw
}

TEST_CASE("check_row accepts the reference's own answer", "[reference]") {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  int rejected = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<float> x(1 + rng() % 200);
    for (auto& v : x) v = rng() % 10 == 0 ? kNaN : std::round(normal(rng) * 4.0f) / 4.0f;  // ties too
    const Row row = f32_row(x);
    const ref::RowParams params{static_cast<std::int32_t>(rng() % 50) - 5,
                                std::uniform_real_distribution<float>(-0.1f, 1.1f)(rng)};
    const auto flags = ref::keep_flags(ref::truncate_row(row.dtype, row.data(), row.vocab(), params), row.vocab());
    const auto verdict = ref::check_row(row.dtype, row.data(), row.vocab(), params, flags.data());
    if (verdict) {
      ++rejected;
      UNSCOPED_INFO(*verdict);
    }
  }
  CHECK(rejected == 0);
}

TEST_CASE("check_row rejects keep sets that are not a rank-order prefix", "[reference]") {
  // Ranks: token 2 (9), token 0 (5), token 3 (4), token 1 (1).
  const Row row = f32_row({5.0f, 1.0f, 9.0f, 4.0f});
  const ref::RowParams params{3, 1.0f};  // keeps {0, 2, 3}
  const std::vector<std::uint8_t> good = {1, 0, 1, 1};
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, params, good.data()));

  const std::vector<std::uint8_t> hole = {1, 1, 1, 0};  // right count, but drops 3 while keeping 1
  const auto v = ref::check_row(row.dtype, row.data(), 4, params, hole.data());
  REQUIRE(v);
  CHECK_THAT(*v, Catch::Contains("keeps token 1") && Catch::Contains("drops token 3"));

  const std::vector<std::uint8_t> skip_top = {1, 0, 0, 1};
  const auto w = ref::check_row(row.dtype, row.data(), 4, ref::RowParams{2, 1.0f}, skip_top.data());
  REQUIRE(w);
  CHECK_THAT(*w, Catch::Contains("drops token 2"));

  const std::vector<std::uint8_t> not_bool = {2, 0, 1, 1};
  CHECK(ref::check_row(row.dtype, row.data(), 4, params, not_bool.data()));
}

TEST_CASE("check_row demands the exact top-k count", "[reference]") {
  const Row row = f32_row({5.0f, 1.0f, 9.0f, 4.0f, 4.0f});
  const std::vector<std::uint8_t> two = {1, 0, 1, 0, 0};
  const std::vector<std::uint8_t> three = {1, 0, 1, 1, 0};
  const std::vector<std::uint8_t> four = {1, 0, 1, 1, 1};
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 5, {3, 1.0f}, three.data()));
  CHECK(ref::check_row(row.dtype, row.data(), 5, {3, 1.0f}, two.data()));
  CHECK(ref::check_row(row.dtype, row.data(), 5, {3, 1.0f}, four.data()));
  // Tie at the k-th value: token 4 instead of token 3 is wrong.
  const std::vector<std::uint8_t> wrong_tie = {1, 0, 1, 0, 1};
  CHECK(ref::check_row(row.dtype, row.data(), 5, {3, 1.0f}, wrong_tie.data()));
  // With top-p on, keeping more than top-k allows is wrong even when top-p would accept it.
  const auto v = ref::check_row(row.dtype, row.data(), 5, {3, 0.9999f}, four.data());
  REQUIRE(v);
  CHECK_THAT(*v, Catch::Contains("top-k leaves only 3"));
  // Top-k off: all candidates must be kept.
  const std::vector<std::uint8_t> all = {1, 1, 1, 1, 1};
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 5, {0, 1.0f}, all.data()));
  CHECK(ref::check_row(row.dtype, row.data(), 5, {0, 1.0f}, four.data()));
}

TEST_CASE("check_row tolerates top-p boundary differences only within tol", "[reference]") {
  // Four equal logits: mass_ahead = 0, 0.25, 0.5, 0.75.
  const Row row = f32_row({2.0f, 2.0f, 2.0f, 2.0f});
  const std::vector<std::uint8_t> one = {1, 0, 0, 0}, two = {1, 1, 0, 0}, three = {1, 1, 1, 0},
                                  four = {1, 1, 1, 1}, none = {0, 0, 0, 0};
  // p = 0.5: the reference keeps 2; keeping 3 differs on rank 2 whose mass_ahead equals p.
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, 0.5f}, two.data()));
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, 0.5f}, three.data()));
  const auto v = ref::check_row(row.dtype, row.data(), 4, {0, 0.5f}, one.data());
  REQUIRE(v);
  CHECK_THAT(*v, Catch::Contains("rank 1") && Catch::Contains("0.25"));
  CHECK(ref::check_row(row.dtype, row.data(), 4, {0, 0.5f}, four.data()));  // ranks 2 and 3 differ; 0.75 is far

  // p just above 0.5: the reference keeps 3; keeping 2 is fine only while |0.5 - p| <= tol.
  const float p = 0.500004f;
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, p}, three.data()));
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, p}, two.data()));
  CHECK(ref::check_row(row.dtype, row.data(), 4, {0, p}, two.data(), 1e-6));
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, p}, two.data(), 5e-6));

  // The top-ranked token is never optional.
  const auto w = ref::check_row(row.dtype, row.data(), 4, {0, 0.0f}, none.data());
  REQUIRE(w);
  CHECK_THAT(*w, Catch::Contains("no token"));
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, 0.0f}, one.data()));
  CHECK(ref::check_row(row.dtype, row.data(), 4, {0, 0.0f}, two.data()));
}

TEST_CASE("check_row rejects keeping NaN or -inf tokens", "[reference]") {
  const Row row = f32_row({1.0f, kNaN, 0.5f, -kInf});
  const std::vector<std::uint8_t> good = {1, 0, 1, 0}, with_nan = {1, 1, 1, 0}, with_ninf = {1, 0, 1, 1};
  CHECK_FALSE(ref::check_row(row.dtype, row.data(), 4, {0, 1.0f}, good.data()));
  const auto v = ref::check_row(row.dtype, row.data(), 4, {0, 1.0f}, with_nan.data());
  REQUIRE(v);
  CHECK_THAT(*v, Catch::Contains("token 1"));
  const auto w = ref::check_row(row.dtype, row.data(), 4, {0, 1.0f}, with_ninf.data());
  REQUIRE(w);
  CHECK_THAT(*w, Catch::Contains("token 3"));

  // A row with no candidates must keep nothing.
  const Row empty = bits16_row(DType::BF16, {0x7FC0, 0xFF80});
  const std::vector<std::uint8_t> zero = {0, 0}, nan_kept = {1, 0};
  CHECK_FALSE(ref::check_row(empty.dtype, empty.data(), 2, {0, 0.5f}, zero.data()));
  CHECK(ref::check_row(empty.dtype, empty.data(), 2, {0, 0.5f}, nan_kept.data()));
}

TEST_CASE("mass_ahead is a nondecreasing prefix sum on a large row", "[reference]") {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 5.0f);
  std::vector<float> x(150000);
  for (auto& v : x) v = normal(rng);
  const Row row = f32_row(x);
  const auto r = ref::truncate_row(row.dtype, row.data(), row.vocab(), {0, 0.9f});
  REQUIRE(r.after_top_k == 150000);
  bool monotone = true;
  for (std::size_t j = 1; j < r.mass_ahead.size(); ++j) monotone = monotone && r.mass_ahead[j] >= r.mass_ahead[j - 1];
  CHECK(monotone);
  CHECK(r.mass_ahead[0] == 0.0);
  CHECK(r.mass_ahead.back() <= 1.0);
  CHECK(r.mass_ahead[1] > 0.0);
  REQUIRE(r.kept >= 2);
  CHECK(r.mass_ahead[r.kept - 1] < 0.9);
  if (r.kept < r.after_top_k) CHECK(r.mass_ahead[r.kept] >= 0.9);
  // Ordered by value: first element is the maximum.
  CHECK(x[r.order[0]] == *std::max_element(x.begin(), x.end()));
}
