// The JIT pipeline, stage by stage: spec -> rendered source -> compile inputs (key) -> compiled
// binary. Loading and launching live in samplejit.hpp. None of this needs a GPU.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "samplejit/spec.hpp"

namespace samplejit {

// The exact CUDA C++ translation unit compiled for a spec: the embedded templates followed by one
// explicit instantiation per row kernel (KernelSpec::row_clusters()), each under its program's
// SJ_PROGRAM guard. `samplejit render` prints it.
std::string render(const KernelSpec& spec);
// NVRTC compiles the unit once per row kernel, each program on its own thread: NVRTC's front end
// and optimizer run on one thread per program, so one program per module made a cold compile
// take the sum of its kernels' times (docs/design.md, "Compile time"). Program p is the unit
// with program_option(p), and holds row kernel p (program 0 also the sampler's CSR packer).
int program_count(const KernelSpec& spec);
std::string program_option(int program);  // "-DSJ_PROGRAM=<program>"
// The program holding each entry point, parallel to kernel_name_expressions().
std::vector<int> entry_programs(const KernelSpec& spec);
// The NVRTC name expression whose lowered name is the kernel entry point.
std::string kernel_name_expression(const KernelSpec& spec);
// Every entry point of the unit: the main (primary-cluster) kernel, the CSR packer of sample
// specs, then the other row kernels in row_clusters() order.
std::vector<std::string> kernel_name_expressions(const KernelSpec& spec);
// The row cluster of each entry point, parallel to kernel_name_expressions(); 0 for the packer.
std::vector<int> entry_clusters(const KernelSpec& spec);

struct NvrtcInfo {
  int major = 0, minor = 0;
  std::vector<int> archs;  // supported sm numbers, ascending
  std::string library;
  std::string version() const;  // "13.0"
};
// Throws Error(NotAvailable) without NVRTC.
const NvrtcInfo& nvrtc_info();

// What NVRTC emits: a cubin for the exact arch, or PTX for the newest arch NVRTC knows when the
// device is newer than that.
struct Target {
  std::string arch;  // "sm_90" (cubin) or "compute_90" (ptx)
  bool ptx = false;
};
Target choose_target(const std::string& device_arch, const NvrtcInfo& info);

// Everything that determines the binary; digest() is the cache key.
struct CompileInputs {
  KernelSpec spec;
  std::string source;
  std::vector<std::string> options;  // canonical order
  Target target;
  std::string nvrtc_version;
  std::string digest() const;        // 32 lowercase hex chars (XXH3-128 of labelled fields)
};
CompileInputs make_compile_inputs(const KernelSpec& spec);  // asks NVRTC (loads it)
// Keyed with `info` as given: the runtime passes its NVRTC stamp's (src/toolchain.hpp) on a warm start.
CompileInputs make_compile_inputs(const KernelSpec& spec, const NvrtcInfo& info);
// The canonical NVRTC options for a target, shared by a module's programs (each adds its
// program_option()). docs/semantics.md explains the floating-point flags.
std::vector<std::string> compile_options(const Target& target);

// One kernel's lines of the ptxas report; -1: not reported (PTX, or a log cut short in the cache).
struct KernelReport {
  int registers = -1, spill_stores = -1, spill_loads = -1, stack_bytes = -1;
};

struct Compiled {
  CompileInputs inputs;
  std::vector<std::vector<char>> images;           // one cubin (or PTX) per program
  std::string lowered_name;                        // of the main entry point
  std::vector<std::string> lowered_names;          // parallel to kernel_name_expressions()
  std::string log;                                 // every program's log, in program order
  // The largest over the module's kernels (ptxas report); -1: unknown (PTX).
  int registers = -1, spill_stores = -1, spill_loads = -1, stack_bytes = -1;
  double compile_seconds = 0;

  nlohmann::json metadata() const;  // what the cache entry stores
  std::vector<char> payload() const;  // the images back to back (their sizes are in metadata())
};
// Runs NVRTC. Throws CompileError carrying the log, the options and the NVRTC version.
Compiled compile(const CompileInputs& inputs);
// Rebuild from a cache entry's metadata and payload (the inputs must be the ones that keyed it).
// Throws Error(Cache) when they do not describe this build's programs.
Compiled from_cache_entry(const CompileInputs& inputs, const nlohmann::json& meta, const std::vector<char>& payload);
// Each entry point's own ptxas report, parallel to lowered_names, read from the log (ptxas reports
// kernel by kernel); the metadata keeps only the maxima.
std::vector<KernelReport> kernel_reports(const Compiled& c);

std::string library_version();
// The git commit this library was built from ("-dirty" with uncommitted changes to tracked files,
// "unknown" outside git), for `info` and benchmark records. Not part of library_version(): a new
// commit keeps the cached kernels.
const char* build_commit();

}  // namespace samplejit
