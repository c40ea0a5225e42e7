// compile inputs -> key digest -> NVRTC -> cubin (or PTX), with errors that carry the log.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dynload.hpp"
#include "samplejit/disk_cache.hpp"
#include "samplejit/error.hpp"
#include "samplejit/jit.hpp"

namespace samplejit {

std::string library_version() {
#ifdef SAMPLEJIT_VERSION
  return SAMPLEJIT_VERSION;
#else
  return "unknown";
#endif
}

std::string NvrtcInfo::version() const { return fmt::format("{}.{}", major, minor); }

const NvrtcInfo& nvrtc_info() {
  static std::once_flag once;
  static NvrtcInfo info;
  std::call_once(once, [] {
    const auto& api = detail::nvrtc();
    SAMPLEJIT_NVRTC_CALL(api.version(&info.major, &info.minor));
    int n = 0;
    SAMPLEJIT_NVRTC_CALL(api.getNumSupportedArchs(&n));
    info.archs.resize(static_cast<std::size_t>(n));
    SAMPLEJIT_NVRTC_CALL(api.getSupportedArchs(info.archs.data()));
    std::sort(info.archs.begin(), info.archs.end());
    info.library = api.path;
  });
  return info;
}

Target choose_target(const std::string& device_arch, const NvrtcInfo& info) {
  const int cc = arch_number(device_arch);
  if (info.archs.empty()) throw Error(ErrorCode::NotAvailable, "NVRTC reports no supported architectures");
  if (std::find(info.archs.begin(), info.archs.end(), cc) != info.archs.end()) return {device_arch, false};
  if (cc > info.archs.back()) return {fmt::format("compute_{}", info.archs.back()), true};
  throw_invalid("arch", device_arch,
                fmt::format("NVRTC {} supports sm_{} .. sm_{}", info.version(), info.archs.front(), info.archs.back()));
}

std::vector<std::string> compile_options(const Target& target) {
  std::vector<std::string> opts = {
      "--std=c++17",
      fmt::format("--gpu-architecture={}", target.arch),
      // Exact IEEE behaviour: FTZ would zero tiny softmax masses and fast-math/contraction would
      // make results depend on the variant. See docs/semantics.md.
      "--ftz=false",
      "--prec-div=true",
      "--prec-sqrt=true",
      "--fmad=false",
  };
  // ptxas runs only for cubins; its report gives registers and spills for the metadata.
  if (!target.ptx) opts.emplace_back("--ptxas-options=--verbose");
  return opts;
}

CompileInputs make_compile_inputs(const KernelSpec& spec) { return make_compile_inputs(spec, nvrtc_info()); }

CompileInputs make_compile_inputs(const KernelSpec& spec, const NvrtcInfo& info) {
  spec.validate();
  CompileInputs in;
  in.spec = spec;
  in.source = render(spec);
  in.target = choose_target(spec.arch, info);
  in.options = compile_options(in.target);
  in.nvrtc_version = info.version();
  return in;
}

std::string CompileInputs::digest() const {
  // Labelled, length-prefixed fields so that no two different inputs serialize alike.
  XXH3_state_t* st = XXH3_createState();
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> guard(st, &XXH3_freeState);
  XXH3_128bits_reset(st);
  auto field = [st](std::string_view label, std::string_view value) {
    const std::uint64_t n = value.size();
    XXH3_128bits_update(st, label.data(), label.size());
    XXH3_128bits_update(st, &n, sizeof n);
    XXH3_128bits_update(st, value.data(), value.size());
  };
  field("schema", std::to_string(kCacheSchemaVersion));
  field("library", library_version());
  field("spec", spec.canonical());
  field("source", source);
  field("options_count", std::to_string(options.size()));
  for (const auto& o : options) field("option", o);
  field("target", target.arch);
  field("target_kind", target.ptx ? "ptx" : "cubin");
  field("nvrtc", nvrtc_version);
  const XXH128_hash_t h = XXH3_128bits_digest(st);
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

namespace {

struct Program {
  nvrtcProgram prog = nullptr;
  ~Program() {
    if (prog) detail::nvrtc().destroyProgram(&prog);
  }
};

// The number that ends just before `pos` in `text` (-1 if none). Hand-parsed rather than with
// std::regex: regex construction consults the process's std::locale facets, which a host
// process can leave unusable (a Python runtime with PyTorch loaded got std::bad_cast here).
int number_before(std::string_view text, std::size_t pos) {
  std::size_t begin = pos;
  while (begin > 0 && text[begin - 1] >= '0' && text[begin - 1] <= '9') --begin;
  int value = -1;
  if (begin == pos || std::from_chars(text.data() + begin, text.data() + pos, value).ec != std::errc()) return -1;
  return value;
}

// The largest value of "<n><suffix>" over every kernel ptxas reported: a module holds up to five
// row kernels, and a spill in any of them counts.
int max_reported(std::string_view log, std::string_view suffix) {
  int best = -1;
  for (std::size_t pos = log.find(suffix); pos != std::string_view::npos; pos = log.find(suffix, pos + 1))
    best = std::max(best, number_before(log, pos));
  return best;
}

KernelReport report_of(std::string_view log) {
  KernelReport r;
  r.registers = max_reported(log, " registers");
  r.stack_bytes = max_reported(log, " bytes stack frame");
  r.spill_stores = max_reported(log, " bytes spill stores");
  r.spill_loads = max_reported(log, " bytes spill loads");
  return r;
}

void parse_ptxas_report(Compiled& c) {
  const KernelReport all = report_of(c.log);
  c.registers = all.registers;
  c.stack_bytes = all.stack_bytes;
  c.spill_stores = all.spill_stores;
  c.spill_loads = all.spill_loads;
}

// One NVRTC program of a module: the unit with program_option(program), its entry points' names.
struct ProgramOutput {
  std::vector<char> image;
  std::vector<std::string> lowered;  // parallel to the program's name expressions
  std::string log;
};

ProgramOutput compile_program(const CompileInputs& in, int program, const std::vector<std::string>& exprs) {
  const auto& api = detail::nvrtc();
  ProgramOutput out;
  Program p;
  const std::string name = fmt::format("{}.p{}.cu", in.spec.canonical(), program);
  SAMPLEJIT_NVRTC_CALL(api.createProgram(&p.prog, in.source.c_str(), name.c_str(), 0, nullptr, nullptr));
  for (const auto& e : exprs) SAMPLEJIT_NVRTC_CALL(api.addNameExpression(p.prog, e.c_str()));
  std::vector<std::string> options = in.options;
  options.push_back(program_option(program));
  std::vector<const char*> argv;
  for (const auto& o : options) argv.push_back(o.c_str());
  const nvrtcResult rc = api.compileProgram(p.prog, static_cast<int>(argv.size()), argv.data());
  std::size_t log_size = 0;
  if (api.getProgramLogSize(p.prog, &log_size) == NVRTC_SUCCESS && log_size > 1) {
    out.log.resize(log_size);
    api.getProgramLog(p.prog, out.log.data());
    out.log.resize(log_size - 1);
  }
  if (rc != NVRTC_SUCCESS) {
    const std::string opts = fmt::format("{}", fmt::join(options, " "));
    throw CompileError(fmt::format("NVRTC {} failed to compile {} (program {} of {}): {}\noptions: {}\nlog:\n{}",
                                   in.nvrtc_version, in.spec.canonical(), program, program_count(in.spec),
                                   api.getErrorString(rc), opts, out.log),
                       out.log, opts, in.nvrtc_version);
  }
  for (const auto& e : exprs) {
    const char* lowered = nullptr;
    SAMPLEJIT_NVRTC_CALL(api.getLoweredName(p.prog, e.c_str(), &lowered));
    out.lowered.emplace_back(lowered);
  }
  std::size_t size = 0;
  if (in.target.ptx) {
    SAMPLEJIT_NVRTC_CALL(api.getPTXSize(p.prog, &size));
    out.image.resize(size);
    SAMPLEJIT_NVRTC_CALL(api.getPTX(p.prog, out.image.data()));
  } else {
    SAMPLEJIT_NVRTC_CALL(api.getCUBINSize(p.prog, &size));
    out.image.resize(size);
    SAMPLEJIT_NVRTC_CALL(api.getCUBIN(p.prog, out.image.data()));
  }
  return out;
}

}  // namespace

Compiled compile(const CompileInputs& in) {
  const auto t0 = std::chrono::steady_clock::now();
  const int n = program_count(in.spec);
  const std::vector<std::string> exprs = kernel_name_expressions(in.spec);
  const std::vector<int> owner = entry_programs(in.spec);
  std::vector<std::vector<std::string>> program_exprs(static_cast<std::size_t>(n));
  for (std::size_t e = 0; e < exprs.size(); ++e) program_exprs[static_cast<std::size_t>(owner[e])].push_back(exprs[e]);

  // Programs 1.. on threads of their own, program 0 on this one; the first failure in program
  // order is the one reported.
  std::vector<ProgramOutput> outputs(static_cast<std::size_t>(n));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  auto run = [&](int p) {
    try {
      outputs[static_cast<std::size_t>(p)] = compile_program(in, p, program_exprs[static_cast<std::size_t>(p)]);
    } catch (...) {
      errors[static_cast<std::size_t>(p)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (int p = 1; p < n; ++p) {
    try {
      threads.emplace_back(run, p);
    } catch (const std::system_error&) {
      run(p);  // no thread to be had: compile it here
    }
  }
  run(0);
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);

  Compiled out;
  out.inputs = in;
  std::vector<std::size_t> next(static_cast<std::size_t>(n), 0);
  for (std::size_t e = 0; e < exprs.size(); ++e) {
    const auto p = static_cast<std::size_t>(owner[e]);
    out.lowered_names.push_back(outputs[p].lowered[next[p]++]);
  }
  out.lowered_name = out.lowered_names.front();
  for (auto& o : outputs) {
    out.images.push_back(std::move(o.image));
    out.log += o.log;
  }
  parse_ptxas_report(out);
  out.compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

namespace {
std::vector<std::size_t> program_bytes(const std::vector<std::vector<char>>& images) {
  std::vector<std::size_t> out;
  for (const auto& i : images) out.push_back(i.size());
  return out;
}

// Dynamic shared memory of each row kernel, parallel to KernelSpec::row_clusters().
std::vector<std::int64_t> shared_bytes_by_cluster(const KernelSpec& spec) {
  std::vector<std::int64_t> bytes;
  for (int c : spec.row_clusters()) bytes.push_back(cluster_shared_bytes(spec, c));
  return bytes;
}
}  // namespace

nlohmann::json Compiled::metadata() const {
  return {
      {"spec", inputs.spec.canonical()},
      {"digest", inputs.digest()},
      {"library_version", library_version()},
      {"nvrtc_version", inputs.nvrtc_version},
      {"options", inputs.options},
      {"target", inputs.target.arch},
      {"target_kind", inputs.target.ptx ? "ptx" : "cubin"},
      {"name_expression", kernel_name_expression(inputs.spec)},
      {"lowered_name", lowered_name},
      {"name_expressions", kernel_name_expressions(inputs.spec)},
      {"lowered_names", lowered_names},
      {"program_bytes", program_bytes(images)},
      // The launch configuration chosen for this module (docs/design.md, "Choosing the cluster").
      {"tuning",
       {{"block", inputs.spec.block},
        {"cluster", inputs.spec.cluster == kAutoCluster ? std::string("auto") : std::to_string(inputs.spec.cluster)},
        {"row_clusters", inputs.spec.row_clusters()},
        {"cluster_shared_bytes", shared_bytes_by_cluster(inputs.spec)},
        {"short_rows", inputs.spec.short_rows()},
        {"switch", inputs.spec.row_clusters().size() > 1
                       ? "by batch, SM count and whether k and p are per row: samplejit::auto_row_cluster "
                         "(measured limits)"
                       : "one kernel for every batch"}}},
      {"registers", registers},
      {"spill_stores", spill_stores},
      {"spill_loads", spill_loads},
      {"stack_bytes", stack_bytes},
      {"compile_seconds", compile_seconds},
      {"log", log.size() > 16384 ? log.substr(0, 16384) : log},
  };
}

std::vector<char> Compiled::payload() const {
  std::vector<char> out;
  for (const auto& i : images) out.insert(out.end(), i.begin(), i.end());
  return out;
}

Compiled from_cache_entry(const CompileInputs& inputs, const nlohmann::json& meta, const std::vector<char>& payload) {
  Compiled c;
  c.inputs = inputs;
  try {
    c.lowered_name = meta.at("lowered_name").get<std::string>();
    c.lowered_names = meta.at("lowered_names").get<std::vector<std::string>>();
    const std::vector<std::string> exprs = kernel_name_expressions(inputs.spec);
    if (meta.at("name_expressions").get<std::vector<std::string>>() != exprs ||
        c.lowered_names.size() != exprs.size() || c.lowered_names.front() != c.lowered_name)
      throw Error(ErrorCode::Cache, "cache entry's entry points do not match this build");
    const auto sizes = meta.at("program_bytes").get<std::vector<std::size_t>>();
    if (sizes.size() != static_cast<std::size_t>(program_count(inputs.spec)))
      throw Error(ErrorCode::Cache, fmt::format("cache entry holds {} program image(s), this build compiles {}", sizes.size(),
                                                program_count(inputs.spec)));
    const auto tile_payload = [&] {
      std::size_t left = payload.size();
      for (std::size_t n : sizes) {
        if (n == 0 || n > left) return false;
        left -= n;
      }
      return left == 0;
    };
    if (!tile_payload())
      throw Error(ErrorCode::Cache,
                  fmt::format("cache entry's program sizes do not add up to its {} payload bytes", payload.size()));
    auto at = payload.begin();
    for (std::size_t n : sizes) {
      c.images.emplace_back(at, at + static_cast<std::ptrdiff_t>(n));
      at += static_cast<std::ptrdiff_t>(n);
    }
    c.log = meta.value("log", "");
    c.registers = meta.value("registers", -1);
    c.spill_stores = meta.value("spill_stores", -1);
    c.spill_loads = meta.value("spill_loads", -1);
    c.stack_bytes = meta.value("stack_bytes", -1);
    c.compile_seconds = meta.value("compile_seconds", 0.0);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::Cache, fmt::format("cache entry metadata for {} is incomplete: {}", inputs.spec.canonical(), e.what()));
  }
  for (const auto& name : c.lowered_names)
    if (name.empty()) throw Error(ErrorCode::Cache, "cache entry has an empty lowered name");
  return c;
}

// Each block of the report opens with "Compiling entry function '<lowered name>'".
std::vector<KernelReport> kernel_reports(const Compiled& c) {
  constexpr std::string_view kOpen = "Compiling entry function '";
  const std::string_view log = c.log;
  std::vector<KernelReport> out;
  for (const auto& name : c.lowered_names) {
    const std::size_t at = log.find(fmt::format("{}{}'", kOpen, name));
    if (at == std::string_view::npos) {
      out.emplace_back();
      continue;
    }
    const std::size_t next = log.find(kOpen, at + kOpen.size());
    out.push_back(report_of(log.substr(at, next == std::string_view::npos ? log.npos : next - at)));
  }
  return out;
}

}  // namespace samplejit
