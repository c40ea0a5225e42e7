// Spec, render, key and compile stages, and the runtime's in-memory cache, without a GPU.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <algorithm>
#include <cstdint>
#include <atomic>
#include <set>
#include <thread>

#include "samplejit/disk_cache.hpp"
#include "samplejit/error.hpp"
#include "samplejit/jit.hpp"
#include "samplejit/samplejit.hpp"

using namespace samplejit;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

KernelSpec spec_of(DType d, std::int64_t v, int b, MaskKind m, std::string arch = "sm_90") {
  KernelSpec s;
  s.dtype = d;
  s.vocab = v;
  s.block = b;
  s.mask = m;
  s.arch = std::move(arch);
  return s;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/samplejit-jit-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("spec canonical text round-trips and bad specs name the field", "[spec]") {
  const KernelSpec s = spec_of(DType::BF16, 151936, 512, MaskKind::Bits);
  CHECK(s.canonical() == "truncate-bf16-v151936-b512-cauto-bitmask-sm_90");
  CHECK(KernelSpec::parse(s.canonical()) == s);
  KernelSpec eight = s;
  eight.cluster = 8;
  CHECK(eight.canonical() == "truncate-bf16-v151936-b512-c8-bitmask-sm_90");
  CHECK(KernelSpec::parse(eight.canonical()) == eight);
  for (auto d : {DType::F32, DType::F16, DType::BF16})
    for (auto m : {MaskKind::None, MaskKind::Bool, MaskKind::Bits}) {
      auto t = spec_of(d, 1, 128, m, "sm_80");
      CHECK(KernelSpec::parse(t.canonical()) == t);
    }
  auto bad = [](const char* text, const char* needle) {
    try {
      KernelSpec::parse(text);
      FAIL("parsed " << text);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  bad("truncate-bf16-v0-b512-c1-bitmask-sm_90", "vocab");
  bad("truncate-bf16-v2147483648-b512-c1-bitmask-sm_90", "2147483648");
  bad("truncate-fp64-v10-b512-c1-bitmask-sm_90", "fp64");
  bad("truncate-bf16-v10-b300-c1-bitmask-sm_90", "300");
  bad("truncate-bf16-v10-b512-c1-bits2-sm_90", "bits2");
  bad("truncate-bf16-v10-b512-c1-bitmask-sm90", "sm90");
  bad("truncate-bf16-v10-b512-c1-bitmask", "spec");
  bad("truncate-bf16-v010-b512-c1-bitmask-sm_90", "canonical");
  bad("truncate-bf16-vx-b512-c1-bitmask-sm_90", "vx");
  bad("truncate-bf16-v32000-b512-c3-bitmask-sm_90", "cluster '3'");
  bad("truncate-bf16-v32000-b512-c0-bitmask-sm_90", "cluster '0'");
  bad("truncate-bf16-v32000-b512-cx-bitmask-sm_90", "cluster 'x'");
  bad("truncate-bf16-v32000-b512-x8-bitmask-sm_90", "cluster field");
  bad("truncate-bf16-v32000-b512-c8-bitmask-sm_80", "sm_90");       // clusters need Hopper
  bad("truncate-fp32-v262144-b512-c2-bitmask-sm_90", "shared memory");  // a 512 KB slice
}

TEST_CASE("the automatic cluster is 16 CTAs for large rows, 8 for short ones, 1 before sm_90", "[spec]") {
  auto c = [](DType d, std::int64_t v, const char* arch = "sm_90") {
    return spec_of(d, v, 512, MaskKind::None, arch).small_batch_cluster();
  };
  CHECK(c(DType::F32, 151936) == 16);
  CHECK(c(DType::BF16, 151936) == 16);
  CHECK(c(DType::F16, 128256) == 16);
  CHECK(c(DType::F32, 262144) == 16);
  CHECK(c(DType::F32, 32000) == 8);  // 128 KB rows: for top-k alone and top-p alone
  CHECK(c(DType::BF16, 32000) == 8);
  KernelSpec sampler = spec_of(DType::F32, 32000, 512, MaskKind::None);
  sampler.kind = Kind::Sample;
  CHECK(sampler.small_batch_cluster() == 1);  // always k and p: one CTA per row
  CHECK(sampler.short_rows());
  CHECK_FALSE(spec_of(DType::F32, 32769, 512, MaskKind::None).short_rows());
  CHECK(c(DType::F32, 32769) == 16);           // just past 128 KB
  CHECK(c(DType::F32, 2000) == 1);             // small rows: one CTA reads them from L2
  CHECK(c(DType::F32, 151936, "sm_80") == 1);  // no clusters before sm_90
  CHECK(c(DType::BF16, 1000000) == 16);        // 125 KB slices
  CHECK(c(DType::F32, 1000000) == 1);          // 250 KB slices do not fit: one CTA per row
  CHECK(c(DType::F32, 100000000) == 1);        // too large to stage
  for (std::int64_t v : {std::int64_t{32000}, std::int64_t{151936}, std::int64_t{262144}})
    for (DType d : {DType::F32, DType::BF16}) {
      const KernelSpec s = spec_of(d, v, 512, MaskKind::None);
      const int cl = s.primary_cluster();
      CHECK(cl > 1);
      CHECK(cluster_shared_bytes(s) <= kClusterSharedHeader + 64 * 1024);
      CHECK(cluster_slice_elements(v, cl) * cl >= v);
      CHECK(cluster_slice_elements(v, cl) % 32 == 0);  // bit-mask words never straddle CTAs
      // The auto module carries the small-batch cluster kernel, smaller clusters for batches
      // that fill the SMs where they fit, and the one-CTA kernel for large batches.
      const auto names = kernel_name_expressions(s);
      const std::vector<int> rows = s.row_clusters();
      REQUIRE(names.size() == rows.size());
      CHECK(rows.front() == cl);
      CHECK(rows.back() == 1);
      for (std::size_t i = 0; i < rows.size(); ++i)
        CHECK_THAT(names[i], Catch::Contains(", " + std::to_string(rows[i]) + ", sj::kMaskNone>"));
    }
  // The smaller clusters: 8, 4 and 2 below the small-batch one, where their larger slices fit.
  auto rows_of = [](DType d, std::int64_t v, Kind kind = Kind::Truncate) {
    KernelSpec s = spec_of(d, v, 512, MaskKind::None);
    s.kind = kind;
    return s.row_clusters();
  };
  CHECK(rows_of(DType::F32, 151936) == std::vector<int>{16, 8, 4, 1});
  CHECK(rows_of(DType::F32, 128256) == std::vector<int>{16, 8, 4, 1});
  CHECK(rows_of(DType::F32, 262144) == std::vector<int>{16, 8, 1});  // a 4-CTA slice is 256 KB
  CHECK(rows_of(DType::BF16, 151936) == std::vector<int>{16, 8, 4, 2, 1});  // a 2-CTA slice: 148 KB
  CHECK(rows_of(DType::BF16, 151936, Kind::Sample) == std::vector<int>{16, 8, 4, 2, 1});
  CHECK(rows_of(DType::F16, 128256) == std::vector<int>{16, 8, 4, 2, 1});
  CHECK(rows_of(DType::F32, 50257) == std::vector<int>{16, 8, 4, 2, 1});
  CHECK(rows_of(DType::BF16, 262144) == std::vector<int>{16, 8, 4, 1});  // a 2-CTA slice is 256 KB
  CHECK(rows_of(DType::F32, 32000) == std::vector<int>{8, 4, 2, 1});  // short rows
  CHECK(rows_of(DType::BF16, 50257) == std::vector<int>{8, 4, 2, 1});
  CHECK(rows_of(DType::F32, 32000, Kind::Sample) == std::vector<int>{1});
  CHECK(rows_of(DType::F32, 2000) == std::vector<int>{1});
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{32000}, std::int64_t{128256}, std::int64_t{151936}, std::int64_t{262144}}) {
      const KernelSpec s = spec_of(d, v, 512, MaskKind::None);
      const std::vector<int> rows = s.row_clusters();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        CHECK(cluster_shared_bytes(s, rows[i]) <= kMaxClusterSharedBytes);
        if (i > 0) CHECK(rows[i] < rows[i - 1]);  // largest first
      }
    }
  // An explicit choice is one kernel of that cluster.
  KernelSpec explicit_one = spec_of(DType::F32, 151936, 512, MaskKind::None);
  explicit_one.cluster = 1;
  CHECK(explicit_one.primary_cluster() == 1);
  CHECK(explicit_one.row_clusters() == std::vector<int>{1});
  CHECK(kernel_name_expressions(explicit_one).size() == 1);
  CHECK(explicit_one.canonical() == "truncate-fp32-v151936-b512-c1-nomask-sm_90");
  explicit_one.cluster = 8;
  CHECK(explicit_one.row_clusters() == std::vector<int>{8});
  // Before sm_90 an auto module is the one-CTA kernel alone.
  CHECK(kernel_name_expressions(spec_of(DType::F32, 151936, 512, MaskKind::None, "sm_80")).size() == 1);
}

TEST_CASE("an auto launch takes the cluster kernel only for the batches where it measured faster", "[spec]") {
  // docs/bench/switch-h100.json.gz, 132 SMs: with k and p, 2-CTA rows lost to one CTA per row at
  // every B measured (4-128) and 4-, 8- and 16-CTA rows won up to B = 24 (16: B = 16, the
  // two-CTAs-per-SM cap); top-k alone kept 2-CTA rows up to B = 64, top-p alone every cluster.
  auto takes = [](int c, std::int64_t rows, bool k_on, bool p_on, int sms = 132) {
    return auto_takes_cluster(c, rows, sms, k_on, p_on);
  };
  for (std::int64_t b : {1, 4, 24, 64, 128}) CHECK_FALSE(takes(2, b, true, true));
  for (int c : {4, 8})
    for (bool p_on : {true, false}) {
      CHECK(takes(c, 1, true, p_on));
      CHECK(takes(c, 24, true, p_on));
      CHECK_FALSE(takes(c, 25, true, p_on));
      CHECK_FALSE(takes(c, 32, true, p_on));
    }
  CHECK(takes(16, 16, true, true));
  CHECK_FALSE(takes(16, 17, true, true));  // 272 CTAs: more than two per SM
  CHECK(takes(2, 1, true, false));         // top-k alone
  CHECK(takes(2, 64, true, false));
  CHECK_FALSE(takes(2, 96, true, false));
  CHECK(takes(2, 64, false, true));  // top-p alone
  CHECK(takes(4, 64, false, true));
  CHECK_FALSE(takes(2, 96, false, true));
  CHECK(takes(8, 66, false, true));  // 528 CTAs: top-p alone is not capped at two per SM
  CHECK_FALSE(takes(8, 67, false, true));
  CHECK_FALSE(takes(8, 34, true, false));  // with k it is: 272 CTAs
  // The limits scale with the SM count; nothing to choose without a cluster, rows or SMs.
  CHECK(takes(8, 12, true, true, 66));
  CHECK_FALSE(takes(8, 13, true, true, 66));
  CHECK_FALSE(takes(1, 1, true, true));
  CHECK_FALSE(takes(8, 0, true, true));
  CHECK_FALSE(takes(8, 1, true, true, 0));
}

TEST_CASE("an auto launch takes the largest cluster whose CTAs leave SMs to spare", "[spec]") {
  // docs/bench/switch-sizes-*-h100.json, 132 SMs, every forced cluster size in every mode.
  auto pick = [](std::vector<int> clusters, std::int64_t rows, bool k_on, bool p_on, int sms = 132) {
    return auto_row_cluster(clusters, rows, sms, k_on, p_on);
  };
  const std::vector<int> fp32_151936 = {16, 8, 4, 1};
  for (bool k_on : {true, false}) {
    CHECK(pick(fp32_151936, 1, k_on, true) == 16);
    CHECK(pick(fp32_151936, 4, k_on, true) == 16);  // 64 CTAs: at most half the SMs
    CHECK(pick(fp32_151936, 5, k_on, true) == 8);
    CHECK(pick(fp32_151936, 8, k_on, true) == 8);
    CHECK(pick(fp32_151936, 9, k_on, true) == 4);
    CHECK(pick(fp32_151936, 16, k_on, true) == 4);
    CHECK(pick(fp32_151936, 24, k_on, true) == 4);  // past half the SMs: the fallback's limits
  }
  // With k, past that: the smallest kernel to B = 48 (docs/bench/sizes-882e111/).
  for (bool p_on : {true, false}) {
    CHECK(pick(fp32_151936, 25, true, p_on) == 4);
    CHECK(pick(fp32_151936, 48, true, p_on) == 4);
    CHECK(pick(fp32_151936, 49, true, p_on) == 1);
    CHECK(pick(fp32_151936, 64, true, p_on) == 1);
  }
  CHECK(pick(fp32_151936, 66, false, true) == 4);  // top-p alone
  CHECK(pick(fp32_151936, 67, false, true) == 1);
  // 2-CTA rows with k and p still lose; a module without a mid kernel chooses as before.
  const std::vector<int> v32000_two = {2, 1};
  CHECK(pick(v32000_two, 1, true, true) == 1);
  CHECK(pick(v32000_two, 33, true, false) == 2);
  CHECK(pick(v32000_two, 64, true, false) == 2);
  CHECK(pick(v32000_two, 96, true, false) == 1);
  // Short rows (switch-sizes-small-h100.json.gz, switch-sizes-all-h100.json.gz, staged-digit/, V = 32000):
  // one CTA per row with k and p; top-p alone 8 CTAs to B = 8, 4 to B = 16, then 2 to B = 66;
  // top-k alone 8 CTAs to B = 8, 4 to B = 24, then 2 to B = 66.
  const std::vector<int> v32000 = {8, 4, 2, 1};
  auto pick_short = [&](std::int64_t rows, bool k_on, bool p_on) {
    return auto_row_cluster(v32000, rows, 132, k_on, p_on, true);
  };
  for (std::int64_t b = 1; b <= 200; ++b) {
    INFO("B = " << b);
    CHECK(pick_short(b, true, true) == 1);
    for (bool k_alone : {true, false}) {
      const int want = b <= 8 ? 8 : b <= (k_alone ? 24 : 16) ? 4 : b <= 66 ? 2 : 1;
      CHECK(pick_short(b, k_alone, !k_alone) == want);
    }
    // Where the old two-kernel module took 2-CTA rows for top-p alone the new one takes 2 or more.
    if (b > 16) CHECK(pick_short(b, false, true) == pick(v32000_two, b, false, true));
  }
  // A two-kernel module chooses exactly as auto_takes_cluster; top-p alone takes its cluster up
  // to B = 66 whatever the size (past two CTAs per SM: fp32 V = 262144, 8-CTA rows).
  for (std::int64_t b = 1; b <= 200; ++b)
    for (int p_on = 0; p_on < 2; ++p_on)
      for (int c : {2, 4, 8, 16}) {
        INFO("c=" << c << " b=" << b << " p=" << p_on);
        // With k, a 4- or 8-CTA kernel also runs past auto_takes_cluster's limit, to B = 48.
        const bool mid = (c == 4 || c == 8) && b <= 48;
        CHECK(pick({c, 1}, b, true, p_on) == (auto_takes_cluster(c, b, 132, true, p_on) || mid ? c : 1));
        CHECK(pick({c, 1}, b, false, true) == (auto_takes_cluster(c, b, 132, false, true) ? c : 1));
        CHECK(pick({c, 1}, b, false, true) == (b <= 66 ? c : 1));
      }
  const std::vector<int> fp32_262144 = {16, 8, 1};
  CHECK(pick(fp32_262144, 48, false, true) == 8);  // 384 CTAs
  CHECK(pick(fp32_262144, 66, false, true) == 8);
  CHECK(pick(fp32_262144, 67, false, true) == 1);
  CHECK(pick(fp32_262144, 24, true, true) == 8);
  CHECK(pick(fp32_262144, 48, true, true) == 8);  // with k: to B = 48 (384 CTAs)
  CHECK(pick(fp32_262144, 49, true, true) == 1);  // 8-CTA rows 1.03x at B = 56 with k and p
  // A long row's 2-CTA kernel runs top-p alone from B = 34 (a quarter of the SMs' rows) to 66
  // (docs/bench/switch-topp-sizes-h100.json), and with k from B = 25, past the 4-CTA kernel's
  // limit, to 66 (docs/bench/sizes-882e111/).
  const std::vector<int> bf16_151936 = {16, 8, 4, 2, 1};
  CHECK(pick(bf16_151936, 4, false, true) == 16);
  CHECK(pick(bf16_151936, 8, false, true) == 8);
  CHECK(pick(bf16_151936, 16, false, true) == 4);
  CHECK(pick(bf16_151936, 33, false, true) == 4);  // 2-CTA rows 1.5x slower at B = 16-24
  CHECK(pick(bf16_151936, 34, false, true) == 2);
  CHECK(pick(bf16_151936, 64, false, true) == 2);
  CHECK(pick(bf16_151936, 66, false, true) == 2);
  CHECK(pick(bf16_151936, 67, false, true) == 1);
  for (std::int64_t b = 1; b <= 200; ++b)
    for (bool p_on : {true, false}) {
      INFO("B = " << b);
      const int with_k = b <= 4 ? 16 : b <= 8 ? 8 : b <= 24 ? 4 : b <= 66 ? 2 : 1;
      CHECK(pick(bf16_151936, b, true, p_on) == with_k);
      if (b <= 24 || b > 66) CHECK(pick(bf16_151936, b, true, p_on) == pick({16, 8, 4, 1}, b, true, p_on));
      if (b < 34 || b > 66) CHECK(pick(bf16_151936, b, false, true) == pick({16, 8, 4, 1}, b, false, true));
    }
  CHECK(pick(bf16_151936, 40, false, true, 264) == 4);  // the limits scale with the SM count
  // One kernel, no choice; nothing to run without rows or SMs.
  CHECK(pick({1}, 1, true, true) == 1);
  CHECK(pick(fp32_151936, 0, true, true) == 1);
  CHECK(pick(fp32_151936, 1, true, true, 0) == 1);
}

TEST_CASE("render output matches the golden file", "[render]") {
  const KernelSpec s = spec_of(DType::BF16, 151936, 512, MaskKind::Bits);
  const fs::path golden = fs::path(SAMPLEJIT_SOURCE_DIR) / "tests/golden" / (s.canonical() + ".cu");
  const std::string out = render(s);
  if (std::getenv("SAMPLEJIT_UPDATE_GOLDEN")) std::ofstream(golden, std::ios::binary) << out;
  REQUIRE(fs::exists(golden));
  CHECK(out == slurp(golden));  // on an intended template change: SAMPLEJIT_UPDATE_GOLDEN=1
  // The rendered unit is the template as written plus one instantiation per row kernel.
  const std::string tpl = slurp(fs::path(SAMPLEJIT_SOURCE_DIR) / "templates/truncate.cuh");
  CHECK(out.find(tpl) != std::string::npos);
  // An auto spec instantiates its row kernels, largest cluster first, one per NVRTC program.
  std::string tail;
  int program = 0;
  for (int c : {16, 8, 4, 2, 1})
    tail += "#if !defined(SJ_PROGRAM) || SJ_PROGRAM == " + std::to_string(program++) +
            "\ntemplate __global__ void sj::truncate_kernel<sj::kBF16, 151936, 512, " + std::to_string(c) +
            ", sj::kMaskBits>(void*, long long, int, const int*, const float*, void*);\n#endif\n";
  CHECK_THAT(out, Catch::EndsWith(tail));
  CHECK(program_count(s) == 5);
  CHECK(entry_programs(s) == std::vector<int>{0, 1, 2, 3, 4});
  KernelSpec sample = s;
  sample.kind = Kind::Sample;  // the same row kernels; the CSR packer goes with the first one
  CHECK(program_count(sample) == 5);
  CHECK(entry_programs(sample) == std::vector<int>{0, 0, 1, 2, 3, 4});
  CHECK(entry_clusters(sample) == std::vector<int>{16, 0, 8, 4, 2, 1});
  CHECK(program_option(2) == "-DSJ_PROGRAM=2");
  CHECK(render(spec_of(DType::F32, 7, 256, MaskKind::None)).find("sj::kF32, 7, 256, 1, sj::kMaskNone") !=
        std::string::npos);
  CHECK(kernel_name_expression(s) == "&sj::truncate_kernel<sj::kBF16, 151936, 512, 16, sj::kMaskBits>");
}

TEST_CASE("key digest is stable and sensitive to every input", "[key]") {
  CompileInputs base;
  base.spec = spec_of(DType::F16, 32000, 256, MaskKind::Bool);
  base.source = "source";
  base.options = {"--a", "--b"};
  base.target = {"sm_90", false};
  base.nvrtc_version = "13.0";
  const std::string d = base.digest();
  CHECK(d.size() == 32);
  CHECK(d.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(base.digest() == d);
  CompileInputs copy = base;
  CHECK(copy.digest() == d);
  std::vector<CompileInputs> variants(8, base);
  variants[0].spec.vocab = 32001;
  variants[1].source = "source ";
  variants[2].options = {"--b", "--a"};
  variants[3].options = {"--a--b"};  // length prefixes keep concatenations apart
  variants[4].target = {"sm_80", false};
  variants[5].target = {"sm_90", true};
  variants[6].nvrtc_version = "13.1";
  variants[7].spec.mask = MaskKind::Bits;
  std::set<std::string> seen{d};
  for (const auto& v : variants) CHECK(seen.insert(v.digest()).second);
  // Real inputs: the canonical options are fixed and ordered, and arch changes the key.
  const auto a = make_compile_inputs(spec_of(DType::F16, 32000, 256, MaskKind::Bool, "sm_90"));
  const auto b = make_compile_inputs(spec_of(DType::F16, 32000, 256, MaskKind::Bool, "sm_80"));
  CHECK(a.digest() == make_compile_inputs(a.spec).digest());
  CHECK(a.digest() != b.digest());
  CHECK(a.options == compile_options(a.target));
  CHECK(std::find(a.options.begin(), a.options.end(), "--ftz=false") != a.options.end());
  CHECK(std::find(a.options.begin(), a.options.end(), "--fmad=false") != a.options.end());
  // The per-program define is added per program, not part of the shared options.
  for (const auto& o : a.options) CHECK(o.rfind("-DSJ_PROGRAM", 0) != 0);
}

TEST_CASE("target choice: cubin for known archs, PTX only for newer devices", "[key]") {
  NvrtcInfo info;
  info.archs = {75, 80, 86, 89, 90, 100, 120};
  CHECK(choose_target("sm_90", info).arch == "sm_90");
  CHECK_FALSE(choose_target("sm_90", info).ptx);
  const Target t = choose_target("sm_130", info);
  CHECK(t.ptx);
  CHECK(t.arch == "compute_120");
  CHECK_THROWS_WITH(choose_target("sm_50", info), Catch::Contains("sm_50"));
}

TEST_CASE("compile errors carry the log, the options and the NVRTC version", "[compile]") {
  CompileInputs in = make_compile_inputs(spec_of(DType::F32, 32, 256, MaskKind::None));
  in.source += "\nthis is not C++;\n";
  try {
    compile(in);
    FAIL("compiled broken source");
  } catch (const CompileError& e) {
    CHECK(e.code() == ErrorCode::Compile);
    CHECK_THAT(e.log(), Catch::Contains("error"));
    CHECK_THAT(e.options(), Catch::Contains("--gpu-architecture=sm_90"));
    CHECK(e.nvrtc_version() == nvrtc_info().version());
    CHECK_THAT(e.what(), Catch::Contains("this is not C++") || Catch::Contains("error"));
  }
}

// The sampler's one-CTA kernel runs 1024 threads per SM at 64 registers and spills a few values
// (docs/design.md, "Occupancy"); at one CTA per SM it did not, and took 1.4-1.6x as long at
// B >= 256 (geometric mean per mode and batch). The bound on its stack frame catches a blow-up;
// every other kernel, the cluster kernels of the same module included, must not spill at all.
constexpr int kSamplerStackBytes = 256;

// The spill verdict of a module's kernels (kernel_reports()): empty when every kernel keeps its
// rule.
static std::string spill_failure(const KernelSpec& s, const std::vector<KernelReport>& reports) {
  const std::vector<int> clusters = entry_clusters(s);
  if (reports.size() != clusters.size()) return "no per-kernel ptxas report";
  std::string out;
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    const KernelReport& r = reports[i];
    if (r.registers <= 0 || r.stack_bytes < 0) {
      out += "kernel " + std::to_string(i) + ": no ptxas report; ";
      continue;
    }
    const bool clean = r.spill_stores == 0 && r.spill_loads == 0 && r.stack_bytes == 0;
    const bool bounded = s.kind == Kind::Sample && clusters[i] == 1 && r.stack_bytes <= kSamplerStackBytes;
    if (!clean && !bounded)
      out += "kernel " + std::to_string(i) + " (cluster " + std::to_string(clusters[i]) +
             "): spills " + std::to_string(r.spill_stores) + "/" + std::to_string(r.spill_loads) + " stack " +
             std::to_string(r.stack_bytes) + "; ";
  }
  return out;
}

TEST_CASE("ptxas reports are read kernel by kernel, and the spill rules judge each kernel", "[compile]") {
  KernelSpec s = spec_of(DType::BF16, 151936, 512, MaskKind::None);
  s.kind = Kind::Sample;
  const std::vector<int> clusters = entry_clusters(s);  // auto: 16, the packer, 8, 4, 1
  REQUIRE(clusters.size() == s.row_clusters().size() + 1);
  std::vector<std::string> names;
  std::string log = "ptxas info    : 328 bytes gmem\n";
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    names.push_back("_Zentry" + std::to_string(i));
    const int stack = clusters[i] == 1 ? 72 : 0;  // only the one-CTA sampler spills
    log += "ptxas info    : Compiling entry function '" + names.back() + "' for 'sm_90'\n" +
           "ptxas info    : Function properties for " + names.back() + "\n" + "ptxas         .     " +
           std::to_string(stack) + " bytes stack frame, " + std::to_string(stack) + " bytes spill stores, " +
           std::to_string(stack) + " bytes spill loads\n" + "ptxas info    : Used " + std::to_string(60 + i) +
           " registers, used 1 barriers\n";
  }
  const CompileInputs in = make_compile_inputs(s);
  const auto programs = static_cast<std::size_t>(program_count(s));
  const std::vector<char> payload(2 * programs, 0);
  nlohmann::json meta = {{"lowered_name", names.front()},
                         {"lowered_names", names},
                         {"name_expressions", kernel_name_expressions(s)},
                         {"program_bytes", std::vector<std::size_t>(programs, 2)},
                         {"log", log},
                         {"registers", 60 + static_cast<int>(names.size()) - 1},
                         {"stack_bytes", 72},
                         {"spill_stores", 72},
                         {"spill_loads", 72}};
  std::vector<KernelReport> reports = kernel_reports(from_cache_entry(in, meta, payload));
  REQUIRE(reports.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(reports[i].registers == 60 + static_cast<int>(i));
    CHECK(reports[i].stack_bytes == (clusters[i] == 1 ? 72 : 0));
  }
  CHECK(spill_failure(s, reports) == "");
  // A cluster kernel that spills fails, though the module's maxima are the same.
  reports[0].spill_stores = 4;
  CHECK_THAT(spill_failure(s, reports), Catch::Contains("cluster 16"));
  reports[0].spill_stores = 0;
  // The one-CTA sampler past its bound fails; so does a truncation kernel that spills at all.
  reports.back().stack_bytes = kSamplerStackBytes + 8;
  CHECK_THAT(spill_failure(s, reports), Catch::Contains("cluster 1)"));
  KernelSpec t = s;
  t.kind = Kind::Truncate;
  // Truncation has no packer, and a 2-CTA kernel before the one-CTA one (16, 8, 4, 2, 1).
  std::vector<KernelReport> truncation = {reports[0], reports[2], reports[3], reports[3], reports[4]};
  REQUIRE(truncation.size() == entry_clusters(t).size());
  truncation.back().stack_bytes = 8;
  CHECK_THAT(spill_failure(t, truncation), Catch::Contains("cluster 1)"));
  // An entry point ptxas did not report (PTX, or a log cut short) is not taken as clean.
  meta["log"] = "";
  CHECK_THAT(spill_failure(s, kernel_reports(from_cache_entry(in, meta, payload))),
             Catch::Contains("no ptxas report"));
}

TEST_CASE("each NVRTC program holds its own row kernels, and a cache entry splits back into them", "[compile]") {
  KernelSpec s = spec_of(DType::F32, 128256, 256, MaskKind::None);
  s.kind = Kind::Sample;
  REQUIRE(s.row_clusters() == std::vector<int>{16, 8, 4, 1});
  const Compiled c = compile(make_compile_inputs(s));
  REQUIRE(c.images.size() == 4);
  const std::vector<int> programs = entry_programs(s);  // {0, 0, 1, 2, 3}: the packer with the first kernel
  REQUIRE(c.lowered_names.size() == programs.size());
  const auto holds = [](const std::vector<char>& image, const std::string& name) {
    return std::search(image.begin(), image.end(), name.begin(), name.end()) != image.end();
  };
  for (std::size_t e = 0; e < programs.size(); ++e)
    for (std::size_t p = 0; p < c.images.size(); ++p) {
      INFO("entry " << e << " (" << c.lowered_names[e] << "), program " << p);
      CHECK(holds(c.images[p], c.lowered_names[e]) == (static_cast<int>(p) == programs[e]));
    }
  // The log holds both programs' ptxas reports.
  const std::vector<KernelReport> reports = kernel_reports(c);
  for (const KernelReport& r : reports) CHECK(r.registers > 0);

  const nlohmann::json meta = c.metadata();
  CHECK(meta.at("program_bytes") ==
        std::vector<std::size_t>{c.images[0].size(), c.images[1].size(), c.images[2].size(), c.images[3].size()});
  const Compiled back = from_cache_entry(c.inputs, meta, c.payload());
  CHECK(back.images == c.images);
  CHECK(back.lowered_names == c.lowered_names);
  // Sizes that do not describe the payload, or another program count, are a cache error.
  std::vector<char> short_payload = c.payload();
  short_payload.pop_back();
  CHECK_THROWS_WITH(from_cache_entry(c.inputs, meta, short_payload), Catch::Contains("do not add up"));
  std::vector<char> long_payload = c.payload();
  long_payload.push_back(0);
  CHECK_THROWS_WITH(from_cache_entry(c.inputs, meta, long_payload), Catch::Contains("do not add up"));
  // An empty image, or sizes that wrap around the payload's length, are not a tiling.
  nlohmann::json odd = meta;
  odd["program_bytes"] = std::vector<std::size_t>{0, c.payload().size(), 0, 0};
  CHECK_THROWS_WITH(from_cache_entry(c.inputs, odd, c.payload()), Catch::Contains("do not add up"));
  odd["program_bytes"] =
      std::vector<std::size_t>{c.payload().size() + 1, SIZE_MAX, c.images[2].size(), c.images[3].size()};
  CHECK_THROWS_WITH(from_cache_entry(c.inputs, odd, c.payload()), Catch::Contains("do not add up"));
  nlohmann::json one = meta;
  one["program_bytes"] = std::vector<std::size_t>{c.payload().size()};
  CHECK_THROWS_WITH(from_cache_entry(c.inputs, one, c.payload()), Catch::Contains("holds 1 program image(s)"));
  nlohmann::json none = meta;
  none.erase("program_bytes");
  try {
    (void)from_cache_entry(c.inputs, none, c.payload());
    FAIL("an entry without program sizes was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Cache);
  }
}

// Compiles every spec on all cores; returns how many failed (each failure is logged). A variant
// fails on a compile error, a missing cubin or entry point, or a spill (spill_failure).
static std::size_t compile_all_clean(const std::vector<KernelSpec>& specs) {
  std::vector<std::string> failures(specs.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < specs.size();) {
      try {
        const Compiled c = compile(make_compile_inputs(specs[i]));
        const auto not_elf = [](const std::vector<char>& b) {
          return b.size() < 4 || std::string(b.data(), 4) != "\x7f" "ELF";
        };
        if (c.images.size() != static_cast<std::size_t>(program_count(specs[i]))) failures[i] = "program count";
        else if (std::any_of(c.images.begin(), c.images.end(), not_elf)) failures[i] = "not an ELF cubin";
        else if (c.lowered_names.size() != kernel_name_expressions(specs[i]).size()) failures[i] = "entry points";
        else if (c.registers <= 0) failures[i] = "no ptxas register report";
        else
          failures[i] = spill_failure(specs[i], kernel_reports(c));
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::max(2u, std::thread::hardware_concurrency()); ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (!failures[i].empty()) {
      ++bad;
      UNSCOPED_INFO(specs[i].canonical() << ": " << failures[i]);
    }
  return bad;
}

TEST_CASE("every variant renders and compiles for sm_80 and sm_90 with zero spills", "[compile][matrix]") {
  const std::int64_t vocabs[] = {1, 2, 31, 32000, 50257, 151936, 152064, 262144};
  std::vector<KernelSpec> specs;
  for (const char* arch : {"sm_80", "sm_90"})
    for (DType d : {DType::F32, DType::F16, DType::BF16})
      for (std::int64_t v : vocabs)
        for (MaskKind m : {MaskKind::None, MaskKind::Bool, MaskKind::Bits})
          for (int block : {256, 512}) specs.push_back(spec_of(d, v, block, m, arch));
  CHECK(specs.size() == 288);
  CHECK(compile_all_clean(specs) == 0);
}

TEST_CASE("every cluster size compiles for sm_90 within the spill rules", "[compile][matrix]") {
  std::vector<KernelSpec> specs;
  for (Kind kind : {Kind::Truncate, Kind::Sample})
    for (DType d : {DType::F32, DType::BF16})
      for (std::int64_t v : {std::int64_t{32000}, std::int64_t{151936}, std::int64_t{262144}})
        for (int c : {1, 2, 4, 8, 16}) {
          KernelSpec s = spec_of(d, v, 512, MaskKind::Bits);
          s.kind = kind;
          s.cluster = c;
          if (cluster_shared_bytes(s) > kMaxClusterSharedBytes) continue;  // validate() refuses those
          specs.push_back(s);
        }
  CHECK(specs.size() >= 40);
  CHECK(compile_all_clean(specs) == 0);
}

TEST_CASE("the cache metadata records the module's tuning", "[compile]") {
  for (const char* text : {"truncate-bf16-v151936-b512-cauto-nomask-sm_90", "truncate-fp32-v32000-b512-cauto-bitmask-sm_90",
                           "sample-fp32-v32000-b512-cauto-nomask-sm_90", "truncate-fp32-v151936-b256-c4-nomask-sm_90"}) {
    Compiled c;  // metadata() describes the inputs; no compile needed
    c.inputs = make_compile_inputs(KernelSpec::parse(text));
    const KernelSpec& s = c.inputs.spec;
    const nlohmann::json t = c.metadata().at("tuning");
    INFO(text);
    CHECK(t.at("block") == s.block);
    CHECK(t.at("cluster") == (s.cluster == kAutoCluster ? std::string("auto") : std::to_string(s.cluster)));
    CHECK(t.at("row_clusters").get<std::vector<int>>() == s.row_clusters());
    CHECK(t.at("cluster_shared_bytes").size() == s.row_clusters().size());
    CHECK(t.at("short_rows") == s.short_rows());
  }
  CHECK(make_compile_inputs(KernelSpec::parse("truncate-fp32-v32000-b512-cauto-bitmask-sm_90")).spec.row_clusters() ==
        std::vector<int>{8, 4, 2, 1});
}

TEST_CASE("the runtime compiles a key once however many threads ask, then serves it from memory", "[runtime]") {
  TempDir dir;
  Runtime rt(RuntimeOptions{dir.path, true});
  const KernelSpec s = spec_of(DType::BF16, 4096, 256, MaskKind::Bits);
  std::vector<std::thread> threads;
  std::vector<Source> sources(8);
  for (int t = 0; t < 8; ++t) threads.emplace_back([&, t] { sources[t] = rt.prewarm(s).source; });
  for (auto& t : threads) t.join();
  CHECK(rt.stats().nvrtc_compiles == 1);
  CHECK(std::count(sources.begin(), sources.end(), Source::Compiled) == 1);
  CHECK(std::count(sources.begin(), sources.end(), Source::Memory) == 7);
  // A second runtime over the same root is served from disk without NVRTC.
  Runtime again(RuntimeOptions{dir.path, true});
  CHECK(again.prewarm(s).source == Source::Disk);
  CHECK(again.stats().nvrtc_compiles == 0);
}

TEST_CASE("a corrupted cache entry is recompiled and replaced", "[runtime][cache]") {
  TempDir dir;
  const KernelSpec s = spec_of(DType::F32, 1000, 256, MaskKind::None);
  std::string digest;
  {
    Runtime rt(RuntimeOptions{dir.path, true});
    digest = rt.prewarm(s).digest;
  }
  const fs::path entry = DiskCache(dir.path).entry_path(s, digest);
  REQUIRE(fs::exists(entry));
  const auto original = DiskCache(dir.path).load(s, digest);
  REQUIRE(original.has_value());
  fs::resize_file(entry, fs::file_size(entry) / 2);  // a torn write
  Runtime rt(RuntimeOptions{dir.path, true});
  const PrewarmResult r = rt.prewarm(s);
  CHECK(r.source == Source::Compiled);
  CHECK(rt.stats().nvrtc_compiles == 1);
  const auto rebuilt = DiskCache(dir.path).load(s, digest);  // a whole entry again
  REQUIRE(rebuilt.has_value());
  // NVRTC output is not bit-reproducible across compiles, so compare what keys the entry.
  CHECK(rebuilt->meta.at("digest") == original->meta.at("digest"));
  CHECK(rebuilt->meta.at("lowered_name") == original->meta.at("lowered_name"));
  CHECK(rebuilt->binary.size() > 1000);
}

TEST_CASE("without a GPU, prepare fails with a clear NotAvailable error", "[runtime]") {
  if (fs::exists("/dev/nvidia0")) return;  // only meaningful on a machine with no driver
  Runtime rt(RuntimeOptions{std::nullopt, false});
  try {
    rt.prepare(spec_of(DType::BF16, 32000, 512, MaskKind::None), 0);
    FAIL("prepare succeeded without a GPU");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::NotAvailable);
    CHECK_THAT(e.what(), Catch::Contains("driver"));
  }
}

TEST_CASE("sample variants compile for sm_90 within the spill bound and with every entry point", "[compile][matrix]") {
  for (DType d : {DType::F32, DType::F16, DType::BF16})
    for (std::int64_t v : {std::int64_t{31}, std::int64_t{151936}})
      for (MaskKind m : {MaskKind::None, MaskKind::Bits})
        for (int block : {256, 512}) {
          KernelSpec s = spec_of(d, v, block, m);
          s.kind = Kind::Sample;
          CHECK(KernelSpec::parse(s.canonical()) == s);
          const Compiled c = compile(make_compile_inputs(s));
          INFO(s.canonical());
          CHECK(c.lowered_names.size() == s.row_clusters().size() + 1);
          const std::vector<KernelReport> reports = kernel_reports(c);
          CHECK(spill_failure(s, reports) == "");
          // Each entry point has its own ptxas report, within the module's maxima, and the one-CTA
          // kernel is sized for 1024 threads per SM (64 registers at most).
          REQUIRE(reports.size() == c.lowered_names.size());
          const std::vector<int> clusters = entry_clusters(s);
          for (std::size_t i = 0; i < clusters.size(); ++i) {
            const KernelReport& r = reports[i];
            CHECK(r.registers > 0);
            CHECK(r.registers <= c.registers);
            CHECK(r.stack_bytes <= c.stack_bytes);
            if (clusters[i] == 1) CHECK(r.registers <= 64);
          }
          // A cache entry gives the same reports back (from the log it stores).
          const std::vector<KernelReport> again = kernel_reports(from_cache_entry(c.inputs, c.metadata(), c.payload()));
          REQUIRE(again.size() == reports.size());
          for (std::size_t i = 0; i < reports.size(); ++i) {
            CHECK(again[i].registers == reports[i].registers);
            CHECK(again[i].spill_stores == reports[i].spill_stores);
            CHECK(again[i].stack_bytes == reports[i].stack_bytes);
          }
        }
}
