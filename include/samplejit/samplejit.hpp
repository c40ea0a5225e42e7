// The C++ API a runtime embeds: Runtime -> prepare(spec, device) -> Kernel -> launch(stream, ...).
#pragma once

#include <cuda.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "samplejit/error.hpp"
#include "samplejit/jit.hpp"
#include "samplejit/spec.hpp"

namespace samplejit {

struct RuntimeOptions {
  std::optional<std::filesystem::path> cache_root;  // default: DiskCache::default_root()
  bool disk_cache = true;                           // false: memory only
};

// Where a prepared binary came from.
enum class Source { Memory, Disk, Compiled };
std::string_view to_string(Source s);

struct PrewarmResult {
  KernelSpec spec;
  std::string digest;
  Source source = Source::Compiled;
  double seconds = 0;
  int registers = -1, spill_stores = -1, spill_loads = -1;
};

struct DeviceInfo {
  int ordinal = -1;
  std::string uuid;  // the identity every per-device cache is keyed by
  std::string name;
  std::string arch;  // "sm_90"
  int sm_count = 0;
};

struct RuntimeStats {
  std::uint64_t nvrtc_compiles = 0;  // NVRTC invocations by this runtime
  std::uint64_t disk_hits = 0;
  std::uint64_t memory_hits = 0;
  std::uint64_t loads = 0;           // cuLibraryLoadData calls
};

class Runtime;

// One decode step of the fused sampler (a Kind::Sample kernel). Inputs are device arrays of
// `batch` elements, 0 for the default: temperature float (1; <= 0 or NaN is greedy), top_k int32
// (off), top_p float (off), min_p float (off), seed uint64 (0), offset uint64 (0).
// Outputs are device arrays of `batch` elements, 0 when not wanted. See docs/semantics.md.
struct SampleArgs {
  CUdeviceptr logits = 0;
  std::int64_t row_stride = 0;  // elements, >= vocab
  std::int64_t batch = 0;
  CUdeviceptr temperature = 0, top_k = 0, top_p = 0, min_p = 0, seed = 0, offset = 0;
  CUdeviceptr token32 = 0;      // int32 token ids (-1 for a row with no candidate)
  CUdeviceptr token64 = 0;      // int64 token ids
  CUdeviceptr logprob = 0;      // float: sampled token, renormalized over the kept set
  CUdeviceptr raw_logprob = 0;  // float: sampled token, full post-temperature distribution
  CUdeviceptr logz = 0;         // float: log of the kept mass under the full distribution
  CUdeviceptr kept_count = 0;   // int32
  CUdeviceptr valid = 0;        // uint8: 0 for a row with no candidate
  CUdeviceptr mask = 0;         // per the spec's mask kind
  bool write_logits = false;    // true: dropped tokens become -inf in place
  // Kept sets for RL replay. kept_ids: int32 [batch, kept_ids_capacity], each row's first kept
  // token ids in ascending order (a row keeps kept_count of them). With csr_offsets
  // (int64 [batch + 1]) and csr_ids (int32 [batch * kept_ids_capacity]) a second launch packs
  // them into CSR; rows whose kept set exceeds the capacity get an empty range.
  CUdeviceptr kept_ids = 0;
  int kept_ids_capacity = 0;
  CUdeviceptr csr_offsets = 0, csr_ids = 0;
};

// A loaded kernel for one (device, spec). Cheap to copy; keeps its library loaded.
class Kernel {
 public:
  Kernel() = default;
  const KernelSpec& spec() const;
  const DeviceInfo& device() const;
  const std::string& digest() const;
  Source source() const;  // how prepare() obtained it

  // Masks logits in place (see docs/semantics.md). logits: [batch, vocab] with row_stride >= vocab
  // elements, aligned to the element size (no other alignment needed). top_k: int32[batch] or 0
  // (off). top_p: float32[batch] or 0 (off). mask_out: per the spec's mask kind (a bit mask
  // 4-byte aligned), or 0 when the spec has none. No allocation, no host synchronization.
  void launch(CUstream stream, CUdeviceptr logits, std::int64_t row_stride, std::int64_t batch, CUdeviceptr top_k,
              CUdeviceptr top_p, CUdeviceptr mask_out) const;

  // Samples one token per row (Kind::Sample specs). Same launch guarantees as launch().
  void sample(CUstream stream, const SampleArgs& args) const;

  // CTAs per row of the row kernel that a call with `batch` rows runs on this device (1: one CTA
  // per row). top_k / top_p: whether launch() gets per-row k / p arrays; sample() always counts
  // as both. An auto spec's choice (samplejit::auto_row_cluster); for logs, benchmarks and tests.
  int row_cluster(std::int64_t batch, bool top_k, bool top_p) const;

  struct Impl;
  explicit Kernel(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const Impl> impl_;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Compile or fetch the kernel for spec and load it on device (ordinal). An empty spec.arch is
  // taken from the device; a different one is an error. Thread-safe; a key is compiled once.
  Kernel prepare(KernelSpec spec, int device);

  // Make sure the spec's binary is in the caches without touching a GPU.
  PrewarmResult prewarm(const KernelSpec& spec);

  DeviceInfo device_info(int device);
  RuntimeStats stats() const;
  std::filesystem::path cache_root() const;
  bool disk_cache_enabled() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace samplejit
