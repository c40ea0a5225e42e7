// libcuda and libnvrtc, opened with dlopen on first use so that a machine with no GPU driver
// still runs the CLI, the CPU tests and prewarm. Calls go through these tables.
#pragma once

#include <cuda.h>
#include <nvrtc.h>

#include <string>
#include <vector>

namespace samplejit::detail {

struct NvrtcApi {
  decltype(&::nvrtcVersion) version = nullptr;
  decltype(&::nvrtcGetNumSupportedArchs) getNumSupportedArchs = nullptr;
  decltype(&::nvrtcGetSupportedArchs) getSupportedArchs = nullptr;
  decltype(&::nvrtcCreateProgram) createProgram = nullptr;
  decltype(&::nvrtcDestroyProgram) destroyProgram = nullptr;
  decltype(&::nvrtcCompileProgram) compileProgram = nullptr;
  decltype(&::nvrtcAddNameExpression) addNameExpression = nullptr;
  decltype(&::nvrtcGetLoweredName) getLoweredName = nullptr;
  decltype(&::nvrtcGetProgramLogSize) getProgramLogSize = nullptr;
  decltype(&::nvrtcGetProgramLog) getProgramLog = nullptr;
  decltype(&::nvrtcGetCUBINSize) getCUBINSize = nullptr;
  decltype(&::nvrtcGetCUBIN) getCUBIN = nullptr;
  decltype(&::nvrtcGetPTXSize) getPTXSize = nullptr;
  decltype(&::nvrtcGetPTX) getPTX = nullptr;
  decltype(&::nvrtcGetErrorString) getErrorString = nullptr;
  std::string path;  // the library actually opened
  std::string file;  // the file the loader mapped for it (dladdr), for the toolchain stamp
  // A libnvrtc was already mapped (the host program loaded one) before ours was opened, so which
  // file dlopen gave back depended on the process, not on the loader's search alone.
  bool found_resident = false;
};

struct DriverApi {
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuDriverGetVersion) driverGetVersion = nullptr;
  decltype(&::cuGetErrorName) getErrorName = nullptr;
  decltype(&::cuGetErrorString) getErrorString = nullptr;
  decltype(&::cuDeviceGetCount) deviceGetCount = nullptr;
  decltype(&::cuDeviceGet) deviceGet = nullptr;
  decltype(&::cuDeviceGetName) deviceGetName = nullptr;
  decltype(&::cuDeviceGetAttribute) deviceGetAttribute = nullptr;
  decltype(&::cuDeviceGetUuid_v2) deviceGetUuid = nullptr;
  decltype(&::cuDeviceTotalMem_v2) deviceTotalMem = nullptr;
  decltype(&::cuDevicePrimaryCtxRetain) primaryCtxRetain = nullptr;
  decltype(&::cuDevicePrimaryCtxRelease_v2) primaryCtxRelease = nullptr;
  decltype(&::cuCtxGetCurrent) ctxGetCurrent = nullptr;
  decltype(&::cuCtxSetCurrent) ctxSetCurrent = nullptr;
  decltype(&::cuCtxGetDevice) ctxGetDevice = nullptr;
  decltype(&::cuCtxSynchronize) ctxSynchronize = nullptr;
  decltype(&::cuLibraryLoadData) libraryLoadData = nullptr;
  decltype(&::cuLibraryUnload) libraryUnload = nullptr;
  decltype(&::cuLibraryGetKernel) libraryGetKernel = nullptr;
  decltype(&::cuKernelGetAttribute) kernelGetAttribute = nullptr;
  decltype(&::cuKernelSetAttribute) kernelSetAttribute = nullptr;
  decltype(&::cuLaunchKernel) launchKernel = nullptr;
  decltype(&::cuLaunchKernelEx) launchKernelEx = nullptr;
  decltype(&::cuMemAlloc_v2) memAlloc = nullptr;
  decltype(&::cuMemFree_v2) memFree = nullptr;
  decltype(&::cuMemcpyHtoD_v2) memcpyHtoD = nullptr;
  decltype(&::cuMemcpyDtoH_v2) memcpyDtoH = nullptr;
  decltype(&::cuMemcpyDtoDAsync_v2) memcpyDtoDAsync = nullptr;
  decltype(&::cuMemsetD8_v2) memsetD8 = nullptr;
  decltype(&::cuMemsetD8Async) memsetD8Async = nullptr;
  decltype(&::cuMemsetD32Async) memsetD32Async = nullptr;
  decltype(&::cuStreamCreate) streamCreate = nullptr;
  decltype(&::cuStreamDestroy_v2) streamDestroy = nullptr;
  decltype(&::cuStreamSynchronize) streamSynchronize = nullptr;
  decltype(&::cuStreamBeginCapture_v2) streamBeginCapture = nullptr;
  decltype(&::cuStreamEndCapture) streamEndCapture = nullptr;
  decltype(&::cuGraphInstantiateWithFlags) graphInstantiate = nullptr;
  decltype(&::cuGraphLaunch) graphLaunch = nullptr;
  decltype(&::cuGraphExecDestroy) graphExecDestroy = nullptr;
  decltype(&::cuGraphDestroy) graphDestroy = nullptr;
  decltype(&::cuEventCreate) eventCreate = nullptr;
  decltype(&::cuEventDestroy_v2) eventDestroy = nullptr;
  decltype(&::cuEventRecord) eventRecord = nullptr;
  decltype(&::cuEventSynchronize) eventSynchronize = nullptr;
  decltype(&::cuEventElapsedTime_v2) eventElapsedTime = nullptr;
  std::string path;
};

// Throw samplejit::Error(NotAvailable) naming the libraries tried when they cannot be opened.
const NvrtcApi& nvrtc();
const DriverApi& driver();  // also calls cuInit(0) once
bool driver_available() noexcept;

// The names nvrtc() tries, in order (SAMPLEJIT_NVRTC_LIBRARY first when set).
std::vector<std::string> nvrtc_candidates();
// Whether this process already has a libnvrtc mapped: ours, or one under any candidate name that
// the host program loaded (dlopen would hand that one back). Loads nothing.
bool nvrtc_resident() noexcept;

// "cuLaunchKernel(...) failed: CUDA_ERROR_X (description)"; throws samplejit::Error(Driver).
void driver_check(CUresult r, const char* call, const char* file, int line);
void nvrtc_check(nvrtcResult r, const char* call, const char* file, int line);

}  // namespace samplejit::detail

#define SAMPLEJIT_CU_CALL(api_call) \
  ::samplejit::detail::driver_check((api_call), #api_call, __FILE__, __LINE__)
#define SAMPLEJIT_NVRTC_CALL(api_call) \
  ::samplejit::detail::nvrtc_check((api_call), #api_call, __FILE__, __LINE__)
