// GPU tests of the fused sampler: distribution (chi-square), batch and variant invariance,
// logZ/logprob numbers against float64, greedy and invalid rows, graph replay.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "device.hpp"
#include "samplejit/reference.hpp"
#include "samplejit/sample_reference.hpp"
#include "samplejit/samplejit.hpp"
#include "workloads.hpp"

using namespace samplejit;
using detail::DeviceBuffer;

namespace {

Runtime& rt() {
  static Runtime r;
  return r;
}

Kernel sampler(DType d, std::int64_t v, int block = 512, MaskKind m = MaskKind::None, int cluster = kAutoCluster) {
  KernelSpec s;
  s.kind = Kind::Sample;
  s.dtype = d;
  s.vocab = v;
  s.block = block;
  s.cluster = cluster;
  s.mask = m;
  s.arch.clear();
  return rt().prepare(s, 0);
}

struct Inputs {
  std::vector<float> temperature, top_p, min_p;
  std::vector<std::int32_t> top_k;
  std::vector<std::uint64_t> seed, offset;
  explicit Inputs(std::int64_t b)
      : temperature(b, 1.0f), top_p(b, 1.0f), min_p(b, 0.0f), top_k(b, 0), seed(b, 0), offset(b, 0) {}
};

struct Outputs {
  std::vector<std::int32_t> token32, kept;
  std::vector<std::int64_t> token64;
  std::vector<float> logprob, raw, logz;
  std::vector<std::uint8_t> valid, mask;
  std::vector<char> logits;
  std::vector<std::int64_t> csr_offsets;
  std::vector<std::int32_t> csr_ids;
};

constexpr int kCsrCapacity = 64;

template <class T>
DeviceBuffer upload(const std::vector<T>& v) {
  DeviceBuffer b(v.size() * sizeof(T));
  b.upload(v.data(), b.bytes());
  return b;
}

template <class T>
std::vector<T> download(const DeviceBuffer& b, std::size_t n) {
  std::vector<T> v(n);
  b.download(v.data(), n * sizeof(T));
  return v;
}

// Runs one sample launch with every output requested; outputs are poisoned first.
Outputs run(const Kernel& k, const std::vector<char>& logits, std::int64_t B, std::int64_t stride, const Inputs& in,
            bool write_logits = false) {
  const auto& cu = detail::driver();
  const KernelSpec& s = k.spec();
  DeviceBuffer x = upload(logits), t = upload(in.temperature), tk = upload(in.top_k), tp = upload(in.top_p),
               mp = upload(in.min_p), sd = upload(in.seed), of = upload(in.offset);
  const std::size_t n = static_cast<std::size_t>(B);
  const std::size_t mask_bytes = s.mask == MaskKind::Bool   ? n * static_cast<std::size_t>(s.vocab)
                                 : s.mask == MaskKind::Bits ? n * static_cast<std::size_t>((s.vocab + 31) / 32) * 4
                                                            : 0;
  DeviceBuffer t32(n * 4), t64(n * 8), lp(n * 4), raw(n * 4), lz(n * 4), kc(n * 4), va(n), mask(mask_bytes),
      kept_ids(n * kCsrCapacity * 4), offsets((n + 1) * 8), ids(n * kCsrCapacity * 4);
  for (const DeviceBuffer* b : {&t32, &t64, &lp, &raw, &lz, &kc, &va, &mask, &kept_ids, &offsets, &ids})
    if (b->bytes()) SAMPLEJIT_CU_CALL(cu.memsetD8(b->get(), 0xA5, b->bytes()));  // poison
  SampleArgs a;
  a.logits = x.get();
  a.row_stride = stride;
  a.batch = B;
  a.temperature = t.get();
  a.top_k = tk.get();
  a.top_p = tp.get();
  a.min_p = mp.get();
  a.seed = sd.get();
  a.offset = of.get();
  a.token32 = t32.get();
  a.token64 = t64.get();
  a.logprob = lp.get();
  a.raw_logprob = raw.get();
  a.logz = lz.get();
  a.kept_count = kc.get();
  a.valid = va.get();
  a.mask = mask.get();
  a.write_logits = write_logits;
  a.kept_ids = kept_ids.get();
  a.kept_ids_capacity = kCsrCapacity;
  a.csr_offsets = offsets.get();
  a.csr_ids = ids.get();
  detail::Stream st;
  k.sample(st.get(), a);
  st.sync();
  Outputs o;
  o.token32 = download<std::int32_t>(t32, n);
  o.token64 = download<std::int64_t>(t64, n);
  o.logprob = download<float>(lp, n);
  o.raw = download<float>(raw, n);
  o.logz = download<float>(lz, n);
  o.kept = download<std::int32_t>(kc, n);
  o.valid = download<std::uint8_t>(va, n);
  o.mask = download<std::uint8_t>(mask, mask_bytes);
  if (write_logits) o.logits = download<char>(x, logits.size());
  o.csr_offsets = download<std::int64_t>(offsets, n + 1);
  o.csr_ids = download<std::int32_t>(ids, n * kCsrCapacity);
  return o;
}

ref::SampleParams params_of(const Inputs& in, std::size_t r) {
  return {in.temperature[r], in.top_k[r], in.top_p[r], in.min_p[r]};
}

std::uint32_t float_bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

}  // namespace

TEST_CASE("sampled tokens follow the truncated, renormalized softmax (chi-square)", "[gpu][sample]") {
  const std::int64_t V = 64, B = 1000000;
  Kernel k = sampler(DType::F32, V);
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::map<std::string, std::vector<float>> dists;
  std::vector<float> peaked(V), flat(V, 0.0f), two(V, -std::numeric_limits<float>::infinity());
  for (auto& x : peaked) x = nd(rng);
  peaked[5] = 5.0f;
  peaked[40] = 3.0f;
  peaked[41] = 3.0f;
  two[3] = 0.5f;
  two[60] = 0.0f;
  dists["peaked"] = peaked;
  dists["flat"] = flat;
  dists["two-token"] = two;
  struct Case {
    const char* name;
    float t, p, min_p;
    int k;
  };
  const Case cases[] = {{"off", 1, 1, 0, 0},      {"top-k 10", 1, 1, 0, 10},   {"top-p 0.8", 1, 0.8f, 0, 0},
                        {"min-p 0.05", 1, 1, 0.05f, 0}, {"T 0.7 k 20 p 0.9 min-p 0.02", 0.7f, 0.9f, 0.02f, 20}};
  for (const auto& [dname, row] : dists) {
    std::vector<char> logits(static_cast<std::size_t>(B * V) * 4);
    for (std::int64_t r = 0; r < B; ++r) std::memcpy(logits.data() + r * V * 4, row.data(), V * 4);
    for (const Case& c : cases) {
      Inputs in(B);
      std::fill(in.temperature.begin(), in.temperature.end(), c.t);
      std::fill(in.top_p.begin(), in.top_p.end(), c.p);
      std::fill(in.min_p.begin(), in.min_p.end(), c.min_p);
      std::fill(in.top_k.begin(), in.top_k.end(), c.k);
      std::fill(in.seed.begin(), in.seed.end(), 0x5eedULL);
      for (std::int64_t r = 0; r < B; ++r) in.offset[r] = static_cast<std::uint64_t>(r);
      const ref::SampleResult ref = ref::sample_row(DType::F32, row.data(), V, params_of(in, 0));
      const Outputs o = run(k, logits, B, V, in);
      std::vector<double> expected(V, 0.0);
      for (std::int64_t j = 0; j < ref.kept; ++j) expected[ref.order[j]] = ref.prob[j] * static_cast<double>(B);
      std::vector<std::int64_t> counts(V, 0);
      std::int64_t outside = 0;
      for (std::int64_t r = 0; r < B; ++r) {
        const int t = o.token32[r];
        if (t < 0 || t >= V || expected[t] == 0.0) ++outside;
        else ++counts[t];
      }
      // Chi-square over kept tokens; bins expecting fewer than 5 draws are pooled.
      double stat = 0, pool_e = 0, pool_o = 0;
      int bins = 0;
      for (std::int64_t v = 0; v < V; ++v) {
        if (expected[v] == 0.0) continue;
        if (expected[v] < 5) {
          pool_e += expected[v];
          pool_o += static_cast<double>(counts[v]);
          continue;
        }
        const double diff = static_cast<double>(counts[v]) - expected[v];
        stat += diff * diff / expected[v];
        ++bins;
      }
      if (pool_e > 0) {
        stat += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        ++bins;
      }
      const double pv = bins > 1 ? ref::chi_square_p_value(stat, bins - 1) : 1.0;
      std::printf("sample stats: %-9s %-28s kept %3lld  chi2 %9.2f dof %3d  p-value %.4g  outside %lld\n",
                  dname.c_str(), c.name, static_cast<long long>(ref.kept), stat, bins - 1, pv,
                  static_cast<long long>(outside));
      INFO(dname << " / " << c.name << ": chi2 " << stat << " dof " << bins - 1);
      CHECK(outside == 0);
      CHECK(pv > 1e-4);
      CHECK(o.kept[0] == ref.kept);
    }
  }
}

TEST_CASE("a row's outputs do not depend on batch, slot, neighbours or kernel variant", "[gpu][sample]") {
  const std::int64_t V = 151936;
  std::mt19937_64 rng(11);
  std::vector<char> row(V * 2);
  work::fill_row(DType::BF16, work::RowKind::Peaked, V, rng, row.data());
  struct Seen {
    std::int64_t token;
    std::uint32_t logprob, raw, logz;
    int kept;
    std::vector<std::uint8_t> keep;  // expanded mask
  };
  std::vector<Seen> seen;
  std::vector<std::string> where;
  struct Variant {
    int block, cluster;
    MaskKind mask;
  };
  std::vector<Variant> variants;
  for (int block : {256, 512})
    for (MaskKind m : {MaskKind::None, MaskKind::Bool, MaskKind::Bits}) variants.push_back({block, kAutoCluster, m});
  // One CTA per row and every cluster size must give the same bits as the automatic choice.
  for (int c : {1, 2, 4, 16}) variants.push_back({512, c, MaskKind::Bits});
  // Cluster kernels without a mask write whole chunks from the staged slice; stride V + 5 misaligns.
  for (int c : {2, 8}) variants.push_back({512, c, MaskKind::None});
  for (const Variant& var : variants) {
      const MaskKind m = var.mask;
      Kernel k = sampler(DType::BF16, V, var.block, m, var.cluster);
      // A stride of V + 5 starts each row at a different 16-byte misalignment.
      // An auto module runs 16-CTA rows at B = 1, 8-CTA rows at B = 6, 4-CTA rows at B = 16,
      // 2-CTA rows at B = 64 and one CTA per row at B = 1000 (132 SMs).
      for (auto [B, stride] :
           {std::pair<std::int64_t, std::int64_t>{1, V}, {6, V}, {16, V}, {64, V}, {64, V + 5}, {1000, V}})
        for (std::int64_t slot : {std::int64_t{0}, std::int64_t{777}, B - 1}) {
          if (slot >= B) continue;
          std::vector<char> logits(static_cast<std::size_t>(B * stride) * 2);
          Inputs in(B);
          std::uniform_real_distribution<float> ud(0.0f, 1.0f);
          for (std::int64_t r = 0; r < B; ++r) {
            work::fill_row(DType::BF16, work::kAllKinds[rng() % 6], V, rng, logits.data() + r * stride * 2);
            in.temperature[r] = 0.5f + ud(rng);
            in.top_k[r] = static_cast<std::int32_t>(rng() % 200);
            in.top_p[r] = 0.5f + 0.5f * ud(rng);
            in.min_p[r] = 0.05f * ud(rng);
            in.seed[r] = rng();
            in.offset[r] = rng();
          }
          std::memcpy(logits.data() + slot * stride * 2, row.data(), V * 2);
          in.temperature[slot] = 0.9f;
          in.top_k[slot] = 100;
          in.top_p[slot] = 0.95f;
          in.min_p[slot] = 0.01f;
          in.seed[slot] = 42;
          in.offset[slot] = 7;
          const Outputs o = run(k, logits, B, stride, in);
          Seen s{o.token64[slot], float_bits(o.logprob[slot]), float_bits(o.raw[slot]), float_bits(o.logz[slot]),
                 o.kept[slot], {}};
          CHECK(o.token32[slot] == o.token64[slot]);
          if (m == MaskKind::Bool) {
            s.keep.assign(o.mask.begin() + slot * V, o.mask.begin() + (slot + 1) * V);
          } else if (m == MaskKind::Bits) {
            const std::int64_t W = (V + 31) / 32;
            for (std::int64_t i = 0; i < V; ++i) {
              std::uint32_t w;
              std::memcpy(&w, o.mask.data() + (slot * W + i / 32) * 4, 4);
              s.keep.push_back(static_cast<std::uint8_t>((w >> (i % 32)) & 1u));
            }
          }
          seen.push_back(s);
          where.push_back(k.spec().canonical() + " B=" + std::to_string(B) + " stride=" + std::to_string(stride) +
                          " slot=" + std::to_string(slot) + " ran c" + std::to_string(k.row_cluster(B, true, true)));
        }
    }
  REQUIRE(seen.size() > 10);
  const std::vector<std::uint8_t>* first_mask = nullptr;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO(where[i] << " vs " << where[0]);
    CHECK(seen[i].token == seen[0].token);
    CHECK(seen[i].logprob == seen[0].logprob);
    CHECK(seen[i].raw == seen[0].raw);
    CHECK(seen[i].logz == seen[0].logz);
    CHECK(seen[i].kept == seen[0].kept);
    if (!seen[i].keep.empty()) {
      if (!first_mask) first_mask = &seen[i].keep;
      CHECK(seen[i].keep == *first_mask);
      CHECK(std::count(seen[i].keep.begin(), seen[i].keep.end(), 1) == seen[i].kept);
    }
  }
  std::printf("sample invariance: %zu placements x variants, token %lld, all bitwise identical\n", seen.size(),
              static_cast<long long>(seen[0].token));
}

// One CTA per row forms (x - xmax) / T from RN(1 / T) where that is exact and divides elsewhere
// (select.cuh, div_by_temperature and the gather pass's chunks); cluster rows always divide. At
// temperatures whose reciprocal leaves [2^-96, 2^96], or whose quotients do, every output must
// still be the cluster rows' bits.
TEST_CASE("extreme temperatures give one CTA per row the cluster rows' bits", "[gpu][sample]") {
  const std::int64_t V = 151936, B = 64;
  const float kTemps[] = {1e-30f, 0x1p-97f, 0x1p-96f, 1e-3f, 0.37f, 1.0f, 3.3f, 1e20f, 0x1p96f, 0x1p97f, 1e30f,
                          std::numeric_limits<float>::infinity()};
  for (DType d : {DType::F32, DType::BF16}) {
    const std::size_t es = d == DType::F32 ? 4 : 2;
    std::mt19937_64 rng(29);
    std::vector<char> logits(static_cast<std::size_t>(B * V) * es);
    Inputs in(B);
    std::uniform_real_distribution<float> ud(0.0f, 1.0f);
    for (std::int64_t r = 0; r < B; ++r) {
      work::fill_row(d, work::kAllKinds[r % 8], V, rng, logits.data() + r * V * es);
      in.temperature[r] = kTemps[r % 12];
      in.top_k[r] = r % 3 == 0 ? 0 : static_cast<std::int32_t>(1 + rng() % 1024);
      in.top_p[r] = r % 5 == 0 ? 1.0f : 0.5f + 0.5f * ud(rng);
      in.min_p[r] = r % 4 == 0 ? 0.02f * ud(rng) : 0.0f;
      in.seed[r] = rng();
      in.offset[r] = rng();
    }
    const Outputs one = run(sampler(d, V, 512, MaskKind::None, 1), logits, B, V, in);
    for (int c : {4, 16}) {
      const Outputs o = run(sampler(d, V, 512, MaskKind::None, c), logits, B, V, in);
      for (std::int64_t r = 0; r < B; ++r) {
        INFO(to_string(d) << " row " << r << " (" << work::to_string(work::kAllKinds[r % 8]) << ") T=" << in.temperature[r]
                          << " k=" << in.top_k[r] << " p=" << in.top_p[r] << " cluster " << c);
        CHECK(o.token64[r] == one.token64[r]);
        CHECK(o.kept[r] == one.kept[r]);
        CHECK(float_bits(o.logprob[r]) == float_bits(one.logprob[r]));
        CHECK(float_bits(o.raw[r]) == float_bits(one.raw[r]));
        CHECK(float_bits(o.logz[r]) == float_bits(one.logz[r]));
      }
    }
    // Rows with a candidate (every kind but all-masked) draw a token.
    for (std::int64_t r = 0; r < B; ++r)
      if (work::kAllKinds[r % 8] != work::RowKind::AllMasked) CHECK(one.valid[r] == 1);
  }
}

TEST_CASE("logZ, logprobs, kept sets and tokens agree with the float64 reference", "[gpu][sample]") {
  // One CTA per row (what B = 512 picks) and 4-CTA clusters, whose top-k-alone rows gather only the
  // window bin of the k-th token.
  for (int cluster : {kAutoCluster, 4}) {
    for (DType d : {DType::F32, DType::BF16, DType::F16}) {
      const std::int64_t V = 32000, B = 512;
      Kernel k = sampler(d, V, 512, MaskKind::Bits, cluster);
      std::mt19937_64 rng(static_cast<std::uint64_t>(d) + 99);
      std::uniform_real_distribution<float> ud(0.0f, 1.0f);
      const std::size_t es = dtype_size(d);
      std::vector<char> logits(static_cast<std::size_t>(B * V) * es);
      Inputs in(B);
      for (std::int64_t r = 0; r < B; ++r) {
        work::fill_row(d, work::kAllKinds[rng() % 6], V, rng, logits.data() + r * V * es);
        const int mode = static_cast<int>(rng() % 8);
        in.temperature[r] = mode == 0 ? 0.0f : mode == 1 ? 1e-3f : 0.3f + 1.7f * ud(rng);
        in.top_k[r] = rng() % 3 ? static_cast<std::int32_t>(rng() % 1024) : 0;
        in.top_p[r] = rng() % 3 ? 0.5f + 0.5f * ud(rng) : 1.0f;
        in.min_p[r] = rng() % 2 ? 0.2f * ud(rng) : 0.0f;
        in.seed[r] = rng();
        in.offset[r] = static_cast<std::uint64_t>(r);
      }
      const Outputs o = run(k, logits, B, V, in, true);
      std::int64_t checked = 0, boundary = 0, token_exact = 0, csr_rows = 0;
      REQUIRE(o.csr_offsets[0] == 0);
      for (std::int64_t r = 0; r < B; ++r) REQUIRE(o.csr_offsets[r + 1] >= o.csr_offsets[r]);
      const std::int64_t W = (V + 31) / 32;
      for (std::int64_t r = 0; r < B; ++r) {
        const char* row = logits.data() + r * V * es;
        const ref::SampleResult ref = ref::sample_row(d, row, V, params_of(in, r));
        INFO(to_string(d) << " row " << r << " T=" << in.temperature[r] << " k=" << in.top_k[r] << " p=" << in.top_p[r]
                          << " min_p=" << in.min_p[r]);
        if (!ref.valid) {
          CHECK(o.valid[r] == 0);
          CHECK(o.token32[r] == -1);
          CHECK(o.token64[r] == -1);
          CHECK(o.kept[r] == 0);
          CHECK(std::isnan(o.logz[r]));
          CHECK(o.csr_offsets[r + 1] == o.csr_offsets[r]);
          continue;
        }
        REQUIRE(o.valid[r] == 1);
        // The mask, the in-place logits and the kept count describe the same set.
        std::int64_t mask_count = 0, logit_count = 0;
        for (std::int64_t i = 0; i < V; ++i) {
          std::uint32_t w;
          std::memcpy(&w, o.mask.data() + (r * W + i / 32) * 4, 4);
          const bool bit = (w >> (i % 32)) & 1u;
          mask_count += bit;
          const double out = ref::load_logit(d, o.logits.data() + r * V * es, i);
          logit_count += !(std::isinf(out) && out < 0);
          if (bit != !(std::isinf(out) && out < 0)) FAIL_CHECK("mask and logits disagree at token " << i);
        }
        CHECK(mask_count == o.kept[r]);
        CHECK(logit_count == o.kept[r]);
        // The CSR kept set: ascending ids of exactly the masked tokens, or empty past the capacity.
        std::vector<std::int32_t> expect_ids;
        if (o.kept[r] <= kCsrCapacity)
          for (std::int64_t i = 0; i < V; ++i) {
            std::uint32_t w;
            std::memcpy(&w, o.mask.data() + (r * W + i / 32) * 4, 4);
            if ((w >> (i % 32)) & 1u) expect_ids.push_back(static_cast<std::int32_t>(i));
          }
        const std::vector<std::int32_t> got(o.csr_ids.begin() + o.csr_offsets[r],
                                            o.csr_ids.begin() + o.csr_offsets[r + 1]);
        CHECK(got == expect_ids);
        ++csr_rows;
        const auto pos = std::find(ref.order.begin(), ref.order.end(), o.token64[r]) - ref.order.begin();
        CHECK(pos < o.kept[r]);  // the token is kept
        if (in.temperature[r] == 0.0f) {
          CHECK(o.token64[r] == ref.order[0]);
          CHECK(o.kept[r] == 1);
          CHECK(o.logprob[r] == 0.0f);
          continue;
        }
        if (o.kept[r] != ref.kept) {  // allowed only at a top-p or min-p boundary
          ++boundary;
          continue;
        }
        ++checked;
        REQUIRE(pos < ref.kept);
        CHECK(std::abs(o.logz[r] - ref.log_z) <= 1e-5);
        CHECK(std::abs(o.logprob[r] - std::log(ref.prob[pos])) <=
              1e-5 * std::max(1.0, std::abs(std::log(ref.prob[pos]))));
        CHECK(std::abs(o.raw[r] - ref.log_prob_full[pos]) <= 1e-5 * std::max(1.0, std::abs(ref.log_prob_full[pos])));
        if (in.temperature[r] == 1e-3f && ref.kept > 1 && ref.prob[0] > 0.999999) CHECK(o.token64[r] == ref.order[0]);
        // The token is the Gumbel-max draw from the documented noise stream.
        double best = -INFINITY, second = -INFINITY;
        std::int64_t best_i = -1;
        for (std::int64_t j = 0; j < ref.kept; ++j) {
          const std::uint32_t w = ref::noise_word(in.seed[r], in.offset[r], static_cast<std::uint32_t>(ref.order[j]));
          const double u = (static_cast<double>(w >> 8) + 0.5) / 16777216.0;
          const double s = std::log(ref.prob[j]) - std::log(-std::log(u));
          if (s > best) {
            second = best;
            best = s;
            best_i = ref.order[j];
          } else if (s > second) {
            second = s;
          }
        }
        if (best - second > 1e-3) {
          CHECK(o.token64[r] == best_i);
          ++token_exact;
        }
      }
      std::printf("sample numbers %s, %d CTAs per row: %lld rows compared to float64, %lld at a p/min-p "
                  "boundary, %lld tokens matched the CPU-drawn noise exactly, %lld CSR rows checked\n",
                  std::string(to_string(d)).c_str(), k.row_cluster(B, true, true), static_cast<long long>(checked),
                  static_cast<long long>(boundary), static_cast<long long>(token_exact),
                  static_cast<long long>(csr_rows));
      CHECK(checked > B / 2);
      CHECK(boundary <= B / 50);
      CHECK(token_exact > checked / 2);
    }
  }
}

TEST_CASE("sampling in a CUDA graph replays with parameters changed through the same arrays", "[gpu][sample]") {
  const std::int64_t V = 50257, B = 8;
  Kernel k = sampler(DType::F16, V);
  const auto& cu = detail::driver();
  std::mt19937_64 rng(3);
  std::vector<char> logits(static_cast<std::size_t>(B * V) * 2);
  for (std::int64_t r = 0; r < B; ++r) work::fill_row(DType::F16, work::RowKind::Normal, V, rng, logits.data() + r * V * 2);
  Inputs in(B);
  DeviceBuffer x = upload(logits), t = upload(in.temperature), of = upload(in.offset), tok(B * 4);
  detail::Stream st;
  SampleArgs a;
  a.logits = x.get();
  a.row_stride = V;
  a.batch = B;
  a.temperature = t.get();
  a.offset = of.get();
  a.token32 = tok.get();
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  SAMPLEJIT_CU_CALL(cu.streamBeginCapture(st.get(), CU_STREAM_CAPTURE_MODE_GLOBAL));
  k.sample(st.get(), a);
  SAMPLEJIT_CU_CALL(cu.streamEndCapture(st.get(), &graph));
  SAMPLEJIT_CU_CALL(cu.graphInstantiate(&exec, graph, 0));
  std::set<std::vector<std::int32_t>> distinct;
  for (int step = 0; step < 4; ++step) {
    for (auto& o : in.offset) o = static_cast<std::uint64_t>(step);
    std::fill(in.temperature.begin(), in.temperature.end(), step == 3 ? 0.0f : 2.0f);
    of.upload(in.offset.data(), B * 8);
    t.upload(in.temperature.data(), B * 4);
    SAMPLEJIT_CU_CALL(cu.graphLaunch(exec, st.get()));
    st.sync();
    const auto tokens = download<std::int32_t>(tok, B);
    // Each replay equals a direct launch with the same parameters.
    const Outputs direct = run(k, logits, B, V, in);
    CHECK(tokens == direct.token32);
    if (step < 3) distinct.insert(tokens);
    if (step == 3)
      for (std::int64_t r = 0; r < B; ++r)
        CHECK(tokens[r] == ref::sample_row(DType::F16, logits.data() + r * V * 2, V, {0.0f, 0, 1.0f, 0.0f}).order[0]);
  }
  CHECK(distinct.size() == 3);  // new offsets, new draws (T = 2 on N(0, 2) rows: hundreds of likely tokens)
  cu.graphExecDestroy(exec);
  cu.graphDestroy(graph);
}

TEST_CASE("bad sample() arguments are rejected with the argument's name", "[gpu][sample]") {
  const std::int64_t V = 32000, B = 4;
  Kernel k = sampler(DType::BF16, V);
  DeviceBuffer x(B * V * 2 + 16), out(B * 8 + 16), ids(B * 16 * 4 + 16);
  SAMPLEJIT_CU_CALL(detail::driver().memsetD8(x.get(), 0, x.bytes()));
  detail::Stream st;
  auto base = [&] {
    SampleArgs a;
    a.logits = x.get();
    a.row_stride = V;
    a.batch = B;
    a.token32 = out.get();
    return a;
  };
  auto expect_invalid = [&](SampleArgs a, const char* needle) {
    try {
      k.sample(st.get(), a);
      FAIL("expected an InvalidArgument error mentioning " << needle);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  SampleArgs a = base();
  a.logits += 1;  // inside a bf16 element
  expect_invalid(a, "logits");
  a = base();
  a.row_stride = V - 1;
  expect_invalid(a, "row_stride");
  a = base();
  a.token32 = 0;
  expect_invalid(a, "outputs");
  a = base();
  a.token64 = out.get() + 4;  // int64 at a 4-byte boundary
  expect_invalid(a, "token64");
  a = base();
  a.seed = out.get() + 4;
  expect_invalid(a, "seed");
  a = base();
  a.temperature = out.get() + 2;
  expect_invalid(a, "temperature");
  a = base();
  a.kept_ids = ids.get();
  expect_invalid(a, "kept_ids_capacity");
  a = base();
  a.kept_ids = ids.get();
  a.kept_ids_capacity = 16;
  a.csr_offsets = out.get();
  expect_invalid(a, "csr_ids");
  a = base();
  a.logits = x.get() + 2;  // any element boundary is fine: rows start off a 16-byte boundary
  CHECK_NOTHROW(k.sample(st.get(), a));
  st.sync();
  const auto tokens = download<std::int32_t>(out, B);
  for (auto t : tokens) CHECK((t >= 0 && t < V));  // all-zero rows: every token ties, any is valid
}

TEST_CASE("the largest noise word does not make an infinite score", "[gpu][sample]") {
  // Find (offset, token) whose noise word has its top 24 bits all set: the draw where an fp32
  // u = ((w >> 8) + 0.5) * 2^-24 would round to 1 and give that token an infinite score.
  const std::int64_t V = 64;
  const std::uint64_t seed = 1234;
  std::uint64_t offset = 0;
  std::uint32_t token = 0;
  bool found = false;
  for (std::uint64_t o = 0; o < (1ull << 26) && !found; ++o)
    for (std::uint32_t i = 0; i < V && !found; ++i)
      if ((ref::noise_word(seed, o, i) >> 8) == 0xFFFFFFu) {
        offset = o;
        token = i;
        found = true;
      }
  REQUIRE(found);
  std::vector<float> row(V, 0.0f);
  row[token] = -30.0f;  // probability about e^-30 / 63
  std::vector<char> logits(V * 4);
  std::memcpy(logits.data(), row.data(), V * 4);
  Inputs in(1);
  in.seed[0] = seed;
  in.offset[0] = offset;
  const Outputs o = run(sampler(DType::F32, V), logits, 1, V, in);
  std::printf("edge noise word: seed %llu offset %llu token %u -> sampled %d\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(offset), token, o.token32[0]);
  CHECK(o.token32[0] != static_cast<std::int32_t>(token));
  CHECK(std::isfinite(o.logprob[0]));
}
