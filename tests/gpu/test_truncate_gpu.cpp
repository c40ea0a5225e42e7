// GPU tests: every variant against the CPU reference, batch and stride edges, B*V > 2^31,
// graph capture, cache hits without NVRTC. Run on a machine with a CUDA GPU.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <set>

#include <fmt/format.h>

#include "device.hpp"
#include "samplejit/reference.hpp"
#include "samplejit/samplejit.hpp"
#include "verify.hpp"
#include "workloads.hpp"

using namespace samplejit;

namespace {

Runtime& runtime() {
  static Runtime rt;
  return rt;
}

KernelSpec make(DType d, std::int64_t v, int block, MaskKind m, int cluster = kAutoCluster) {
  KernelSpec s;
  s.dtype = d;
  s.vocab = v;
  s.block = block;
  s.cluster = cluster;
  s.mask = m;
  s.arch.clear();  // from the device
  return s;
}

struct Tally {
  std::int64_t variants = 0, rows = 0, mismatches = 0;
  ~Tally() {
    std::printf("gpu summary: %lld variants, %lld rows checked, %lld mismatches\n", static_cast<long long>(variants),
                static_cast<long long>(rows), static_cast<long long>(mismatches));
  }
};
Tally& tally() {
  static Tally t;
  return t;
}

void expect_clean(const VerifyReport& r) {
  tally().rows += r.rows_checked;
  tally().mismatches += r.mismatches;
  for (const auto& e : r.errors) UNSCOPED_INFO(e);
  CHECK(r.rows_checked > 0);
  CHECK(r.mismatches == 0);
}

// The one-CTA variants of the collection and listing tests: odd vocabularies (rows end
// mid-chunk), 256-, 512- and 1024-thread blocks, no mask and the bool mask (cleared, then set).
template <class F>
void for_each_one_cta_variant(F f) {
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{100003}, std::int64_t{262147}})
      for (int block : {256, 512, 1024})
        for (MaskKind m : {MaskKind::None, MaskKind::Bool}) {
          const Kernel k = runtime().prepare(make(d, v, block, m, 1), 0);
          tally().variants++;
          f(k, v, block, m);
        }
}

// A fixed-size cluster variant (512-thread CTAs), prepared and counted; none when its slices
// would not fit in the cluster's shared memory.
std::optional<Kernel> cluster_variant(DType d, std::int64_t v, int cluster, MaskKind m) {
  KernelSpec spec = make(d, v, 512, m, cluster);
  spec.arch = runtime().device_info(0).arch;
  if (cluster_shared_bytes(spec) > kMaxClusterSharedBytes) return std::nullopt;
  tally().variants++;
  return runtime().prepare(spec, 0);
}

// 12 rows, the first starting `offset` elements off a 16-byte boundary, stride V + offset.
VerifyOptions one_cta_options(std::int64_t v, std::int64_t offset) {
  VerifyOptions o;
  o.batch = 12;
  o.base_offset = offset;
  o.row_stride = v + offset;
  return o;
}

// Top-p alone with no k array on every one-CTA variant: the edge p values and p in [0.5, 1), rows
// aligned and not, of the given kinds (empty: all). The seeds are a * V + b * block + ...
void verify_top_p_alone_one_cta(const std::vector<work::RowKind>& kinds, std::int64_t a, std::int64_t b) {
  for_each_one_cta_variant([&](const Kernel& k, std::int64_t v, int block, MaskKind m) {
    for (int random_p : {0, 1})
      for (std::int64_t offset : {0, 3}) {
        VerifyOptions o = one_cta_options(v, offset);
        o.with_top_k = false;
        o.kinds = kinds;
        if (random_p) o.k_lo = o.k_hi = 1;  // p in [0.5, 1); the k array is still not passed
        o.seed = static_cast<std::uint64_t>(a * v + b * block + 2 * random_p + offset + static_cast<int>(m));
        INFO(k.spec().canonical() << (random_p ? " p in [0.5, 1)" : " edge p") << " offset=" << offset);
        expect_clean(verify_kernel(k, o));
      }
  });
}

}  // namespace

TEST_CASE("every variant matches the CPU reference", "[gpu]") {
  const std::int64_t vocabs[] = {1, 2, 31, 32000, 50257, 151936, 152064, 262144};
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : vocabs)
      for (MaskKind m : {MaskKind::None, MaskKind::Bool, MaskKind::Bits})
        for (int block : {256, 512}) {
          Kernel k = runtime().prepare(make(d, v, block, m), 0);
          tally().variants++;
          VerifyOptions o;
          o.batch = 24;
          o.seed = static_cast<std::uint64_t>(v) * 7 + static_cast<std::uint64_t>(block) + static_cast<std::uint64_t>(m);
          expect_clean(verify_kernel(k, o));
          o.batch = 6;
          o.row_stride = v + 13;  // stride > V: the padding must stay untouched
          o.seed += 1;
          expect_clean(verify_kernel(k, o));
        }
}

TEST_CASE("every cluster size matches the CPU reference", "[gpu]") {
  for (DType d : {DType::F32, DType::BF16})
    for (std::int64_t v : {std::int64_t{32000}, std::int64_t{50257}, std::int64_t{262144}})
      for (int c : {1, 2, 4, 8, 16})
        for (MaskKind m : {MaskKind::Bits}) {
          const std::optional<Kernel> variant = cluster_variant(d, v, c, m);
          if (!variant) continue;
          const Kernel& k = *variant;
          VerifyOptions o;
          o.batch = 12;
          o.seed = static_cast<std::uint64_t>(v) * 3 + static_cast<std::uint64_t>(c);
          INFO(k.spec().canonical());
          expect_clean(verify_kernel(k, o));
          o.batch = 4;
          o.row_stride = v + 13;
          o.seed += 1;
          o.with_top_k = false;  // top-p alone takes the radix path over the whole row
          expect_clean(verify_kernel(k, o));
        }
}

TEST_CASE("an auto module runs each of its row kernels, and each matches the CPU reference", "[gpu]") {
  // Auto modules hold up to five row kernels (16-, 8-, 4- and, where its slice fits, 2-CTA
  // clusters, and one CTA per row; short rows 8, 4, 2 and 1); the batch picks one. Each batch
  // below is checked on the kernel that row_cluster() says ran, and every kernel of the module
  // must have run, with top-p alone and with k and p; on short rows with k and p only the one-CTA
  // kernel.
  const int sms = runtime().device_info(0).sm_count;
  for (auto [d, v] : {std::pair{DType::F32, std::int64_t{151936}}, std::pair{DType::F32, std::int64_t{262144}},
                      std::pair{DType::BF16, std::int64_t{262144}}, std::pair{DType::F16, std::int64_t{128256}},
                      std::pair{DType::F32, std::int64_t{50257}}, std::pair{DType::F32, std::int64_t{32000}},
                      std::pair{DType::BF16, std::int64_t{32000}}})
    for (MaskKind m : {MaskKind::None, MaskKind::Bits}) {
      Kernel k = runtime().prepare(make(d, v, 512, m), 0);
      tally().variants++;
      const std::vector<int> clusters = k.spec().row_clusters();
      const bool short_rows = k.spec().short_rows();
      const bool long_pair = !short_rows && std::count(clusters.begin(), clusters.end(), 2) == 1;
      for (bool with_k : {true, false}) {
        std::set<int> ran;
        // 1, 3, 6, 9, 17, 26, 44, 60 and 132 rows on 132 SMs.
        for (std::int64_t b : {std::int64_t{1}, std::int64_t{3}, std::max<std::int64_t>(1, sms / 22),
                               std::int64_t{sms / 16 + 1}, std::int64_t{sms / 8 + 1},
                               std::max<std::int64_t>(1, sms / 5), std::max<std::int64_t>(1, sms / 3),
                               std::max<std::int64_t>(1, sms * 5 / 11), std::int64_t{sms}}) {
          const int c = k.row_cluster(b, with_k, true);
          CHECK(std::find(clusters.begin(), clusters.end(), c) != clusters.end());
          if (with_k && long_pair && b * 11 > 2 * sms && b * 2 <= sms) CHECK(c == 2);
          if (with_k && short_rows) CHECK(c == 1);
          if (!ran.insert(c).second && b > 3) continue;  // each kernel at two batches at most
          VerifyOptions o;
          o.batch = b;
          o.with_top_k = with_k;
          o.row_stride = v + (b % 2 ? 5 : 0);
          o.seed = static_cast<std::uint64_t>(v + b * 31 + c);
          INFO(k.spec().canonical() << " B=" << b << " cluster " << c << (with_k ? " k and p" : " top-p alone"));
          expect_clean(verify_kernel(k, o));
        }
        std::set<int> expected(clusters.begin(), clusters.end());
        if (with_k && short_rows) expected = {1};
        INFO(k.spec().canonical() << (with_k ? " k and p" : " top-p alone"));
        CHECK(ran == expected);
      }
    }
}

TEST_CASE("one CTA per row streams 16-byte chunks from any start, stride and vocabulary", "[gpu]") {
  // Rows that start off a 16-byte boundary (a base offset, or a stride that is not a multiple of
  // 16 bytes) and vocabularies that end mid-chunk take the scalar edges; padding and the elements
  // before row 0 hold a large marker that must neither be read into the result nor written.
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{4097}, std::int64_t{50257}, std::int64_t{151936}})
      for (MaskKind m : {MaskKind::None, MaskKind::Bits}) {
        Kernel k = runtime().prepare(make(d, v, 512, m, 1), 0);
        tally().variants++;
        for (std::int64_t offset : {0, 1, 3, 7})
          for (std::int64_t pad : {0, 1, 6}) {
            VerifyOptions o;
            o.batch = 5;
            o.base_offset = offset;
            o.row_stride = v + pad;
            o.seed = static_cast<std::uint64_t>(v + 11 * offset + pad);
            o.with_top_k = pad != 6;  // also top-p alone, the mass window
            INFO(k.spec().canonical() << " offset=" << offset << " stride=" << o.row_stride);
            expect_clean(verify_kernel(k, o));
          }
      }
}

TEST_CASE("one CTA per row collects top-k candidates during its first pass", "[gpu]") {
  // One-CTA kernels of 256 threads or more whose threads read at least 24 chunks of the row collect
  // the candidates of k <= 1024 while counting, with a threshold raised after the first eighth and
  // at the half, and collect the first eighth and the unaligned edges afterwards (bf16 at
  // V = 100003 with 1024 threads does not qualify: the gather pass). k in [1, 64] keeps the list
  // short; k in [200, 256] fills it more; grammar rows hold fewer than k candidates in the first
  // eighth, and ties rows overflow the list (both then run the gather pass); k in [1, 1024] mixes
  // every kind of row, large k overflowing more often. The final pass then writes the listed
  // tokens only (bool mask: cleared, then set). Odd vocabularies end mid-chunk; misaligned rows
  // start mid-chunk.
  for_each_one_cta_variant([](const Kernel& k, std::int64_t v, int block, MaskKind m) {
    for (auto [k_lo, k_hi] : {std::pair{1, 64}, std::pair{200, 256}, std::pair{1, 1024}})
      for (std::int64_t offset : {0, 3}) {
        VerifyOptions o = one_cta_options(v, offset);
        o.k_lo = k_lo;
        o.k_hi = k_hi;
        o.with_top_p = offset == 0;  // misaligned rows run top-k alone
        o.seed = static_cast<std::uint64_t>(v + 31 * block + k_hi + offset + static_cast<int>(m));
        INFO(k.spec().canonical() << " k in [" << k_lo << ", " << k_hi << "] offset=" << offset);
        expect_clean(verify_kernel(k, o));
      }
  });
}

TEST_CASE("one CTA per row tells hits past the first eighth by a float compare, at every edge value", "[gpu]") {
  // Past the first eighth, pass 1 of the 16-bit collecting kernels compares each token's value,
  // as a float, with the lowest value of the k-th token's bin so far, and counts the tokens below
  // it without their keys unless their chunk holds an inf or a NaN (fp32 computes every key).
  // Rows of edge values (+-0, subnormals, bin edges and their neighbours, NaN of both signs,
  // -inf, +inf) spread over a peaked row, with k anywhere in [1, 1024] and in [1, 64], rows
  // aligned and not, for every dtype.
  for_each_one_cta_variant([](const Kernel& k, std::int64_t v, int block, MaskKind m) {
    for (auto [k_lo, k_hi] : {std::pair{1, 64}, std::pair{1, 1024}})
      for (std::int64_t offset : {0, 3}) {
        VerifyOptions o = one_cta_options(v, offset);
        o.kinds = {work::RowKind::Specials};
        o.k_lo = k_lo;
        o.k_hi = k_hi;
        o.with_top_p = offset == 0;
        o.seed = static_cast<std::uint64_t>(3 * v + 17 * block + k_hi + offset + static_cast<int>(m));
        INFO(k.spec().canonical() << " specials, k in [" << k_lo << ", " << k_hi << "] offset=" << offset);
        expect_clean(verify_kernel(k, o));
      }
  });
}

TEST_CASE("one CTA per row lists the kept set of top-p alone", "[gpu]") {
  // Top-p alone (one CTA, blocks under 1024 threads) gathers the tokens of the mass-window bins
  // above the cut's and of the cut's bin when they fit in the 4096-entry list, sorts the cut's
  // bin alone, and the final pass then writes the listed tokens only. Flat rows, ties rows whose
  // top level holds thousands and p near 1 on a wide body overflow the list and mask by reading
  // the row, as 1024-thread blocks always do; peaked and grammar rows list. Edge p values (NaN,
  // <= 0, tiny, 0.5, 0.9, 0.999, >= 1) and p in [0.5, 1), with no k array passed.
  verify_top_p_alone_one_cta({}, 7, 13);
}

TEST_CASE("top-p alone picks the tokens of its mass bins by value, at every bin edge", "[gpu]") {
  // One CTA per row finds the lowest value of the cut's mass bin (and of the bin above it) by a
  // binary search over keys, then lists the kept set (or gathers the cut's bin) by comparing
  // values with it, and the final pass over the row keeps tokens by comparing values with the
  // cut's. A tenth of each row sits exactly on a bin's lowest value or one step below it
  // (work::RowKind::MassEdges), so a search or a compare off by one value would keep or drop a
  // token at the cut. The same p values as above.
  verify_top_p_alone_one_cta({work::RowKind::MassEdges}, 5, 11);
}

TEST_CASE("cluster kernels stage rows from any start and stride, and gather few or many candidates", "[gpu]") {
  // The slices are staged with 16-byte loads when the row is aligned and element loads when not;
  // without a mask the final pass writes whole chunks (aligned) or elements. k in [1600, 4000]: on
  // the rows whose k-th token lies in the key window (the N(0, 2) kind), 1600-4100 candidates are
  // gathered, more than fit beside the window totals (the exchanged-offsets path); top-k alone
  // gathers the k-th token's first-digit bin, at V = 151936 up to a few thousand tokens.
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{50257}, std::int64_t{151936}})
      for (int c : {2, 8, 16})
        for (MaskKind m : {MaskKind::None, MaskKind::Bits}) {
          const std::optional<Kernel> variant = cluster_variant(d, v, c, m);
          if (!variant) continue;
          const Kernel& k = *variant;
          for (std::int64_t offset : {0, 3})
            for (std::int64_t pad : {0, 5}) {
              VerifyOptions o;
              o.batch = 4;
              o.base_offset = offset;
              o.row_stride = v + pad;
              o.seed = static_cast<std::uint64_t>(v + 17 * offset + pad + c);
              INFO(k.spec().canonical() << " offset=" << offset << " stride=" << o.row_stride);
              expect_clean(verify_kernel(k, o));
              o.with_top_k = false;  // top-p alone: the mass window
              o.seed += 1;
              expect_clean(verify_kernel(k, o));
            }
          VerifyOptions many;
          many.batch = 6;
          many.k_lo = 1600;
          many.k_hi = 4000;
          many.seed = static_cast<std::uint64_t>(v + c);
          INFO(k.spec().canonical() << " k in [1600, 4000]");
          expect_clean(verify_kernel(k, many));
          many.with_top_p = false;
          many.seed += 1;
          INFO(k.spec().canonical() << " k in [1600, 4000], top-k alone");
          expect_clean(verify_kernel(k, many));
        }
}

TEST_CASE("top-k alone sorts only the bin of its k-th token", "[gpu]") {
  // Without top-p the tokens above the k-th token's bin are kept in any order, so only that bin is
  // sorted: one CTA per row splits its list (collected in pass 1 for k <= 1024, else gathered)
  // into the bin, sorted, and the tokens above it, and still lists the kept set; cluster rows
  // build the first-digit histogram in their staging pass and gather that bin alone, from every
  // CTA of the cluster. k in [1, 64]: short lists, usually collected; [200, 1024]: up to a
  // thousand tokens above the cut's bin, and first-digit bins of hundreds (past 256 the bitonic
  // sort; cluster bins past the quick gather's 1536 slots exchange their shares first);
  // [1600, 4000]: one CTA's lists pass 4096 entries and take the radix path, as cluster bins of
  // more than 4096 tokens do. Grammar rows hold fewer than k tokens for the larger k (no cut), and
  // ties and grammar rows put whole bins of one key at the cut (ties broken by index).
  const std::pair<int, int> ks[] = {{1, 64}, {200, 1024}, {1600, 4000}};
  for_each_one_cta_variant([&](const Kernel& k, std::int64_t v, int block, MaskKind m) {
    for (auto [k_lo, k_hi] : ks)
      for (std::int64_t offset : {0, 3}) {
        VerifyOptions o = one_cta_options(v, offset);
        o.k_lo = k_lo;
        o.k_hi = k_hi;
        o.with_top_p = false;
        o.seed = static_cast<std::uint64_t>(3 * v + 11 * block + k_hi + offset + static_cast<int>(m));
        INFO(k.spec().canonical() << " top-k alone, k in [" << k_lo << ", " << k_hi << "] offset=" << offset);
        expect_clean(verify_kernel(k, o));
      }
  });
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{32000}, std::int64_t{151936}})
      for (int c : {2, 4, 8, 16}) {
        const std::optional<Kernel> variant = cluster_variant(d, v, c, MaskKind::Bits);
        if (!variant) continue;
        const Kernel& k = *variant;
        for (auto [k_lo, k_hi] : ks) {
          VerifyOptions o;
          o.batch = 12;
          o.k_lo = k_lo;
          o.k_hi = k_hi;
          o.with_top_p = false;
          o.seed = static_cast<std::uint64_t>(5 * v + 7 * c + k_hi);
          INFO(k.spec().canonical() << " top-k alone, k in [" << k_lo << ", " << k_hi << "]");
          expect_clean(verify_kernel(k, o));
        }
      }
}

TEST_CASE("cluster rows whose k-th token lies below the key window", "[gpu]") {
  // The key window spans the 8 octaves below a row's max. Short peaked rows (an N(-4, 2) body) hold
  // about 2% of their tokens there, grammar rows a tenth of that and +inf rows only the +inf
  // tokens, so k in [500, 1100] at V = 32000-50257 puts most cuts below it: rows with top-p then
  // take the radix select. Top-k alone no longer uses the window (its staging pass builds the
  // first-digit histogram), and is checked here on the same rows; rows of a few tie levels put
  // tens of thousands of tokens in the k-th token's bin, past the 4096-entry list, and take the
  // radix select too.
  const std::pair<int, int> ks[] = {{500, 1100}, {60, 400}};
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{32000}, std::int64_t{50257}})
      for (int c : {2, 4, 8, 16}) {
        const std::optional<Kernel> variant = cluster_variant(d, v, c, MaskKind::Bits);
        if (!variant) continue;
        const Kernel& k = *variant;
        for (auto [k_lo, k_hi] : ks)
          for (bool with_p : {true, false}) {
            VerifyOptions o;
            o.batch = 16;
            o.k_lo = k_lo;
            o.k_hi = k_hi;
            o.with_top_p = with_p;
            o.seed = static_cast<std::uint64_t>(13 * v + 7 * c + k_hi + (with_p ? 1 : 0));
            INFO(k.spec().canonical() << " k in [" << k_lo << ", " << k_hi << "]"
                                      << (with_p ? " with top-p" : " alone"));
            expect_clean(verify_kernel(k, o));
          }
      }
}

TEST_CASE("batch sizes from 1 to 4096", "[gpu]") {
  for (auto spec : {make(DType::BF16, 32000, 512, MaskKind::None), make(DType::F32, 151936, 512, MaskKind::Bits),
                    make(DType::F32, 151936, 512, MaskKind::Bits, 1)}) {
    Kernel k = runtime().prepare(spec, 0);
    for (std::int64_t b : {1, 2, 7, 64, 133, 1000, 4096}) {
      VerifyOptions o;
      o.batch = b;
      o.seed = static_cast<std::uint64_t>(b);
      o.check_every = b >= 1000 ? 7 : 1;
      INFO(spec.canonical() << " B=" << b);
      expect_clean(verify_kernel(k, o));
    }
  }
}

TEST_CASE("top-k only, top-p only and neither (null parameter arrays)", "[gpu]") {
  for (auto spec : {make(DType::BF16, 151936, 256, MaskKind::Bool), make(DType::F16, 50257, 512, MaskKind::Bits)}) {
    Kernel k = runtime().prepare(spec, 0);
    for (int mode = 0; mode < 3; ++mode) {
      VerifyOptions o;
      o.batch = 32;
      o.seed = 100 + static_cast<std::uint64_t>(mode);
      o.with_top_k = mode != 1;
      o.with_top_p = mode != 0;
      if (mode == 2) o.with_top_k = o.with_top_p = false;
      expect_clean(verify_kernel(k, o));
    }
  }
}

TEST_CASE("B*V beyond 2^31 elements uses 64-bit offsets", "[gpu]") {
  const std::int64_t V = 32000;
  const std::int64_t B = (std::int64_t{1} << 31) / V + 100;  // the last rows start past element 2^31
  REQUIRE(B * V > (std::int64_t{1} << 31));
  Kernel k = runtime().prepare(make(DType::F16, V, 512, MaskKind::Bits), 0);
  VerifyOptions o;
  o.batch = B;
  o.distinct_rows = 61;
  o.check_every = 997;
  o.seed = 31;
  expect_clean(verify_kernel(k, o));
}

TEST_CASE("B = 0 is a no-op and bad launch arguments are rejected", "[gpu]") {
  Kernel k = runtime().prepare(make(DType::F32, 32000, 512, MaskKind::Bits), 0);
  detail::Stream s;
  CHECK_NOTHROW(k.launch(s.get(), 0, 32000, 0, 0, 0, 0));
  detail::DeviceBuffer buf(32000 * 4 * 2), mask(1000 * 4 * 2);
  auto expect_invalid = [](auto&& f, const char* needle) {
    try {
      f();
      FAIL("expected an InvalidArgument error mentioning " << needle);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  expect_invalid([&] { k.launch(s.get(), buf.get(), 31999, 1, 0, 0, mask.get()); }, "row_stride");
  expect_invalid([&] { k.launch(s.get(), buf.get(), 32000, -1, 0, 0, mask.get()); }, "batch");
  expect_invalid([&] { k.launch(s.get(), buf.get(), 32000, 1, 0, 0, 0); }, "mask_out");
  expect_invalid([&] { k.launch(s.get(), 0, 32000, 1, 0, 0, mask.get()); }, "logits");
  expect_invalid([&] { k.launch(s.get(), buf.get() + 2, 32000, 1, 0, 0, mask.get()); }, "4-byte fp32 element");
  expect_invalid([&] { k.launch(s.get(), buf.get(), 32000, 1, 0, 0, mask.get() + 2); }, "uint32 words");
  Kernel half = runtime().prepare(make(DType::BF16, 32000, 512, MaskKind::None), 0);
  expect_invalid([&] { half.launch(s.get(), buf.get() + 1, 32000, 1, 0, 0, 0); }, "logits");
  CHECK_NOTHROW(half.launch(s.get(), buf.get() + 2, 32000, 1, 0, 0, 0));  // any element boundary is fine
  s.sync();
  Kernel plain = runtime().prepare(make(DType::F32, 32000, 512, MaskKind::None), 0);
  expect_invalid([&] { plain.launch(s.get(), buf.get(), 32000, 1, 0, 0, mask.get()); }, "mask_out");
  expect_invalid([&] { runtime().prepare(make(DType::F32, 32000, 512, MaskKind::None), 4096); }, "device");
}

TEST_CASE("a launch captured in a CUDA graph replays with new parameters", "[gpu]") {
  const std::int64_t V = 128256, B = 16;
  Kernel k = runtime().prepare(make(DType::BF16, V, 512, MaskKind::Bits), 0);
  const auto& cu = detail::driver();
  std::mt19937_64 rng(5);
  std::vector<char> host(static_cast<std::size_t>(B * V) * 2);
  for (std::int64_t r = 0; r < B; ++r) work::fill_row(DType::BF16, work::RowKind::Peaked, V, rng, host.data() + r * V * 2);
  detail::DeviceBuffer logits(host.size()), kb(B * 4), pb(B * 4), mask(static_cast<std::size_t>(B * ((V + 31) / 32)) * 4);
  detail::Stream s;
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  SAMPLEJIT_CU_CALL(cu.streamBeginCapture(s.get(), CU_STREAM_CAPTURE_MODE_GLOBAL));
  k.launch(s.get(), logits.get(), V, B, kb.get(), pb.get(), mask.get());
  SAMPLEJIT_CU_CALL(cu.streamEndCapture(s.get(), &graph));
  SAMPLEJIT_CU_CALL(cu.graphInstantiate(&exec, graph, 0));
  for (int replay = 0; replay < 3; ++replay) {
    const auto params = work::make_params(B, V, rng, replay == 2);
    logits.upload(host.data(), host.size());
    kb.upload(params.top_k.data(), B * 4);
    pb.upload(params.top_p.data(), B * 4);
    SAMPLEJIT_CU_CALL(cu.memsetD8(mask.get(), 0xCD, mask.bytes()));
    SAMPLEJIT_CU_CALL(cu.graphLaunch(exec, s.get()));
    s.sync();
    std::vector<char> out(host.size());
    logits.download(out.data(), out.size());
    for (std::int64_t r = 0; r < B; ++r) {
      std::vector<std::uint8_t> keep(static_cast<std::size_t>(V));
      for (std::int64_t i = 0; i < V; ++i) {
        std::uint16_t b;
        std::memcpy(&b, out.data() + (r * V + i) * 2, 2);
        keep[i] = b != 0xFF80;
      }
      auto err = ref::check_row(DType::BF16, host.data() + r * V * 2, V, {params.top_k[r], params.top_p[r]}, keep.data());
      INFO("replay " << replay << " row " << r << ": " << err.value_or(""));
      CHECK(!err);
      tally().rows++;
      tally().mismatches += err.has_value();
    }
  }
  cu.graphExecDestroy(exec);
  cu.graphDestroy(graph);
}

TEST_CASE("a cache hit loads without calling NVRTC", "[gpu]") {
  const KernelSpec spec = make(DType::BF16, 151936, 512, MaskKind::Bits);
  // The suite's runtime has compiled or fetched this spec into the cache already.
  runtime().prepare(spec, 0);
  Runtime fresh;  // a new process-like runtime over the same cache root
  Kernel k = fresh.prepare(spec, 0);
  CHECK(k.source() == Source::Disk);
  CHECK(fresh.stats().nvrtc_compiles == 0);
  CHECK(fresh.stats().disk_hits == 1);
  Kernel again = fresh.prepare(spec, 0);
  CHECK(fresh.stats().memory_hits == 1);
  CHECK(fresh.stats().loads == 1);
  std::printf("cache hit: %s loaded from disk with %llu NVRTC compiles\n", k.spec().canonical().c_str(),
              static_cast<unsigned long long>(fresh.stats().nvrtc_compiles));
  VerifyOptions o;
  o.batch = 16;
  expect_clean(verify_kernel(k, o));
}
