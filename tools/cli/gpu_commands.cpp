// The CLI commands that need a GPU: verify, truncate, sample, bench (and bench's hidden
// bench-jit-probe child).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "device.hpp"
#include "roofline.hpp"
#include "samplejit/reference.hpp"
#include "verify.hpp"
#include "workloads.hpp"

extern char** environ;  // for posix_spawn: the child gets this process's environment

namespace samplejit::cli {
namespace {

using detail::DeviceBuffer;
using detail::Event;
using detail::Stream;

struct GpuOptions {
  VariantOptions variants;
  int device = 0;
  long long batch = 64;
  unsigned long long seed = 1;
  int k = 50;
  float p = 0.9f;
  float temperature = 1.0f;
  float min_p = 0.0f;
  int reps = 100;
  std::string out;
  std::vector<std::string> modes;
  // bench only (dtypes, vocabs, blocks and model configs live in `variants`)
  std::vector<std::string> param_sets;
  std::vector<long long> batches;
  std::vector<int> clusters;
  int warmup = 3;
  int jobs = 0;         // 0: one compile thread per CPU
  double flush_mb = 0;  // 0: twice the L2
  // bench-jit-probe (hidden; bench spawns it)
  std::string probe_spec, probe_cache_root;
  long long probe_t0_ns = 0;
};

std::vector<KernelSpec> device_variants(Runtime& rt, VariantOptions vo, int device) {
  vo.archs = {rt.device_info(device).arch};
  return expand_variants(vo);
}

int cmd_verify(const GpuOptions& o, bool json) {
  // verify_kernel() checks truncation (kept sets, -inf writes, masks); the sampler's tokens,
  // logprobs and logZ are checked against their float64 reference by samplejit_gpu_tests. Said
  // before the driver is touched, so it reads the same with or without a GPU.
  for (const auto& kind : o.variants.kinds)
    if (kind != "truncate")
      throw_invalid("--kind", kind, "verify checks truncate kernels; samplejit_gpu_tests checks sample kernels");
  Runtime rt;
  std::int64_t rows = 0, mismatches = 0;
  nlohmann::json out = nlohmann::json::array();
  const auto specs = device_variants(rt, o.variants, o.device);
  for (const auto& spec : specs) {
    Kernel k = rt.prepare(spec, o.device);
    VerifyOptions vo;
    vo.batch = o.batch;
    vo.seed = o.seed;
    VerifyReport a = verify_kernel(k, vo);
    vo.row_stride = spec.vocab + 17;  // padded rows must be left alone
    vo.seed = o.seed + 1;
    vo.batch = std::max<long long>(1, o.batch / 4);
    VerifyReport b = verify_kernel(k, vo);
    const auto checked = a.rows_checked + b.rows_checked, bad = a.mismatches + b.mismatches;
    rows += checked;
    mismatches += bad;
    out.push_back({{"spec", spec.canonical()}, {"rows", checked}, {"mismatches", bad}, {"source", to_string(k.source())}});
    if (!json) std::printf("%-48s %-8s rows %6lld  mismatches %lld\n", spec.canonical().c_str(),
                           std::string(to_string(k.source())).c_str(), static_cast<long long>(checked), static_cast<long long>(bad));
    for (const auto& e : a.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    for (const auto& e : b.errors) std::fprintf(stderr, "  %s\n", e.c_str());
  }
  if (json) std::cout << nlohmann::json{{"variants", out}, {"rows", rows}, {"mismatches", mismatches}}.dump(2) << "\n";
  else std::printf("verify: %zu variants, %lld rows, %lld mismatches\n", specs.size(), static_cast<long long>(rows), static_cast<long long>(mismatches));
  return mismatches ? 1 : 0;
}

int cmd_truncate(const GpuOptions& o) {
  VariantOptions vo = o.variants;
  if (vo.masks.empty()) vo.masks = {"nomask"};
  Runtime rt;
  const auto t0 = std::chrono::steady_clock::now();
  const auto specs = device_variants(rt, vo, o.device);
  if (o.batch < 1) throw_invalid("--batch", std::to_string(o.batch), "must be >= 1");
  for (const auto& spec : specs) {
    const auto tp = std::chrono::steady_clock::now();
    Kernel k = rt.prepare(spec, o.device);
    const double prep_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tp).count();
    const std::int64_t V = spec.vocab, B = o.batch;
    const std::size_t es = dtype_size(spec.dtype);
    std::mt19937_64 rng(o.seed);
    std::vector<char> host(static_cast<std::size_t>(B * V) * es);
    for (std::int64_t r = 0; r < B; ++r)
      work::fill_row(spec.dtype, work::RowKind::Peaked, V, rng, host.data() + static_cast<std::size_t>(r * V) * es);
    const auto params = work::fixed_params(B, o.k, o.p);
    DeviceBuffer logits(host.size()), kb(static_cast<std::size_t>(B) * 4), pb(static_cast<std::size_t>(B) * 4);
    logits.upload(host.data(), host.size());
    kb.upload(params.top_k.data(), params.top_k.size() * 4);
    pb.upload(params.top_p.data(), params.top_p.size() * 4);
    const std::size_t mask_bytes = spec.mask == MaskKind::Bool ? static_cast<std::size_t>(B * V)
                                   : spec.mask == MaskKind::Bits ? static_cast<std::size_t>(B * ((V + 31) / 32)) * 4 : 0;
    DeviceBuffer mask(mask_bytes);
    Stream s;
    Event e0, e1;
    // The first launch also loads the module into the context; time the second, on fresh logits.
    k.launch(s.get(), logits.get(), V, B, kb.get(), pb.get(), mask.get());
    s.sync();
    logits.upload(host.data(), host.size());
    e0.record(s.get());
    k.launch(s.get(), logits.get(), V, B, kb.get(), pb.get(), mask.get());
    e1.record(s.get());
    const float ms = e0.ms_until(e1);
    std::vector<char> out(host.size());
    logits.download(out.data(), out.size());
    std::vector<std::int64_t> kept;
    std::int64_t bad = 0;
    for (std::int64_t r = 0; r < B; ++r) {
      const char* row = out.data() + static_cast<std::size_t>(r * V) * es;
      std::vector<std::uint8_t> keep(static_cast<std::size_t>(V));
      std::int64_t n = 0;
      for (std::int64_t i = 0; i < V; ++i) {
        const double x = ref::load_logit(spec.dtype, row, i);
        keep[i] = !(std::isinf(x) && x < 0);
        n += keep[i];
      }
      kept.push_back(n);
      bad += ref::check_row(spec.dtype, host.data() + static_cast<std::size_t>(r * V) * es, V,
                            {params.top_k[r], params.top_p[r]}, keep.data())
                 .has_value();
    }
    std::sort(kept.begin(), kept.end());
    std::printf("%s: %s in %.1f ms; truncated %lld rows (k=%d, p=%.2f) in %.1f us; kept min/median/max %lld/%lld/%lld; "
                "%lld rows differ from the CPU reference\n",
                spec.canonical().c_str(), std::string(to_string(k.source())).c_str(), prep_ms,
                static_cast<long long>(B), o.k, static_cast<double>(o.p), ms * 1000.0, static_cast<long long>(kept.front()),
                static_cast<long long>(kept[kept.size() / 2]), static_cast<long long>(kept.back()), static_cast<long long>(bad));
    if (bad) return 1;
  }
  std::printf("total %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

int cmd_sample(const GpuOptions& o) {
  VariantOptions vo = o.variants;
  if (vo.masks.empty()) vo.masks = {"nomask"};
  Runtime rt;
  auto specs = device_variants(rt, vo, o.device);
  if (o.batch < 1) throw_invalid("--batch", std::to_string(o.batch), "must be >= 1");
  for (auto& spec : specs) {
    spec.kind = Kind::Sample;
    const auto tp = std::chrono::steady_clock::now();
    Kernel k = rt.prepare(spec, o.device);
    const double prep_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tp).count();
    const std::int64_t V = spec.vocab, B = o.batch;
    const std::size_t es = dtype_size(spec.dtype), n = static_cast<std::size_t>(B);
    std::mt19937_64 rng(o.seed);
    std::vector<char> host(n * static_cast<std::size_t>(V) * es);
    for (std::int64_t r = 0; r < B; ++r)
      work::fill_row(spec.dtype, work::RowKind::Peaked, V, rng, host.data() + static_cast<std::size_t>(r * V) * es);
    std::vector<float> temp(n, o.temperature), top_p(n, o.p), min_p(n, o.min_p);
    std::vector<std::int32_t> top_k(n, o.k);
    std::vector<std::uint64_t> seeds(n), offsets(n, 0);
    for (std::size_t r = 0; r < n; ++r) seeds[r] = o.seed * 1000003ull + r;
    DeviceBuffer logits(host.size()), tb(n * 4), kb(n * 4), pb(n * 4), mb(n * 4), sb(n * 8), ob(n * 8), tok(n * 4),
        lz(n * 4), lp(n * 4), kc(n * 4);
    logits.upload(host.data(), host.size());
    tb.upload(temp.data(), n * 4);
    kb.upload(top_k.data(), n * 4);
    pb.upload(top_p.data(), n * 4);
    mb.upload(min_p.data(), n * 4);
    sb.upload(seeds.data(), n * 8);
    ob.upload(offsets.data(), n * 8);
    SampleArgs a;
    a.logits = logits.get();
    a.row_stride = V;
    a.batch = B;
    a.temperature = tb.get();
    a.top_k = kb.get();
    a.top_p = pb.get();
    a.min_p = mb.get();
    a.seed = sb.get();
    a.offset = ob.get();
    a.token32 = tok.get();
    a.logz = lz.get();
    a.logprob = lp.get();
    a.kept_count = kc.get();
    Stream s;
    Event e0, e1;
    k.sample(s.get(), a);  // also loads the module into the context
    s.sync();
    e0.record(s.get());
    k.sample(s.get(), a);
    e1.record(s.get());
    const float ms = e0.ms_until(e1);
    std::vector<std::int32_t> tokens(n), kept(n);
    std::vector<float> logz(n), logprob(n);
    tok.download(tokens.data(), n * 4);
    lz.download(logz.data(), n * 4);
    lp.download(logprob.data(), n * 4);
    kc.download(kept.data(), n * 4);
    std::printf("%s: %s in %.1f ms; sampled %lld rows (T=%.2f k=%d p=%.2f min-p=%.2f) in %.1f us\n",
                spec.canonical().c_str(), std::string(to_string(k.source())).c_str(), prep_ms,
                static_cast<long long>(B), static_cast<double>(o.temperature), o.k, static_cast<double>(o.p),
                static_cast<double>(o.min_p), ms * 1000.0);
    for (std::size_t r = 0; r < std::min<std::size_t>(n, 8); ++r)
      std::printf("  row %zu: token %d  logprob %.4f  logZ %.4f  kept %d\n", r, tokens[r],
                  static_cast<double>(logprob[r]), static_cast<double>(logz[r]), kept[r]);
  }
  return 0;
}

// ---- bench ---------------------------------------------------------------------------------

// What one bench mode launches. The names are the "mode" values in the JSON: keep them stable.
struct BenchMode {
  std::string_view name;
  Kind kind;
  MaskKind mask;
  bool writes_logits;  // restored (untimed) before each call, and the roofline is a copy
  bool top_k, top_p;   // which of the parameter set's arrays the mode passes; the other is off
};
constexpr BenchMode kBenchModes[] = {
    {"truncate", Kind::Truncate, MaskKind::None, true, true, true},
    // k off: the pivot search cannot lean on a small k, so this is the hardest truncate case.
    {"topp", Kind::Truncate, MaskKind::None, true, false, true},
    {"topk", Kind::Truncate, MaskKind::None, true, true, false},
    {"sample", Kind::Sample, MaskKind::None, false, true, true},
    {"sample-bitmask", Kind::Sample, MaskKind::Bits, false, true, true},
    {"sample-inplace", Kind::Sample, MaskKind::None, true, true, true},
};
constexpr std::string_view kModeList = "truncate, topp, topk, sample, sample-bitmask, sample-inplace, all, jit";

const std::vector<DType> kGridDTypes = {DType::F32, DType::BF16, DType::F16};
const std::vector<long long> kGridVocabs = {32000, 128256, 151936, 262144};
const std::vector<long long> kGridBatches = {1, 4, 16, 64, 256, 1024, 4096};
constexpr std::int64_t kGraphMaxBatch = 16;  // graph replay is timed where launch overhead matters
constexpr double kMaxLogitsShareOfFree = 0.4;
constexpr std::int64_t kDistinctRows = 64;  // generated on the host; larger batches repeat them

// Everything the options ask for, checked before any GPU call so that a bad option is reported
// as such even on a machine without one.
struct BenchPlan {
  std::vector<const BenchMode*> modes;
  bool jit = false;
  std::vector<std::string> param_sets;
  std::vector<std::pair<DType, std::int64_t>> pairs;  // (dtype, vocab)
  std::vector<std::int64_t> batches;                  // ascending
  std::vector<int> clusters;
  std::vector<int> blocks;  // empty: the spec's default
};

BenchPlan plan_bench(const GpuOptions& o) {
  BenchPlan plan;
  std::vector<std::string> modes = o.modes.empty() ? std::vector<std::string>{"truncate"} : o.modes;
  for (const auto& m : modes) {
    if (m == "jit") {
      plan.jit = true;
      continue;
    }
    const bool all = m == "all";
    bool known = all;
    for (const BenchMode& bm : kBenchModes)
      if (all || bm.name == m) {
        known = true;
        if (std::find(plan.modes.begin(), plan.modes.end(), &bm) == plan.modes.end()) plan.modes.push_back(&bm);
      }
    if (!known) throw_invalid("--mode", m, fmt::format("expected a comma list of {}", kModeList));
  }
  // Table order is kBenchModes order, whatever order the modes were given in (the pointers all
  // point into that one array, so comparing them is well defined).
  std::sort(plan.modes.begin(), plan.modes.end());

  for (const auto& p : o.param_sets.empty() ? std::vector<std::string>{"fixed", "random"} : o.param_sets) {
    if (p != "fixed" && p != "random") throw_invalid("--params", p, "expected fixed, random or fixed,random");
    if (std::find(plan.param_sets.begin(), plan.param_sets.end(), p) == plan.param_sets.end())
      plan.param_sets.push_back(p);
  }

  const VariantOptions& v = o.variants;
  if (!v.model_configs.empty()) {
    VariantOptions only_configs;  // expand_variants reads the configs and names the bad one
    only_configs.model_configs = v.model_configs;
    only_configs.archs = {"sm_90"};  // any valid arch: only (dtype, vocab) is used
    only_configs.masks = {"nomask"};
    for (const KernelSpec& s : expand_variants(only_configs)) plan.pairs.emplace_back(s.dtype, s.vocab);
  }
  if (v.model_configs.empty() || !v.dtypes.empty() || !v.vocabs.empty()) {
    std::vector<DType> dtypes;
    for (const auto& d : v.dtypes) {
      try {
        dtypes.push_back(parse_dtype(d));
      } catch (const Error&) {
        throw_invalid("--dtype", d, "expected fp32, bf16 or fp16");
      }
    }
    if (dtypes.empty()) dtypes = kGridDTypes;
    const std::vector<long long>& vocabs = v.vocabs.empty() ? kGridVocabs : v.vocabs;
    for (long long vocab : vocabs)
      if (vocab < 1 || vocab > kMaxVocab)
        throw_invalid("--vocab", std::to_string(vocab), fmt::format("must be in [1, {}]", kMaxVocab));
    for (DType d : dtypes)
      for (long long vocab : vocabs) plan.pairs.emplace_back(d, vocab);
  }
  std::vector<std::pair<DType, std::int64_t>> unique_pairs;
  for (const auto& p : plan.pairs)
    if (std::find(unique_pairs.begin(), unique_pairs.end(), p) == unique_pairs.end()) unique_pairs.push_back(p);
  plan.pairs = std::move(unique_pairs);

  for (long long b : o.batches.empty() ? kGridBatches : o.batches) {
    if (b < 1 || b > INT_MAX) throw_invalid("--batch", std::to_string(b), "must be in [1, 2147483647]");
    plan.batches.push_back(b);
  }
  std::sort(plan.batches.begin(), plan.batches.end());
  plan.batches.erase(std::unique(plan.batches.begin(), plan.batches.end()), plan.batches.end());

  plan.clusters = o.clusters.empty() ? std::vector<int>{kAutoCluster} : o.clusters;
  for (int c : plan.clusters)
    if (!is_valid_cluster(c)) throw_invalid("--cluster", std::to_string(c), "expected 0 (auto), 1, 2, 4, 8 or 16");
  for (int b : v.blocks)
    if (!is_valid_block(b)) throw_invalid("--block", std::to_string(b), "expected 128, 256, 512 or 1024");
  plan.blocks = v.blocks;

  if (o.reps < 1) throw_invalid("--reps", std::to_string(o.reps), "must be >= 1");
  if (o.warmup < 0) throw_invalid("--warmup", std::to_string(o.warmup), "must be >= 0");
  if (o.jobs < 0) throw_invalid("--jobs", std::to_string(o.jobs), "must be >= 1 (or 0: one per CPU)");
  if (o.flush_mb < 0) throw_invalid("--flush-mb", std::to_string(o.flush_mb), "must be >= 0 (0: twice the L2)");
  if (plan.modes.empty() && !plan.jit) throw_invalid("--mode", "", "no mode to run");
  return plan;
}

KernelSpec bench_spec(Kind kind, MaskKind mask, DType d, std::int64_t vocab, int cluster, int block,
                      const std::string& arch) {
  KernelSpec s;
  s.kind = kind;
  s.dtype = d;
  s.vocab = vocab;
  s.cluster = cluster;
  if (block) s.block = block;
  s.mask = mask;
  s.arch = arch;
  return s;
}

// Median over `reps` timed calls (after `warmup` untimed ones) of CUDA-event time around `body`.
// Before each call: `restore` (the logits the previous call masked), then an L2 flush, so that
// every call starts from fresh inputs in HBM.
struct Timing {
  CUstream stream = nullptr;
  CUdeviceptr flush = 0;
  std::size_t flush_words = 0;
  int reps = 100, warmup = 3;
};

template <class Restore, class Body>
double median_us(const Timing& t, Restore&& restore, Body&& body) {
  Event a, b;
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(t.reps));
  for (int i = 0; i < t.warmup + t.reps; ++i) {
    restore();
    SAMPLEJIT_CU_CALL(detail::driver().memsetD32Async(t.flush, static_cast<unsigned>(i), t.flush_words, t.stream));
    a.record(t.stream);
    body();
    b.record(t.stream);
    const double x = a.ms_until(b) * 1000.0;
    if (i >= t.warmup) us.push_back(x);
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// Compiles every spec the run will prepare, in parallel, before any timing starts (NVRTC is
// single-threaded per program; serially the default grid would spend minutes compiling).
void prewarm_all(Runtime& rt, const std::vector<KernelSpec>& specs, int jobs, std::FILE* log) {
  if (specs.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  if (jobs == 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  jobs = std::min<int>(jobs, static_cast<int>(specs.size()));
  std::atomic<std::size_t> next{0};
  std::atomic<int> compiled{0};
  std::mutex mu;
  std::exception_ptr first_error;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < specs.size();) {
      try {
        if (rt.prewarm(specs[i]).source == Source::Compiled) compiled++;
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first_error) first_error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < jobs; ++j) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  if (first_error) std::rethrow_exception(first_error);
  std::fprintf(log, "prewarmed %zu kernel variants (%d compiled, the rest cache hits) in %.1f s with %d threads\n",
               specs.size(), compiled.load(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), jobs);
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm g{};
  gmtime_r(&now, &g);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &g);
  return buf;
}

std::string human_bytes(double b) {
  return b >= 1e9 ? fmt::format("{:.2f} GB", b / 1e9) : fmt::format("{:.1f} MB", b / 1e6);
}

// ---- JIT cost --------------------------------------------------------------------------------

std::int64_t steady_ns() {
  // steady_clock is CLOCK_MONOTONIC on Linux: one clock for the whole machine, so a child
  // process can subtract the parent's reading.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ProbeRun {
  double wall_ms = 0;  // parent: just before posix_spawn -> child reaped
  int status = -1;     // exit status; -1: did not exit normally
  std::string out;
};

// Runs this executable's hidden `bench-jit-probe` command and collects its stdout.
ProbeRun spawn_probe(const std::string& spec, const std::filesystem::path& cache_root, int device) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw Error(ErrorCode::Internal, fmt::format("bench: pipe2 failed: {}", std::strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);  // dup2 drops O_CLOEXEC on fd 1
  std::vector<std::string> args = {
      exe,        "bench-jit-probe",      "--spec",  spec, "--cache-root", cache_root.string(),
      "--device", std::to_string(device), "--t0-ns", ""};
  const std::int64_t t0 = steady_ns();
  args.back() = std::to_string(t0);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw Error(ErrorCode::Internal, fmt::format("bench: cannot spawn {}: {}", exe, std::strerror(rc)));
  }
  ProbeRun r;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    r.out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.wall_ms = static_cast<double>(steady_ns() - t0) / 1e6;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The child side: cuInit, context, prepare from the warm cache, first launch. Prints one JSON line.
int cmd_jit_probe(const GpuOptions& o) {
  const std::int64_t t_cmd = steady_ns();
  const KernelSpec spec = KernelSpec::parse(o.probe_spec);
  const auto& cu = detail::driver();  // dlopen libcuda + cuInit
  const std::int64_t t_init = steady_ns();
  Runtime rt(RuntimeOptions{std::filesystem::path(o.probe_cache_root), true});
  rt.device_info(o.device);  // retains and binds the primary context
  const std::int64_t t_ctx = steady_ns();
  Kernel k = rt.prepare(spec, o.device);
  const std::int64_t t_ready = steady_ns();
  // An engine has its buffers already; allocate them outside the steps that count.
  Stream s;
  DeviceBuffer logits(static_cast<std::size_t>(spec.vocab) * dtype_size(spec.dtype)), tok(4);
  SAMPLEJIT_CU_CALL(cu.memsetD8(logits.get(), 0, logits.bytes()));
  const std::int64_t t_buffers = steady_ns();
  // With lazy module loading the module reaches the context only on first launch: count it.
  if (spec.kind == Kind::Truncate) {
    k.launch(s.get(), logits.get(), spec.vocab, 1, 0, 0, 0);
  } else {
    SampleArgs a;
    a.logits = logits.get();
    a.row_stride = spec.vocab;
    a.batch = 1;
    a.token32 = tok.get();
    k.sample(s.get(), a);
  }
  s.sync();
  const std::int64_t t_launch = steady_ns();
  auto ms = [](std::int64_t a, std::int64_t b) { return static_cast<double>(b - a) / 1e6; };
  const std::int64_t t0 = o.probe_t0_ns;
  const nlohmann::json j{
      {"spec", k.spec().canonical()},
      {"source", to_string(k.source())},
      {"nvrtc_compiles", rt.stats().nvrtc_compiles},
      // A warm start keys from the NVRTC stamp and leaves libnvrtc unloaded (src/toolchain.hpp).
      {"nvrtc_loaded", detail::nvrtc_resident()},
      {"since_spawn_ms", {{"command", ms(t0, t_cmd)}, {"ready", ms(t0, t_ready)}, {"first_launch", ms(t0, t_launch)}}},
      {"steps_ms",
       {{"cuinit", ms(t_cmd, t_init)},
        {"context", ms(t_init, t_ctx)},
        {"prepare", ms(t_ctx, t_ready)},
        {"first_launch", ms(t_buffers, t_launch)}}}};
  std::cout << j.dump() << std::endl;
  return 0;
}

// Cold compile, warm in-process load, and warm process start, per truncate and sample variant of
// the grid's (dtype, vocab) pairs, against a fresh cache directory.
nlohmann::json run_jit_bench(const GpuOptions& o, const BenchPlan& plan, const DeviceInfo& dev, std::FILE* out) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "samplejit-bench-jit-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw Error(ErrorCode::Cache, fmt::format("bench: cannot create a temporary cache under {}: {}",
                                              fs::temp_directory_path().string(), std::strerror(errno)));
  const fs::path root = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{root};

  std::vector<KernelSpec> specs;
  for (const auto& [d, vocab] : plan.pairs)
    for (Kind kind : {Kind::Truncate, Kind::Sample}) {
      KernelSpec s = bench_spec(kind, MaskKind::None, d, vocab, plan.clusters.front(),
                                plan.blocks.empty() ? 0 : plan.blocks.front(), dev.arch);
      try {
        s.validate();
        specs.push_back(s);
      } catch (const Error& e) {
        std::fprintf(out, "note: jit: skipping %s: %s\n", s.canonical().c_str(), e.what());
      }
    }
  nlohmann::json rows = nlohmann::json::array();
  std::fprintf(out, "\nJIT cost (cache %s, removed afterwards; CUDA_CACHE_DISABLE=%s)\n", root.string().c_str(),
               std::getenv("CUDA_CACHE_DISABLE") ? std::getenv("CUDA_CACHE_DISABLE") : "unset");
  std::fprintf(out,
               "| spec | cold s | warm in-process ms | child prepare ms | child loaded NVRTC | spawn->ready ms | "
               "spawn->1st launch ms | child wall ms |\n"
               "|---|---:|---:|---:|---|---:|---:|---:|\n");
  {
    // Separate runtimes: each starts with empty in-memory caches, so the first sees only an empty
    // directory (NVRTC compile + load) and the second only the files the first wrote (disk hit).
    Runtime cold(RuntimeOptions{root, true});
    cold.device_info(o.device);  // context setup is not part of a variant's cost
    std::vector<double> cold_s, warm_ms;
    std::vector<std::string> cold_src, warm_src;
    for (const KernelSpec& s : specs) {
      const auto t = std::chrono::steady_clock::now();
      Kernel k = cold.prepare(s, o.device);
      cold_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
      cold_src.emplace_back(to_string(k.source()));
    }
    Runtime warm(RuntimeOptions{root, true});
    warm.device_info(o.device);
    for (const KernelSpec& s : specs) {
      const auto t = std::chrono::steady_clock::now();
      Kernel k = warm.prepare(s, o.device);
      warm_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      warm_src.emplace_back(to_string(k.source()));
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const std::string name = specs[i].canonical();
      nlohmann::json row{{"spec", name},
                         {"cold_s", cold_s[i]},
                         {"cold_source", cold_src[i]},
                         {"warm_ms", warm_ms[i]},
                         {"warm_source", warm_src[i]}};
      const ProbeRun p = spawn_probe(name, root, o.device);
      nlohmann::json proc{{"wall_ms", p.wall_ms}, {"exit_status", p.status}};
      // The child's result is its last line that starts with '{'.
      std::string line;
      for (std::size_t pos = 0; pos < p.out.size();) {
        const std::size_t nl = p.out.find('\n', pos);
        std::string l = p.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (!l.empty() && l.front() == '{') line = std::move(l);
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
      try {
        if (p.status != 0) throw std::runtime_error(fmt::format("exit status {}", p.status));
        const auto child = nlohmann::json::parse(line);
        for (const auto& [key, value] : child.items()) proc[key] = value;
      } catch (const std::exception& e) {
        proc["error"] = e.what();
      }
      row["process"] = proc;
      auto num = [&](const char* a, const char* b) {
        return proc.contains(a) && proc[a].contains(b) ? fmt::format("{:.1f}", proc[a][b].get<double>())
                                                       : std::string("-");
      };
      const std::string loaded =
          proc.contains("nvrtc_loaded") ? (proc["nvrtc_loaded"].get<bool>() ? "yes" : "no") : std::string("-");
      std::fprintf(out, "| %s | %.2f (%s) | %.2f (%s) | %s | %s | %s | %s | %.1f |\n", name.c_str(), cold_s[i],
                   cold_src[i].c_str(), warm_ms[i], warm_src[i].c_str(), num("steps_ms", "prepare").c_str(),
                   loaded.c_str(), num("since_spawn_ms", "ready").c_str(),
                   num("since_spawn_ms", "first_launch").c_str(), p.wall_ms);
      std::fflush(out);
      rows.push_back(std::move(row));
    }
  }
  double max_cold = 0, max_warm = 0;
  for (const auto& r : rows) {
    max_cold = std::max(max_cold, r["cold_s"].get<double>());
    max_warm = std::max(max_warm, r["warm_ms"].get<double>());
  }
  return {{"nvrtc", nvrtc_info().version()},
          {"max_cold_s", max_cold},
          {"max_warm_ms", max_warm},
          {"variants", rows},
          {"notes",
           "cold_s: prepare() against an empty cache directory (render, NVRTC compile, cache write, load). "
           "warm_ms: prepare() by a second Runtime in the same process (disk hit, load). process: a fresh "
           "`samplejit bench-jit-probe` process; since_spawn_ms is measured from just before posix_spawn, "
           "steps_ms inside the child; first_launch includes the lazy module load; nvrtc_loaded: whether the child "
           "had libnvrtc mapped when its kernel was ready (a warm start keys from the NVRTC stamp). The run sets "
           "CUDA_CACHE_DISABLE=1, so the CUDA compute cache cannot serve a cold compile."}};
}

// ---- the timing grid ---------------------------------------------------------------------------

int cmd_bench(const GpuOptions& o, bool json) {
  const auto t_start = std::chrono::steady_clock::now();
  const BenchPlan plan = plan_bench(o);
  // With --json, stdout carries only the JSON document.
  std::FILE* out = json ? stderr : stdout;
  if (plan.jit) {
    // With a driver present, NVRTC's machine code can come from the CUDA compute cache
    // (~/.nv/ComputeCache) that an earlier compile of the same module filled: on the H100 a
    // sample module "compiled" in 0.13 s with no ptxas report, against 3.5 s with
    // CUDA_CACHE_DISABLE=1 (docs/benchmarks.md, "JIT cost"). Cold numbers must not come from it.
    // Set before the driver and NVRTC are loaded (lazily, below), as if at process start.
    const char* v = std::getenv("CUDA_CACHE_DISABLE");
    if (!v || std::strcmp(v, "1") != 0) setenv("CUDA_CACHE_DISABLE", "1", 1);
  }

  Runtime rt;
  const DeviceInfo dev = rt.device_info(o.device);  // the first GPU call: fails clearly without one
  const auto& cu = detail::driver();
  CUdevice cudev = 0;
  SAMPLEJIT_CU_CALL(cu.deviceGet(&cudev, o.device));
  int l2 = 0, driver_version = 0;
  SAMPLEJIT_CU_CALL(cu.deviceGetAttribute(&l2, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, cudev));
  SAMPLEJIT_CU_CALL(cu.driverGetVersion(&driver_version));
  // Twice the L2 evicts everything a previous call left there. The 256 MB used before took
  // ~0.09 ms per call; the default grid makes ~170k calls.
  std::size_t flush_bytes = o.flush_mb > 0 ? static_cast<std::size_t>(o.flush_mb * 1048576.0)
                                           : std::max<std::size_t>(2 * static_cast<std::size_t>(l2), 64u << 20);
  flush_bytes = (flush_bytes + 3) / 4 * 4;
  Stream s;
  DeviceBuffer flush(flush_bytes);
  const Timing timing{s.get(), flush.get(), flush_bytes / 4, o.reps, o.warmup};

  ReadRoofline reader(dev.arch, dev.sm_count);  // also warms NVRTC up before the JIT timings

  nlohmann::json doc{
      {"device", dev.name},
      {"arch", dev.arch},
      {"sm_count", dev.sm_count},
      {"l2_bytes", l2},
      {"driver", fmt::format("{}.{}", driver_version / 1000, (driver_version % 1000) / 10)},
      {"nvrtc", nvrtc_info().version()},
      {"samplejit", library_version()},
      {"date", utc_now()},
      {"commit", build_commit()},
      {"reps", o.reps},
      {"warmup", o.warmup},
      {"flush_bytes", flush_bytes},
      {"temperature", o.temperature},
      {"min_p", o.min_p},
      {"seed", o.seed},
      {"workload", "peaked: N(-4, 2) body plus 1-8 tokens in [8, 14]; 64 distinct rows, repeated"},
      {"params",
       {{"fixed", {{"k", o.k}, {"p", o.p}}}, {"random", {{"k", {1, 1024}}, {"p", {0.5, 1.0}}, {"rng", "mt19937_64"}}}}},
      {"cells", nlohmann::json::array()},
      {"skipped", nlohmann::json::array()},
      {"jit", nullptr}};
  // SAMPLEJIT_COMMIT names another commit (a binary built elsewhere); the build's stands otherwise.
  if (const char* c = std::getenv("SAMPLEJIT_COMMIT"); c && *c) doc["commit"] = c;
  std::fprintf(out,
               "device: %s (%s, %d SMs, L2 %d MB); peaked logits; params fixed: k=%d p=%.2f, random: k U[1,1024] "
               "p U[0.5,1); median of %d after %d warm-up calls, L2 flushed (%zu MB) before each\n",
               dev.name.c_str(), dev.arch.c_str(), dev.sm_count, l2 >> 20, o.k, static_cast<double>(o.p), o.reps,
               o.warmup, flush_bytes >> 20);

  if (plan.jit) doc["jit"] = run_jit_bench(o, plan, dev, out);

  // Every (dtype, vocab, cluster, block, kind, mask) the modes need, compiled up front in parallel.
  std::vector<KernelSpec> needed;
  std::set<std::string> invalid;  // canonical names that validate() rejected
  for (const auto& [d, vocab] : plan.pairs)
    for (int c : plan.clusters)
      for (int blk : plan.blocks.empty() ? std::vector<int>{0} : plan.blocks)
        for (const BenchMode* m : plan.modes) {
          KernelSpec spec = bench_spec(m->kind, m->mask, d, vocab, c, blk, dev.arch);
          try {
            spec.validate();
            if (std::find(needed.begin(), needed.end(), spec) == needed.end()) needed.push_back(spec);
          } catch (const Error& e) {
            if (invalid.insert(spec.canonical()).second) {
              std::fprintf(out, "note: skipping %s: %s\n", spec.canonical().c_str(), e.what());
              doc["skipped"].push_back({{"spec", spec.canonical()}, {"cluster", c}, {"reason", e.what()}});
            }
          }
        }
  prewarm_all(rt, needed, o.jobs, stderr);

  const std::int64_t max_batch = plan.batches.back();
  const auto nb = static_cast<std::size_t>(max_batch);
  // Per-row parameters, the same for every cell, so that row r always sees the same (k, p).
  std::mt19937_64 param_rng(o.seed ^ 0x9E3779B97F4A7C15ull);
  const work::Params fixed = work::fixed_params(max_batch, o.k, o.p);
  const work::Params random = work::random_params(max_batch, param_rng);
  DeviceBuffer k_fixed(nb * 4), p_fixed(nb * 4), k_random(nb * 4), p_random(nb * 4);
  k_fixed.upload(fixed.top_k.data(), nb * 4);
  p_fixed.upload(fixed.top_p.data(), nb * 4);
  k_random.upload(random.top_k.data(), nb * 4);
  p_random.upload(random.top_p.data(), nb * 4);
  const std::vector<float> temps(nb, o.temperature), min_ps(nb, o.min_p);
  std::vector<std::uint64_t> seeds(nb);
  for (std::size_t r = 0; r < nb; ++r) seeds[r] = r;
  DeviceBuffer tb(nb * 4), mb(nb * 4), sb(nb * 8), tok(nb * 4), lz(nb * 4);
  tb.upload(temps.data(), nb * 4);
  mb.upload(min_ps.data(), nb * 4);
  sb.upload(seeds.data(), nb * 8);

  if (!plan.modes.empty())
    std::fprintf(
        out,
        "| mode | params | dtype | V | B | cluster | block | us | graph us | copy us | read us | ratio | GB/s |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::size_t pair_index = 0;
  const decltype(plan.pairs) no_pairs;
  for (const auto& pair : plan.modes.empty() ? no_pairs : plan.pairs) {
    // Plain locals, not structured bindings: the timing lambdas below capture them.
    const DType d = pair.first;
    const std::int64_t V = pair.second;
    const auto t_pair = std::chrono::steady_clock::now();
    ++pair_index;
    const std::size_t row_bytes = static_cast<std::size_t>(V) * dtype_size(d);
    const std::string dname(to_string(d));
    // Two logits buffers live at once (pristine and work), plus the bit mask.
    const std::optional<std::size_t> free_now = free_device_bytes();
    std::size_t total = 0;
    SAMPLEJIT_CU_CALL(cu.deviceTotalMem(&total, cudev));
    const double budget = kMaxLogitsShareOfFree * static_cast<double>(free_now.value_or(total));
    std::vector<std::int64_t> batches;
    for (std::int64_t B : plan.batches) {
      const double bytes = static_cast<double>(row_bytes) * static_cast<double>(B);
      if (bytes <= budget) {
        batches.push_back(B);
        continue;
      }
      std::fprintf(out, "note: skipping %s V=%lld B=%lld: logits are %s, over %.0f%% of the %s %s\n", dname.c_str(),
                   static_cast<long long>(V), static_cast<long long>(B), human_bytes(bytes).c_str(),
                   kMaxLogitsShareOfFree * 100, human_bytes(static_cast<double>(free_now.value_or(total))).c_str(),
                   free_now ? "free" : "on the device");
      doc["skipped"].push_back({{"dtype", dname}, {"vocab", V}, {"batch", B}, {"reason", "device memory"}});
    }
    if (batches.empty()) continue;
    const std::int64_t maxB = batches.back();
    const std::size_t max_bytes = row_bytes * static_cast<std::size_t>(maxB);

    DeviceBuffer pristine(max_bytes), work_buf(max_bytes);
    {
      // Generate a few distinct rows on the host and tile them on the device: the biggest cells
      // are gigabytes, which would take longer to generate than to time.
      const std::int64_t distinct = std::min(kDistinctRows, maxB);
      std::vector<char> host(row_bytes * static_cast<std::size_t>(distinct));
      std::mt19937_64 rng(o.seed);
      for (std::int64_t r = 0; r < distinct; ++r)
        work::fill_row(d, work::RowKind::Peaked, V, rng, host.data() + static_cast<std::size_t>(r) * row_bytes);
      pristine.upload(host.data(), host.size());
      for (std::size_t filled = host.size(); filled < max_bytes;) {
        const std::size_t n = std::min(filled, max_bytes - filled);
        SAMPLEJIT_CU_CALL(cu.memcpyDtoDAsync(pristine.get() + filled, pristine.get(), n, s.get()));
        filled += n;
      }
      s.sync();
    }
    const bool any_bitmask =
        std::any_of(plan.modes.begin(), plan.modes.end(), [](const BenchMode* m) { return m->mask == MaskKind::Bits; });
    const std::size_t mask_row_bytes = static_cast<std::size_t>((V + 31) / 32) * 4;
    DeviceBuffer maskb(any_bitmask ? mask_row_bytes * static_cast<std::size_t>(maxB) : 0);

    // Rooflines depend only on the bytes: measured once per (dtype, V, B) in this run and shared
    // by every mode, parameter set and cluster of the cell. A roofline is a floor, so each is the
    // lower of two medians taken apart: one grid's copy median once came out at 4.6x its
    // neighbours' (fp32 V = 151936 B = 4, 39.4 us against 8.5 in other runs), which would have
    // flattered every cell that shares it.
    constexpr double kUnmeasured = std::numeric_limits<double>::infinity();
    std::map<std::int64_t, std::pair<double, double>> roof;  // B -> (copy_us, read_us)
    for (int round = 0; round < 2; ++round)
      for (std::int64_t B : batches) {
        const std::size_t bytes = row_bytes * static_cast<std::size_t>(B);
        auto& [copy_us, read_us] = roof.try_emplace(B, kUnmeasured, kUnmeasured).first->second;
        copy_us = std::min(copy_us, median_us(timing, [] {}, [&] {
                             SAMPLEJIT_CU_CALL(cu.memcpyDtoDAsync(work_buf.get(), pristine.get(), bytes, s.get()));
                           }));
        read_us = std::min(read_us, median_us(timing, [] {}, [&] { reader.launch(s.get(), pristine.get(), bytes); }));
      }

    std::set<std::pair<std::string_view, std::string>> seen;  // (mode, digest): one row per distinct kernel
    for (int c : plan.clusters)
      for (int blk : plan.blocks.empty() ? std::vector<int>{0} : plan.blocks)
        for (const BenchMode* m : plan.modes) {
          const KernelSpec spec = bench_spec(m->kind, m->mask, d, V, c, blk, dev.arch);
          if (invalid.count(spec.canonical())) continue;
          Kernel k;
          try {
            k = rt.prepare(spec, o.device);
          } catch (const Error& e) {
            // A cluster this device cannot run (e.g. too little shared memory) skips its cells;
            // anything else is a real failure.
            if (e.code() != ErrorCode::InvalidArgument) throw;
            invalid.insert(spec.canonical());
            std::fprintf(out, "note: skipping %s: %s\n", spec.canonical().c_str(), e.what());
            doc["skipped"].push_back({{"spec", spec.canonical()}, {"cluster", c}, {"reason", e.what()}});
            continue;
          }
          if (!seen.emplace(m->name, k.digest()).second) {
            std::fprintf(out,
                         "note: %s --cluster %d is the same kernel as an earlier cluster value (%s); not timed again\n",
                         std::string(m->name).c_str(), c, k.spec().canonical().c_str());
            continue;
          }
          for (const std::string& pset : plan.param_sets) {
            const bool rnd = pset == "random";
            const CUdeviceptr kb = m->top_k ? (rnd ? k_random : k_fixed).get() : 0;
            const CUdeviceptr pb = m->top_p ? (rnd ? p_random : p_fixed).get() : 0;
            for (std::int64_t B : batches) {
              const std::size_t bytes = row_bytes * static_cast<std::size_t>(B);
              // Modes that leave the logits alone read the pristine copy and need no restore.
              const CUdeviceptr logits = m->writes_logits ? work_buf.get() : pristine.get();
              SampleArgs a;
              a.logits = logits;
              a.row_stride = V;
              a.batch = B;
              a.temperature = tb.get();
              a.top_k = kb;
              a.top_p = pb;
              a.min_p = mb.get();
              a.seed = sb.get();
              a.token32 = tok.get();
              a.logz = lz.get();
              a.mask = m->mask == MaskKind::Bits ? maskb.get() : 0;
              a.write_logits = m->kind == Kind::Sample && m->writes_logits;
              auto call = [&] {
                if (m->kind == Kind::Truncate)
                  k.launch(s.get(), logits, V, B, kb, pb, 0);
                else
                  k.sample(s.get(), a);
              };
              auto restore = [&] {
                if (m->writes_logits)
                  SAMPLEJIT_CU_CALL(cu.memcpyDtoDAsync(work_buf.get(), pristine.get(), bytes, s.get()));
              };
              const double us = median_us(timing, restore, call);
              std::optional<double> graph_us;
              if (B <= kGraphMaxBatch) {
                const CapturedGraph g(s.get(), call);
                graph_us = median_us(timing, restore, [&] { g.launch(s.get()); });
              }
              const auto [copy_us, read_us] = roof[B];
              const bool vs_copy = m->writes_logits;
              const double roof_us = vs_copy ? copy_us : read_us;
              const double moved =
                  static_cast<double>(bytes) * (m->writes_logits ? 2.0 : 1.0) +
                  (m->mask == MaskKind::Bits ? static_cast<double>(mask_row_bytes) * static_cast<double>(B) : 0.0);
              const double gbs = moved / (us * 1e3);
              // The cluster that ran (an auto spec's choice for this batch), not the one asked for.
              const int cl = k.row_cluster(B, m->top_k, m->top_p), block = k.spec().block;
              std::fprintf(out, "| %s | %s | %s | %lld | %lld | %d | %d | %.1f | %s | %.1f | %.1f | %.2f | %.0f |\n",
                           std::string(m->name).c_str(), pset.c_str(), dname.c_str(), static_cast<long long>(V),
                           static_cast<long long>(B), cl, block, us,
                           graph_us ? fmt::format("{:.1f}", *graph_us).c_str() : "-", copy_us, read_us, us / roof_us,
                           gbs);
              std::fflush(out);
              doc["cells"].push_back(
                  {{"mode", m->name},
                   {"params", pset},
                   {"dtype", dname},
                   {"vocab", V},
                   {"batch", B},
                   {"cluster", cl},
                   {"requested_cluster", c},
                   {"block", block},
                   {"spec", k.spec().canonical()},
                   {"us", us},
                   {"graph_us", graph_us ? nlohmann::json(*graph_us) : nlohmann::json(nullptr)},
                   {"copy_us", copy_us},
                   {"read_us", read_us},
                   {"roofline", vs_copy ? "copy" : "read"},
                   {"ratio", us / roof_us},
                   {"graph_ratio", graph_us ? nlohmann::json(*graph_us / roof_us) : nlohmann::json(nullptr)},
                   {"bytes_moved", moved},
                   {"gbs", gbs}});
            }
          }
        }
    std::fprintf(stderr, "[%zu/%zu] %s V=%lld done in %.1f s (%.1f s so far)\n", pair_index, plan.pairs.size(),
                 dname.c_str(), static_cast<long long>(V),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t_pair).count(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  doc["elapsed_s"] = elapsed;
  std::fprintf(out, "%zu cells in %.1f s\n", doc["cells"].size(), elapsed);
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    if (!f) throw_invalid("--out", o.out, "cannot open the file for writing");
    f << doc.dump(2) << "\n";
    if (!f) throw_invalid("--out", o.out, "write failed");
  }
  if (json) std::cout << doc.dump(2) << "\n";
  return 0;
}

}  // namespace

std::function<std::optional<int>()> register_gpu_commands(CLI::App& app, bool& json) {
  auto o = std::make_shared<GpuOptions>();
  auto* verify = app.add_subcommand(
      "verify", "GPU: run prepared variants on random and adversarial rows against the CPU reference");
  add_variant_options(*verify, o->variants, false);
  verify->get_option("--kind")->description("truncate only (the default); samplejit_gpu_tests checks sample kernels");
  verify->add_option("--device", o->device, "CUDA device ordinal");
  verify->add_option("--batch", o->batch, "Rows per variant");
  verify->add_option("--seed", o->seed, "Random seed");
  verify->add_flag("--json", json, "JSON output");

  auto* trunc = app.add_subcommand("truncate", "GPU: truncate a batch of LLM-like logits and summarize");
  add_variant_options(*trunc, o->variants, false);
  trunc->add_option("--device", o->device, "CUDA device ordinal");
  trunc->add_option("--batch", o->batch, "Rows")->default_val(8);
  trunc->add_option("--top-k", o->k, "k for every row");
  trunc->add_option("--top-p", o->p, "p for every row");
  trunc->add_option("--seed", o->seed, "Random seed");

  auto* samp = app.add_subcommand("sample", "GPU: sample tokens from a batch of LLM-like logits and summarize");
  add_variant_options(*samp, o->variants, false);
  samp->add_option("--device", o->device, "CUDA device ordinal");
  samp->add_option("--batch", o->batch, "Rows")->default_val(8);
  samp->add_option("--temperature", o->temperature, "Temperature for every row (<= 0: greedy)");
  samp->add_option("--top-k", o->k, "k for every row")->default_val(50);
  samp->add_option("--top-p", o->p, "p for every row")->default_val(0.9f);
  samp->add_option("--min-p", o->min_p, "min-p for every row")->default_val(0.0f);
  samp->add_option("--seed", o->seed, "Base seed (row r uses a seed derived from it)");

  auto* bench = app.add_subcommand(
      "bench",
      "GPU: median us per call over a dtype x V x B grid, with copy and read rooflines and CUDA-graph "
      "replay (B <= 16) measured in the same run; --mode jit times cold compile and warm start");
  bench
      ->add_option("--mode", o->modes,
                   "Comma list: truncate (k and p), topp (k off), topk (p off), sample, sample-bitmask, "
                   "sample-inplace, all (those six), jit (JIT cost; not part of all)")
      ->delimiter(',')
      ->default_str("truncate");
  bench
      ->add_option("--params", o->param_sets,
                   "fixed (every row k = --top-k, p = --top-p), random (per row k uniform in [1, 1024], p in "
                   "[0.5, 1), seeded by --seed)")
      ->delimiter(',')
      ->default_str("fixed,random");
  bench->add_option("--dtype,--dtypes", o->variants.dtypes, "Logits dtypes")
      ->delimiter(',')
      ->default_str("fp32,bf16,fp16");
  bench->add_option("--vocab,--vocabs", o->variants.vocabs, "Vocab sizes")
      ->delimiter(',')
      ->default_str("32000,128256,151936,262144");
  bench->add_option("--model-config", o->variants.model_configs,
                    "Hugging Face config.json whose (dtype, vocab) to bench (instead of the default grid)");
  bench
      ->add_option("--batch,--batches", o->batches,
                   "Batch sizes; a cell whose logits exceed 40% of free device "
                   "memory is skipped with a note")
      ->delimiter(',')
      ->default_str("1,4,16,64,256,1024,4096");
  bench->add_option("--cluster", o->clusters, "CTAs per row to time, each in turn: 0 (auto), 1, 2, 4, 8, 16")
      ->delimiter(',')
      ->default_str("0");
  bench->add_option("--block", o->variants.blocks, "Block sizes, each in turn (default: the spec's)")->delimiter(',');
  bench->add_option("--device", o->device, "CUDA device ordinal")->capture_default_str();
  bench->add_option("--reps", o->reps, "Timed calls per cell; the median is reported")->capture_default_str();
  bench->add_option("--warmup", o->warmup, "Untimed calls before them")->capture_default_str();
  bench->add_option("--top-k", o->k, "k of the fixed parameter set")->capture_default_str();
  bench->add_option("--top-p", o->p, "p of the fixed parameter set")->capture_default_str();
  bench->add_option("--temperature", o->temperature, "Temperature for the sample modes")->capture_default_str();
  bench->add_option("--min-p", o->min_p, "min-p for the sample modes")->capture_default_str();
  bench->add_option("--seed", o->seed, "Seeds the logits and the random parameters")->capture_default_str();
  bench->add_option("--flush-mb", o->flush_mb, "L2 flush size before each call (0: twice the L2, at least 64)")
      ->capture_default_str();
  bench->add_option("--jobs,-j", o->jobs, "Parallel NVRTC compiles before timing (0: one per CPU)")
      ->capture_default_str();
  bench->add_option("--out", o->out, "Also write the JSON document to this file");
  bench->add_flag("--json", json, "Print the JSON document on stdout (the table goes to stderr)");

  auto* probe = app.add_subcommand("bench-jit-probe", "Internal: one warm process start, timed for bench --mode jit");
  probe->group("");  // hidden from --help
  probe->add_option("--spec", o->probe_spec, "Canonical spec")->required();
  probe->add_option("--cache-root", o->probe_cache_root, "Warm cache directory")->required();
  probe->add_option("--device", o->device, "CUDA device ordinal");
  probe->add_option("--t0-ns", o->probe_t0_ns, "Parent's steady_clock reading just before spawning")->required();

  return [o, verify, trunc, samp, bench, probe, &json]() -> std::optional<int> {
    if (*verify) return cmd_verify(*o, json);
    if (*trunc) return cmd_truncate(*o);
    if (*samp) return cmd_sample(*o);
    if (*bench) return cmd_bench(*o, json);
    if (*probe) return cmd_jit_probe(*o);
    return std::nullopt;
  };
}

}  // namespace samplejit::cli
