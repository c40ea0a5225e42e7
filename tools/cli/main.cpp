// samplejit: prewarm the cache (no GPU needed), inspect it, render sources, and on a GPU verify,
// truncate and benchmark.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "dynload.hpp"
#include "samplejit/disk_cache.hpp"

namespace samplejit::cli {

void add_variant_options(CLI::App& cmd, VariantOptions& o, bool need_arch) {
  cmd.add_option("--arch", o.archs, need_arch ? "Target archs, e.g. sm_90,sm_80" : "Target archs (default: the GPU's)")
      ->delimiter(',');
  cmd.add_option("--dtype", o.dtypes, "fp32, fp16, bf16")->delimiter(',');
  cmd.add_option("--vocab", o.vocabs, "Vocab sizes")->delimiter(',');
  cmd.add_option("--model-config", o.model_configs, "Hugging Face config.json (vocab_size, torch_dtype)");
  cmd.add_option("--block", o.blocks, "Block sizes (default 512)")->delimiter(',');
  cmd.add_option("--cluster", o.clusters, "CTAs per row: 0 (auto, the default), 1, 2, 4, 8, 16")->delimiter(',');
  cmd.add_option("--mask", o.masks, "nomask, boolmask, bitmask (default: all three)")->delimiter(',');
  cmd.add_option("--kind", o.kinds, "truncate, sample (default: truncate)")->delimiter(',');
}

namespace {

std::pair<DType, long long> read_model_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw_invalid("--model-config", path, "cannot open the file");
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw_invalid("--model-config", path, std::string("not valid JSON: ") + e.what());
  }
  // Multimodal configs keep the language model's fields under text_config.
  const nlohmann::json& c = (!j.contains("vocab_size") && j.contains("text_config")) ? j["text_config"] : j;
  if (!c.contains("vocab_size") || !c["vocab_size"].is_number_integer())
    throw_invalid("--model-config", path, "has no integer vocab_size");
  std::string dt = c.value("torch_dtype", c.value("dtype", j.value("torch_dtype", std::string())));
  if (dt.empty()) throw_invalid("--model-config", path, "has no torch_dtype");
  DType d;
  if (dt == "bfloat16") d = DType::BF16;
  else if (dt == "float16") d = DType::F16;
  else if (dt == "float32") d = DType::F32;
  else throw_invalid("torch_dtype", dt, fmt::format("in {}: expected bfloat16, float16 or float32", path));
  return {d, c["vocab_size"].get<long long>()};
}

}  // namespace

std::vector<KernelSpec> expand_variants(const VariantOptions& o) {
  std::vector<std::pair<DType, long long>> dv;
  for (const auto& path : o.model_configs) dv.push_back(read_model_config(path));
  if (!o.dtypes.empty() || !o.vocabs.empty()) {
    if (o.dtypes.empty()) throw_invalid("--dtype", "", "needed together with --vocab");
    if (o.vocabs.empty()) throw_invalid("--vocab", "", "needed together with --dtype");
    for (const auto& d : o.dtypes)
      for (long long v : o.vocabs) dv.emplace_back(parse_dtype(d), v);
  }
  if (dv.empty()) throw_invalid("variants", "none", "give --model-config, or --dtype with --vocab");
  std::vector<std::string> archs = o.archs;
  if (archs.empty()) {
    if (detail::driver_available()) {
      Runtime probe(RuntimeOptions{std::nullopt, false});
      int n = 0;
      SAMPLEJIT_CU_CALL(detail::driver().deviceGetCount(&n));
      for (int i = 0; i < n; ++i) {
        auto a = probe.device_info(i).arch;
        if (std::find(archs.begin(), archs.end(), a) == archs.end()) archs.push_back(a);
      }
    }
    if (archs.empty()) {
      std::fprintf(stderr, "samplejit: no GPU found; prewarming for sm_90 (pass --arch to choose)\n");
      archs.push_back("sm_90");
    }
  }
  std::vector<MaskKind> masks;
  for (const auto& m : o.masks) masks.push_back(parse_mask(m));
  if (masks.empty()) masks = {MaskKind::None, MaskKind::Bool, MaskKind::Bits};
  std::vector<int> blocks = o.blocks.empty() ? std::vector<int>{kDefaultBlock} : o.blocks;
  std::vector<int> clusters = o.clusters.empty() ? std::vector<int>{kAutoCluster} : o.clusters;
  for (int c : clusters)
    if (!is_valid_cluster(c)) throw_invalid("--cluster", std::to_string(c), "must be 0 (auto), 1, 2, 4, 8 or 16");
  std::vector<Kind> kinds;
  for (const auto& k : o.kinds) {
    if (k != "truncate" && k != "sample") throw_invalid("--kind", k, "expected truncate or sample");
    kinds.push_back(k == "sample" ? Kind::Sample : Kind::Truncate);
  }
  if (kinds.empty()) kinds = {Kind::Truncate};
  std::vector<KernelSpec> out;
  for (Kind kind : kinds)
  for (const auto& a : archs)
    for (const auto& [d, v] : dv)
      for (int b : blocks)
        for (int c : clusters)
          for (MaskKind m : masks) {
            KernelSpec s;
            s.kind = kind;
            s.dtype = d;
            s.vocab = v;
            s.block = b;
            s.cluster = c;
            s.mask = m;
            s.arch = a;
            if (c > 1 && cluster_shared_bytes(s) > kMaxClusterSharedBytes && clusters.size() > 1) {
              // A list of clusters spans vocabs it cannot all serve: skip the ones that do not fit.
              std::fprintf(stderr, "samplejit: skipping %s: its slice does not fit in shared memory\n",
                           s.canonical().c_str());
              continue;
            }
            s.validate();
            if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
          }
  return out;
}

namespace {

int cmd_prewarm(const VariantOptions& vo, int jobs, bool json) {
  const auto specs = expand_variants(vo);
  if (jobs < 1) throw_invalid("--jobs", std::to_string(jobs), "must be >= 1");
  Runtime rt;
  std::mutex mu;
  std::atomic<std::size_t> next{0}, done{0};
  std::vector<nlohmann::json> rows(specs.size());
  std::string first_error;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < specs.size();) {
      try {
        PrewarmResult r = rt.prewarm(specs[i]);
        std::lock_guard lock(mu);
        const std::size_t n = ++done;
        // Whether this process has loaded libnvrtc by now: a warm prewarm keys from the NVRTC stamp
        // and loads nothing (docs/design.md, "Warm start without NVRTC").
        rows[i] = {{"spec", r.spec.canonical()}, {"result", to_string(r.source)}, {"seconds", r.seconds},
                   {"digest", r.digest},         {"registers", r.registers},     {"spill_stores", r.spill_stores},
                   {"nvrtc_loaded", detail::nvrtc_resident()}};
        if (!json)
          std::printf("[%zu/%zu] %-48s %-8s %6.2fs\n", n, specs.size(), r.spec.canonical().c_str(),
                      std::string(to_string(r.source)).c_str(), r.seconds);
        std::fflush(stdout);
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = e.what();
        rows[i] = {{"spec", specs[i].canonical()}, {"result", "error"}, {"error", e.what()}};
        if (!json) std::printf("[%zu/%zu] %-48s error\n", ++done, specs.size(), specs[i].canonical().c_str());
      }
    }
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < std::min<int>(jobs, static_cast<int>(specs.size())); ++j) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (json) std::cout << nlohmann::json(rows).dump(2) << "\n";
  else std::printf("cache root: %s\n", rt.cache_root().string().c_str());
  if (!first_error.empty()) {
    std::fprintf(stderr, "samplejit: prewarm failed: %s\n", first_error.c_str());
    return 1;
  }
  return 0;
}

int cmd_cache(const std::string& action, std::uintmax_t max_bytes, bool max_bytes_set, bool json) {
  DiskCache cache(DiskCache::default_root());
  if (action == "ls" || action == "verify") {
    auto files = cache.list();
    std::size_t bad = 0;
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& f : files) {
      bad += !f.valid;
      arr.push_back({{"path", f.path.string()}, {"spec", f.spec}, {"digest", f.digest}, {"bytes", f.bytes},
                     {"last_used", f.last_used}, {"valid", f.valid}, {"problem", f.problem}});
      if (!json) {
        if (action == "ls") std::printf("%-48s %s %9ju B%s\n", f.spec.c_str(), f.digest.c_str(), f.bytes, f.valid ? "" : "  INVALID");
        else std::printf("%-7s %s%s%s\n", f.valid ? "ok" : "INVALID", f.path.string().c_str(), f.valid ? "" : ": ", f.problem.c_str());
      }
    }
    if (json) std::cout << nlohmann::json{{"root", cache.root().string()}, {"entries", arr}}.dump(2) << "\n";
    else std::printf("%zu entries, %zu invalid, %ju bytes under %s\n", files.size(), bad, cache.total_bytes(), cache.root().string().c_str());
    return action == "verify" && bad ? 1 : 0;
  }
  if (action == "prune") {
    if (!max_bytes_set) throw_invalid("--max-bytes", "", "cache prune needs --max-bytes N");
    const auto removed = cache.prune(max_bytes);
    if (json) std::cout << nlohmann::json{{"removed", removed}, {"bytes", cache.total_bytes()}}.dump() << "\n";
    else std::printf("removed %zu entries; %ju bytes remain\n", removed, cache.total_bytes());
    return 0;
  }
  if (action == "clear") {
    const auto removed = cache.clear();
    if (json) std::cout << nlohmann::json{{"removed", removed}}.dump() << "\n";
    else std::printf("removed %zu files from %s\n", removed, cache.root().string().c_str());
    return 0;
  }
  throw_invalid("cache action", action, "expected ls, verify, prune or clear");
}

int cmd_info(bool json) {
  nlohmann::json j;
  j["version"] = library_version();
  j["build_commit"] = build_commit();
  j["cache_root"] = DiskCache::default_root().string();
  {
    DiskCache c(DiskCache::default_root());
    j["cache_bytes"] = c.total_bytes();
  }
  try {
    const auto& n = nvrtc_info();
    j["nvrtc"] = {{"version", n.version()}, {"library", n.library}, {"archs", n.archs}};
  } catch (const Error& e) {
    j["nvrtc"] = {{"error", e.what()}};
  }
  j["devices"] = nlohmann::json::array();
  if (detail::driver_available()) {
    int v = 0;
    detail::driver().driverGetVersion(&v);
    j["driver"] = {{"version", fmt::format("{}.{}", v / 1000, (v % 1000) / 10)}, {"library", detail::driver().path}};
    Runtime rt(RuntimeOptions{std::nullopt, false});
    int n = 0;
    SAMPLEJIT_CU_CALL(detail::driver().deviceGetCount(&n));
    for (int i = 0; i < n; ++i) {
      auto d = rt.device_info(i);
      j["devices"].push_back({{"ordinal", d.ordinal}, {"name", d.name}, {"arch", d.arch}, {"sms", d.sm_count}, {"uuid", d.uuid}});
    }
  } else {
    try {
      detail::driver();
    } catch (const Error& e) {
      j["driver"] = {{"error", e.what()}};
    }
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("samplejit %s (commit %s)\n", j["version"].get<std::string>().c_str(), build_commit());
  std::printf("nvrtc:   %s\n", j["nvrtc"].contains("error") ? j["nvrtc"]["error"].get<std::string>().c_str()
                                                           : fmt::format("{} ({})", j["nvrtc"]["version"].get<std::string>(), j["nvrtc"]["library"].get<std::string>()).c_str());
  std::printf("driver:  %s\n", j["driver"].contains("error") ? j["driver"]["error"].get<std::string>().c_str()
                                                             : j["driver"]["version"].get<std::string>().c_str());
  for (const auto& d : j["devices"])
    std::printf("device %d: %s (%s, %d SMs)\n", d["ordinal"].get<int>(), d["name"].get<std::string>().c_str(),
                d["arch"].get<std::string>().c_str(), d["sms"].get<int>());
  if (j["devices"].empty()) std::printf("devices: none\n");
  std::printf("cache:   %s (%ju bytes)\n", j["cache_root"].get<std::string>().c_str(), j["cache_bytes"].get<std::uintmax_t>());
  return 0;
}

}  // namespace
}  // namespace samplejit::cli

int main(int argc, char** argv) {
  using namespace samplejit;
  using namespace samplejit::cli;
  CLI::App app{"samplejit: JIT-specialized top-k -> top-p truncation kernels (NVRTC + CUDA driver)"};
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "Machine-readable output for listing commands");

  VariantOptions prewarm_opts;
  int jobs = 1;
  auto* prewarm = app.add_subcommand("prewarm", "Compile variants into the on-disk cache (no GPU needed)");
  add_variant_options(*prewarm, prewarm_opts, true);
  prewarm->add_option("--jobs,-j", jobs, "Parallel compiles");
  prewarm->add_flag("--json", json, "JSON output");

  auto* cache = app.add_subcommand("cache", "Inspect or clean the on-disk cache");
  std::string action;
  std::uintmax_t max_bytes = 0;
  cache->add_option("action", action, "ls | verify | prune | clear")->required();
  auto* mb = cache->add_option("--max-bytes", max_bytes, "prune: keep at most this many bytes")
                 ->check(CLI::NonNegativeNumber);
  cache->add_flag("--json", json, "JSON output");

  std::string spec_text;
  auto* render_cmd = app.add_subcommand("render", "Print the exact source compiled for a spec");
  render_cmd->add_option("spec", spec_text, "e.g. truncate-bf16-v151936-b512-cauto-bitmask-sm_90")->required();

  auto* info = app.add_subcommand("info", "NVRTC and driver versions, devices, cache root and size");
  info->add_flag("--json", json, "JSON output");

  const auto run_gpu_command = register_gpu_commands(app, json);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*prewarm) return cmd_prewarm(prewarm_opts, jobs, json);
    if (*cache) return cmd_cache(action, max_bytes, mb->count() > 0, json);
    if (*render_cmd) {
      std::cout << render(KernelSpec::parse(spec_text));
      return 0;
    }
    if (*info) return cmd_info(json);
    if (auto rc = run_gpu_command()) return *rc;
  } catch (const Error& e) {
    std::fprintf(stderr, "samplejit: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "samplejit: %s\n", e.what());
    return 2;
  }
  return 0;
}
