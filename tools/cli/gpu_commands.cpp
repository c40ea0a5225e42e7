// The CLI commands that need a GPU: verify, truncate, bench.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "device.hpp"
#include "samplejit/reference.hpp"
#include "verify.hpp"
#include "workloads.hpp"

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
};

std::vector<KernelSpec> device_variants(Runtime& rt, VariantOptions vo, int device) {
  vo.archs = {rt.device_info(device).arch};
  return expand_variants(vo);
}

int cmd_verify(const GpuOptions& o, bool json) {
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

// Median of reps timings of `body`, each after restoring inputs and flushing L2.
template <class Restore, class Body>
double median_us(const Stream& s, const DeviceBuffer& flush, int reps, Restore restore, Body body) {
  Event a, b;
  std::vector<double> t;
  for (int i = 0; i < reps + 3; ++i) {
    restore();
    SAMPLEJIT_CU_CALL(detail::driver().memsetD32Async(flush.get(), static_cast<unsigned>(i), flush.bytes() / 4, s.get()));
    a.record(s.get());
    body();
    b.record(s.get());
    const double us = a.ms_until(b) * 1000.0;
    if (i >= 3) t.push_back(us);  // the first runs warm up clocks and the loader
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int cmd_bench(const GpuOptions& o, bool json) {
  Runtime rt;
  const DeviceInfo dev = rt.device_info(o.device);
  if (o.reps < 1) throw_invalid("--reps", std::to_string(o.reps), "must be >= 1");
  std::vector<std::string> modes = o.modes.empty() ? std::vector<std::string>{"truncate"} : o.modes;
  if (std::find(modes.begin(), modes.end(), "all") != modes.end())
    modes = {"truncate", "sample", "sample-bitmask", "sample-inplace"};
  for (const auto& m : modes)
    if (m != "truncate" && m != "sample" && m != "sample-bitmask" && m != "sample-inplace")
      throw_invalid("--mode", m, "expected truncate, sample, sample-bitmask, sample-inplace or all");
  const std::vector<DType> dtypes = {DType::F32, DType::BF16};
  const std::vector<std::int64_t> vocabs = {32000, 128256, 151936};
  const std::vector<std::int64_t> batches = {1, 8, 32, 128, 256, 1024};
  Stream s;
  DeviceBuffer flush(256u << 20);  // larger than any L2 we target
  nlohmann::json cells = nlohmann::json::array();
  std::printf("device: %s (%s, %d SMs); k=%d p=%.2f, peaked logits, median of %d, L2 flushed\n", dev.name.c_str(),
              dev.arch.c_str(), dev.sm_count, o.k, static_cast<double>(o.p), o.reps);
  std::printf("| mode | dtype | V | B | samplejit us | copy us | ratio | GB/s (read+write) |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (const std::string& mode : modes)
  for (DType d : dtypes)
    for (std::int64_t V : vocabs) {
      KernelSpec spec;
      spec.kind = mode == "truncate" ? Kind::Truncate : Kind::Sample;
      spec.dtype = d;
      spec.vocab = V;
      spec.mask = mode == "sample-bitmask" ? MaskKind::Bits : MaskKind::None;
      spec.arch = dev.arch;
      Kernel k = rt.prepare(spec, o.device);
      const std::int64_t maxB = batches.back();
      const std::size_t es = dtype_size(d), row_bytes = static_cast<std::size_t>(V) * es;
      std::vector<char> host(row_bytes * static_cast<std::size_t>(maxB));
      std::mt19937_64 rng(o.seed);
      for (std::int64_t r = 0; r < 64; ++r) work::fill_row(d, work::RowKind::Peaked, V, rng, host.data() + r * row_bytes);
      for (std::int64_t r = 64; r < maxB; ++r) std::memcpy(host.data() + r * row_bytes, host.data() + (r % 64) * row_bytes, row_bytes);
      DeviceBuffer pristine(host.size()), work_buf(host.size()), copy_dst(host.size());
      pristine.upload(host.data(), host.size());
      const auto params = work::fixed_params(maxB, o.k, o.p);
      DeviceBuffer kb(static_cast<std::size_t>(maxB) * 4), pb(static_cast<std::size_t>(maxB) * 4);
      kb.upload(params.top_k.data(), params.top_k.size() * 4);
      pb.upload(params.top_p.data(), params.top_p.size() * 4);
      const std::size_t nb = static_cast<std::size_t>(maxB);
      const std::vector<float> temps(nb, o.temperature), min_ps(nb, o.min_p);
      std::vector<std::uint64_t> seeds(nb);
      for (std::size_t r = 0; r < nb; ++r) seeds[r] = r;
      DeviceBuffer tb(nb * 4), mb(nb * 4), sb(nb * 8), tok(nb * 4), lz(nb * 4),
          maskb(nb * static_cast<std::size_t>((V + 31) / 32) * 4);
      tb.upload(temps.data(), nb * 4);
      mb.upload(min_ps.data(), nb * 4);
      sb.upload(seeds.data(), nb * 8);
      for (std::int64_t B : batches) {
        const std::size_t bytes = row_bytes * static_cast<std::size_t>(B);
        auto restore = [&] { SAMPLEJIT_CU_CALL(detail::driver().memcpyDtoDAsync(work_buf.get(), pristine.get(), bytes, s.get())); };
        SampleArgs a;
        a.logits = work_buf.get();
        a.row_stride = V;
        a.batch = B;
        a.temperature = tb.get();
        a.top_k = kb.get();
        a.top_p = pb.get();
        a.min_p = mb.get();
        a.seed = sb.get();
        a.token32 = tok.get();
        a.logz = lz.get();
        a.mask = mode == "sample-bitmask" ? maskb.get() : 0;
        a.write_logits = mode == "sample-inplace";
        const double us = median_us(s, flush, o.reps, restore, [&] {
          if (mode == "truncate") k.launch(s.get(), work_buf.get(), V, B, kb.get(), pb.get(), 0);
          else k.sample(s.get(), a);
        });
        const double copy_us = median_us(s, flush, o.reps, [] {}, [&] {
          SAMPLEJIT_CU_CALL(detail::driver().memcpyDtoDAsync(copy_dst.get(), pristine.get(), bytes, s.get()));
        });
        const double gbs = 2.0 * static_cast<double>(bytes) / (us * 1e3);
        std::printf("| %s | %s | %lld | %lld | %.1f | %.1f | %.2f | %.0f |\n", mode.c_str(), std::string(to_string(d)).c_str(),
                    static_cast<long long>(V), static_cast<long long>(B), us, copy_us, us / copy_us, gbs);
        std::fflush(stdout);
        cells.push_back({{"mode", mode}, {"dtype", to_string(d)}, {"vocab", V}, {"batch", B}, {"us", us}, {"copy_us", copy_us}, {"spec", spec.canonical()}});
      }
    }
  nlohmann::json doc{{"device", dev.name}, {"arch", dev.arch},    {"k", o.k},         {"p", o.p},
                     {"temperature", o.temperature}, {"min_p", o.min_p}, {"reps", o.reps}, {"cells", cells}};
  if (!o.out.empty()) std::ofstream(o.out) << doc.dump(2) << "\n";
  if (json) std::cout << doc.dump(2) << "\n";
  return 0;
}

}  // namespace

std::function<std::optional<int>()> register_gpu_commands(CLI::App& app, bool& json) {
  auto o = std::make_shared<GpuOptions>();
  auto* verify = app.add_subcommand("verify", "GPU: run prepared variants on random and adversarial rows against the CPU reference");
  add_variant_options(*verify, o->variants, false);
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

  auto* bench = app.add_subcommand("bench", "GPU: median us per call against a device copy of the same bytes");
  bench->add_option("--device", o->device, "CUDA device ordinal");
  bench->add_option("--reps", o->reps, "Timed repetitions per cell");
  bench->add_option("--top-k", o->k, "k for every row");
  bench->add_option("--top-p", o->p, "p for every row");
  bench->add_option("--out", o->out, "Also write the cells as JSON to this file");
  bench->add_option("--mode", o->modes, "truncate, sample, sample-bitmask, sample-inplace or all")->delimiter(',');
  bench->add_option("--temperature", o->temperature, "Temperature for the sample modes");
  bench->add_option("--min-p", o->min_p, "min-p for the sample modes");
  bench->add_flag("--json", json, "JSON output");

  return [o, verify, trunc, samp, bench, &json]() -> std::optional<int> {
    if (*verify) return cmd_verify(*o, json);
    if (*trunc) return cmd_truncate(*o);
    if (*samp) return cmd_sample(*o);
    if (*bench) return cmd_bench(*o, json);
    return std::nullopt;
  };
}

}  // namespace samplejit::cli
