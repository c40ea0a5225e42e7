// Device-side helpers for `samplejit bench` that the library itself does not need: a read-only
// bandwidth roofline kernel, CUDA-graph capture, and free-memory queries.
#pragma once

#include <cuda.h>

#include <cstddef>
#include <optional>
#include <string>

#include "device.hpp"

namespace samplejit::cli {

// A grid-stride kernel that reads `bytes` with 16-byte loads and folds them into one word per
// warp, so nothing can be optimized away. Its time is the floor for a kernel that only reads the
// logits (the sample modes), as a D2D copy is for the in-place ones.
class ReadRoofline {
 public:
  // Compiles with NVRTC for the device's arch (PTX for a device newer than NVRTC) and loads it.
  ReadRoofline(const std::string& device_arch, int sm_count);
  ~ReadRoofline();
  ReadRoofline(const ReadRoofline&) = delete;
  ReadRoofline& operator=(const ReadRoofline&) = delete;

  void launch(CUstream stream, CUdeviceptr src, std::size_t bytes) const;
  double compile_seconds() const { return compile_seconds_; }

 private:
  CUlibrary library_ = nullptr;
  CUkernel kernel_ = nullptr;
  unsigned max_blocks_ = 0;
  detail::DeviceBuffer sink_;  // one word per block
  double compile_seconds_ = 0;
};

// One stream's work captured once and replayed as a CUDA graph.
class CapturedGraph {
 public:
  template <class Body>
  CapturedGraph(CUstream stream, Body&& body) {
    begin(stream);
    try {
      body();
    } catch (...) {
      abort(stream);
      throw;
    }
    end(stream);
  }
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  void launch(CUstream stream) const;

 private:
  void begin(CUstream stream);
  void abort(CUstream stream) noexcept;
  void end(CUstream stream);
  CUgraph graph_ = nullptr;
  CUgraphExec exec_ = nullptr;
};

// Free bytes on the current context's device (cuMemGetInfo), or nullopt if the driver does not
// export it.
std::optional<std::size_t> free_device_bytes();

}  // namespace samplejit::cli
