// dlopen/dlsym of libcuda and libnvrtc, once per process.
#include "dynload.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "samplejit/error.hpp"

namespace samplejit::detail {
namespace {

void* open_first(const std::vector<std::string>& names, std::string& opened, std::string& errors) {
  for (const auto& n : names) {
    if (void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      opened = n;
      return h;
    }
    const char* e = dlerror();
    errors += fmt::format("\n  {}: {}", n, e ? e : "not found");
  }
  return nullptr;
}

template <class F>
void bind(void* handle, F& fn, const char* symbol, const std::string& lib) {
  fn = reinterpret_cast<F>(dlsym(handle, symbol));
  if (!fn)
    throw Error(ErrorCode::NotAvailable, fmt::format("{} lacks symbol {} (too old?)", lib, symbol));
}

}  // namespace

std::vector<std::string> nvrtc_candidates() {
  std::vector<std::string> names;
  if (const char* env = std::getenv("SAMPLEJIT_NVRTC_LIBRARY"); env && *env) names.emplace_back(env);
  for (const char* n : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}) names.emplace_back(n);
  // The toolkit's own copy, for machines where it is not on the loader path.
  for (const char* n : {"/usr/local/cuda/lib64/libnvrtc.so.13", "/usr/local/cuda/lib64/libnvrtc.so.12",
                        "/usr/local/cuda/lib64/libnvrtc.so"})
    names.emplace_back(n);
  return names;
}

namespace {

std::atomic<bool> g_nvrtc_loaded{false};

bool any_candidate_mapped() {
  for (const auto& n : nvrtc_candidates()) {
    if (void* h = dlopen(n.c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD)) {
      dlclose(h);  // NOLOAD still took a reference
      return true;
    }
  }
  return false;
}

struct NvrtcHolder {
  NvrtcApi api;
  std::string error;
  NvrtcHolder() {
    try {
      std::string tried;
      api.found_resident = any_candidate_mapped();
      void* h = open_first(nvrtc_candidates(), api.path, tried);
      if (!h) throw Error(ErrorCode::NotAvailable, "cannot load NVRTC; tried:" + tried);
      bind(h, api.version, "nvrtcVersion", api.path);
      bind(h, api.getNumSupportedArchs, "nvrtcGetNumSupportedArchs", api.path);
      bind(h, api.getSupportedArchs, "nvrtcGetSupportedArchs", api.path);
      bind(h, api.createProgram, "nvrtcCreateProgram", api.path);
      bind(h, api.destroyProgram, "nvrtcDestroyProgram", api.path);
      bind(h, api.compileProgram, "nvrtcCompileProgram", api.path);
      bind(h, api.addNameExpression, "nvrtcAddNameExpression", api.path);
      bind(h, api.getLoweredName, "nvrtcGetLoweredName", api.path);
      bind(h, api.getProgramLogSize, "nvrtcGetProgramLogSize", api.path);
      bind(h, api.getProgramLog, "nvrtcGetProgramLog", api.path);
      bind(h, api.getCUBINSize, "nvrtcGetCUBINSize", api.path);
      bind(h, api.getCUBIN, "nvrtcGetCUBIN", api.path);
      bind(h, api.getPTXSize, "nvrtcGetPTXSize", api.path);
      bind(h, api.getPTX, "nvrtcGetPTX", api.path);
      bind(h, api.getErrorString, "nvrtcGetErrorString", api.path);
      Dl_info where{};
      const bool found = dladdr(reinterpret_cast<void*>(api.version), &where) && where.dli_fname;
      api.file = found ? where.dli_fname : api.path;
      // Absolute (a relative SAMPLEJIT_NVRTC_LIBRARY is resolved against the working directory),
      // but with its symlinks kept: the stamp checks the file they lead to when it is read, so a
      // link moved to another version of the library is seen.
      std::error_code ec;
      if (const auto abs = std::filesystem::absolute(api.file, ec); !ec) api.file = abs.string();
      g_nvrtc_loaded = true;
    } catch (const Error& e) {
      error = e.what();
    }
  }
};

struct DriverHolder {
  DriverApi api;
  std::string error;
  DriverHolder() {
    try {
      std::string tried;
      void* h = open_first({"libcuda.so.1", "libcuda.so"}, api.path, tried);
      if (!h) throw Error(ErrorCode::NotAvailable, "cannot load the CUDA driver (no GPU driver on this machine?); tried:" + tried);
      bind(h, api.init, "cuInit", api.path);
      bind(h, api.driverGetVersion, "cuDriverGetVersion", api.path);
      bind(h, api.getErrorName, "cuGetErrorName", api.path);
      bind(h, api.getErrorString, "cuGetErrorString", api.path);
      bind(h, api.deviceGetCount, "cuDeviceGetCount", api.path);
      bind(h, api.deviceGet, "cuDeviceGet", api.path);
      bind(h, api.deviceGetName, "cuDeviceGetName", api.path);
      bind(h, api.deviceGetAttribute, "cuDeviceGetAttribute", api.path);
      bind(h, api.deviceGetUuid, "cuDeviceGetUuid_v2", api.path);
      bind(h, api.deviceTotalMem, "cuDeviceTotalMem_v2", api.path);
      bind(h, api.primaryCtxRetain, "cuDevicePrimaryCtxRetain", api.path);
      bind(h, api.primaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", api.path);
      bind(h, api.ctxGetCurrent, "cuCtxGetCurrent", api.path);
      bind(h, api.ctxSetCurrent, "cuCtxSetCurrent", api.path);
      bind(h, api.ctxGetDevice, "cuCtxGetDevice", api.path);
      bind(h, api.ctxSynchronize, "cuCtxSynchronize", api.path);
      bind(h, api.libraryLoadData, "cuLibraryLoadData", api.path);
      bind(h, api.libraryUnload, "cuLibraryUnload", api.path);
      bind(h, api.libraryGetKernel, "cuLibraryGetKernel", api.path);
      bind(h, api.kernelGetAttribute, "cuKernelGetAttribute", api.path);
      bind(h, api.kernelSetAttribute, "cuKernelSetAttribute", api.path);
      bind(h, api.launchKernel, "cuLaunchKernel", api.path);
      bind(h, api.launchKernelEx, "cuLaunchKernelEx", api.path);
      bind(h, api.memAlloc, "cuMemAlloc_v2", api.path);
      bind(h, api.memFree, "cuMemFree_v2", api.path);
      bind(h, api.memcpyHtoD, "cuMemcpyHtoD_v2", api.path);
      bind(h, api.memcpyDtoH, "cuMemcpyDtoH_v2", api.path);
      bind(h, api.memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", api.path);
      bind(h, api.memsetD8, "cuMemsetD8_v2", api.path);
      bind(h, api.memsetD8Async, "cuMemsetD8Async", api.path);
      bind(h, api.memsetD32Async, "cuMemsetD32Async", api.path);
      bind(h, api.streamCreate, "cuStreamCreate", api.path);
      bind(h, api.streamDestroy, "cuStreamDestroy_v2", api.path);
      bind(h, api.streamSynchronize, "cuStreamSynchronize", api.path);
      bind(h, api.streamBeginCapture, "cuStreamBeginCapture_v2", api.path);
      bind(h, api.streamEndCapture, "cuStreamEndCapture", api.path);
      bind(h, api.graphInstantiate, "cuGraphInstantiateWithFlags", api.path);
      bind(h, api.graphLaunch, "cuGraphLaunch", api.path);
      bind(h, api.graphExecDestroy, "cuGraphExecDestroy", api.path);
      bind(h, api.graphDestroy, "cuGraphDestroy", api.path);
      bind(h, api.eventCreate, "cuEventCreate", api.path);
      bind(h, api.eventDestroy, "cuEventDestroy_v2", api.path);
      bind(h, api.eventRecord, "cuEventRecord", api.path);
      bind(h, api.eventSynchronize, "cuEventSynchronize", api.path);
      bind(h, api.eventElapsedTime, "cuEventElapsedTime_v2", api.path);
      CUresult r = api.init(0);
      if (r != CUDA_SUCCESS) {
        const char* name = nullptr;
        api.getErrorName(r, &name);
        throw Error(ErrorCode::NotAvailable, fmt::format("cuInit(0) failed: {} (no usable GPU?)", name ? name : "?"));
      }
    } catch (const Error& e) {
      error = e.what();
    }
  }
};

const NvrtcHolder& nvrtc_holder() {
  static const NvrtcHolder holder;
  return holder;
}
const DriverHolder& driver_holder() {
  static const DriverHolder holder;
  return holder;
}

}  // namespace

const NvrtcApi& nvrtc() {
  const auto& h = nvrtc_holder();
  if (!h.error.empty()) throw Error(ErrorCode::NotAvailable, h.error);
  return h.api;
}

const DriverApi& driver() {
  const auto& h = driver_holder();
  if (!h.error.empty()) throw Error(ErrorCode::NotAvailable, h.error);
  return h.api;
}

bool driver_available() noexcept { return driver_holder().error.empty(); }

bool nvrtc_resident() noexcept {
  if (g_nvrtc_loaded) return true;
  try {
    return any_candidate_mapped();
  } catch (...) {
    return true;  // cannot tell (out of memory): say yes, so that the caller loads and asks NVRTC
  }
}

void driver_check(CUresult r, const char* call, const char* file, int line) {
  if (r == CUDA_SUCCESS) return;
  const char* name = nullptr;
  const char* desc = nullptr;
  if (driver_available()) {
    driver_holder().api.getErrorName(r, &name);
    driver_holder().api.getErrorString(r, &desc);
  }
  throw Error(ErrorCode::Driver, fmt::format("{} failed: {} ({}) at {}:{}", call, name ? name : std::to_string(r),
                                             desc ? desc : "no description", file, line));
}

void nvrtc_check(nvrtcResult r, const char* call, const char* file, int line) {
  if (r == NVRTC_SUCCESS) return;
  const char* s = nvrtc_holder().error.empty() ? nvrtc_holder().api.getErrorString(r) : "?";
  throw Error(ErrorCode::Compile, fmt::format("{} failed: {} at {}:{}", call, s, file, line));
}

}  // namespace samplejit::detail
