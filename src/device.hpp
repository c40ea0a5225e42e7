// Move-only RAII handles over the driver API for tools and tests (the library's launch path
// allocates nothing).
#pragma once

#include <cstddef>
#include <utility>

#include "dynload.hpp"

namespace samplejit::detail {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes) SAMPLEJIT_CU_CALL(driver().memAlloc(&ptr_, bytes));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, 0)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) driver().memFree(ptr_);
  }
  CUdeviceptr get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }
  // n bytes at byte `at` of the buffer.
  void upload(const void* src, std::size_t n, std::size_t at = 0) const {
    SAMPLEJIT_CU_CALL(driver().memcpyHtoD(ptr_ + at, src, n));
  }
  void download(void* dst, std::size_t n, std::size_t at = 0) const {
    SAMPLEJIT_CU_CALL(driver().memcpyDtoH(dst, ptr_ + at, n));
  }

 private:
  CUdeviceptr ptr_ = 0;
  std::size_t bytes_ = 0;
};

class Stream {
 public:
  Stream() { SAMPLEJIT_CU_CALL(driver().streamCreate(&s_, CU_STREAM_NON_BLOCKING)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (s_) driver().streamDestroy(s_);
  }
  CUstream get() const { return s_; }
  void sync() const { SAMPLEJIT_CU_CALL(driver().streamSynchronize(s_)); }

 private:
  CUstream s_ = nullptr;
};

class Event {
 public:
  Event() { SAMPLEJIT_CU_CALL(driver().eventCreate(&e_, CU_EVENT_DEFAULT)); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (e_) driver().eventDestroy(e_);
  }
  void record(CUstream s) const { SAMPLEJIT_CU_CALL(driver().eventRecord(e_, s)); }
  // Milliseconds from this event to `later` (both recorded and complete).
  float ms_until(const Event& later) const {
    SAMPLEJIT_CU_CALL(driver().eventSynchronize(later.e_));
    float ms = 0;
    SAMPLEJIT_CU_CALL(driver().eventElapsedTime(&ms, e_, later.e_));
    return ms;
  }

 private:
  CUevent e_ = nullptr;
};

}  // namespace samplejit::detail
