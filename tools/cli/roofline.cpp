#include "roofline.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "dynload.hpp"
#include "samplejit/error.hpp"
#include "samplejit/jit.hpp"

namespace samplejit::cli {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kBlocksPerSm = 8;  // 2048 resident threads per SM on sm_80/sm_90

// Four independent 16-byte loads per iteration keep enough bytes in flight per SM to saturate
// HBM; the warp-level XOR and one atomic per warp make the loads observable without costing a
// measurable fraction of the time.
constexpr const char* kSource = R"(
extern "C" __global__ void __launch_bounds__(256, 8)
samplejit_read_roofline(const uint4* __restrict__ src, unsigned long long n16,
                        const unsigned char* __restrict__ tail, unsigned tail_bytes,
                        unsigned* __restrict__ sink) {
  const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
  unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
  unsigned acc = 0;
  for (; i + 3 * stride < n16; i += 4 * stride) {
    const uint4 a = __ldg(src + i), b = __ldg(src + i + stride), c = __ldg(src + i + 2 * stride),
                d = __ldg(src + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
  }
  for (; i < n16; i += stride) {
    const uint4 a = __ldg(src + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (blockIdx.x == 0 && threadIdx.x < tail_bytes) acc ^= tail[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) acc ^= __shfl_xor_sync(0xffffffffu, acc, o);
  if ((threadIdx.x & 31) == 0) atomicXor(sink + blockIdx.x, acc);
}
)";

struct Program {
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p) detail::nvrtc().destroyProgram(&p);
  }
};

}  // namespace

ReadRoofline::ReadRoofline(const std::string& device_arch, int sm_count) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& api = detail::nvrtc();
  const Target target = choose_target(device_arch, nvrtc_info());
  Program prog;
  SAMPLEJIT_NVRTC_CALL(api.createProgram(&prog.p, kSource, "samplejit_read_roofline.cu", 0, nullptr, nullptr));
  const std::string arch_opt = fmt::format("--gpu-architecture={}", target.arch);
  const char* opts[] = {arch_opt.c_str(), "--std=c++17"};
  if (api.compileProgram(prog.p, 2, opts) != NVRTC_SUCCESS) {
    std::size_t n = 0;
    api.getProgramLogSize(prog.p, &n);
    std::string log(n, '\0');
    if (n) api.getProgramLog(prog.p, log.data());
    throw Error(ErrorCode::Compile,
                fmt::format("bench: the read-roofline kernel did not compile for {}:\n{}", target.arch, log));
  }
  std::vector<char> image;
  std::size_t size = 0;
  if (target.ptx) {
    SAMPLEJIT_NVRTC_CALL(api.getPTXSize(prog.p, &size));
    image.resize(size + 1, '\0');  // the driver wants PTX NUL-terminated
    SAMPLEJIT_NVRTC_CALL(api.getPTX(prog.p, image.data()));
  } else {
    SAMPLEJIT_NVRTC_CALL(api.getCUBINSize(prog.p, &size));
    image.resize(size);
    SAMPLEJIT_NVRTC_CALL(api.getCUBIN(prog.p, image.data()));
  }
  const auto& cu = detail::driver();
  SAMPLEJIT_CU_CALL(cu.libraryLoadData(&library_, image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  try {
    SAMPLEJIT_CU_CALL(cu.libraryGetKernel(&kernel_, library_, "samplejit_read_roofline"));
  } catch (...) {
    cu.libraryUnload(library_);
    throw;
  }
  max_blocks_ = static_cast<unsigned>(std::max(1, sm_count)) * kBlocksPerSm;
  sink_ = detail::DeviceBuffer(std::size_t{max_blocks_} * 4);
  compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

ReadRoofline::~ReadRoofline() {
  if (library_ && detail::driver_available()) detail::driver().libraryUnload(library_);
}

void ReadRoofline::launch(CUstream stream, CUdeviceptr src, std::size_t bytes) const {
  if (src % 16 != 0) throw_invalid("read roofline source", fmt::format("{:#x}", src), "must be 16-byte aligned");
  unsigned long long n16 = bytes / 16;
  unsigned tail_bytes = static_cast<unsigned>(bytes % 16);
  // Small buffers get one load per thread spread over as many SMs as possible; large ones stop
  // at full occupancy and loop.
  const unsigned long long want = std::max<unsigned long long>(1, (n16 + kThreads - 1) / kThreads);
  const unsigned blocks = static_cast<unsigned>(std::min<unsigned long long>(want, max_blocks_));
  void* p_src = reinterpret_cast<void*>(src);
  void* p_tail = reinterpret_cast<void*>(src + n16 * 16);
  void* p_sink = reinterpret_cast<void*>(sink_.get());
  void* args[] = {&p_src, &n16, &p_tail, &tail_bytes, &p_sink};
  SAMPLEJIT_CU_CALL(detail::driver().launchKernel(reinterpret_cast<CUfunction>(kernel_), blocks, 1, 1, kThreads, 1, 1,
                                                  0, stream, args, nullptr));
}

void CapturedGraph::begin(CUstream stream) {
  // Thread-local mode: the capture must not trip over unrelated driver calls from other threads.
  SAMPLEJIT_CU_CALL(detail::driver().streamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
}

void CapturedGraph::abort(CUstream stream) noexcept {
  const auto& cu = detail::driver();
  CUgraph g = nullptr;
  cu.streamEndCapture(stream, &g);  // leaves the stream usable; the partial graph is dropped
  if (g) cu.graphDestroy(g);
}

void CapturedGraph::end(CUstream stream) {
  const auto& cu = detail::driver();
  SAMPLEJIT_CU_CALL(cu.streamEndCapture(stream, &graph_));
  try {
    SAMPLEJIT_CU_CALL(cu.graphInstantiate(&exec_, graph_, 0));
  } catch (...) {
    cu.graphDestroy(graph_);
    graph_ = nullptr;
    throw;
  }
}

CapturedGraph::~CapturedGraph() {
  if (!detail::driver_available()) return;
  const auto& cu = detail::driver();
  if (exec_) cu.graphExecDestroy(exec_);
  if (graph_) cu.graphDestroy(graph_);
}

void CapturedGraph::launch(CUstream stream) const { SAMPLEJIT_CU_CALL(detail::driver().graphLaunch(exec_, stream)); }

std::optional<std::size_t> free_device_bytes() {
  // cuMemGetInfo is not in the library's driver table (the library never needs it); look it up
  // in the libcuda the table already opened.
  using MemGetInfo = CUresult (*)(std::size_t*, std::size_t*);
  static const MemGetInfo fn = []() -> MemGetInfo {
    void* h = dlopen(detail::driver().path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    return h ? reinterpret_cast<MemGetInfo>(dlsym(h, "cuMemGetInfo_v2")) : nullptr;
  }();
  if (!fn) return std::nullopt;
  std::size_t free = 0, total = 0;
  SAMPLEJIT_CU_CALL(fn(&free, &total));
  return free;
}

}  // namespace samplejit::cli
