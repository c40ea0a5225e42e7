// One exception type for the whole library; the C ABI maps its code to a status.
#pragma once

#include <stdexcept>
#include <string>

namespace samplejit {

enum class ErrorCode : int {
  InvalidArgument = 1,
  NotAvailable = 2,   // driver or NVRTC missing, or no device
  Compile = 3,        // NVRTC failed; message carries log, options, version
  Driver = 4,         // a CUDA driver call failed
  Cache = 5,          // on-disk cache I/O problem that could not be worked around
  Internal = 6,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Thrown by the compile stage. what() already holds everything; the parts stay reachable for tools.
class CompileError : public Error {
 public:
  CompileError(const std::string& what, std::string log, std::string options, std::string nvrtc_version)
      : Error(ErrorCode::Compile, what),
        log_(std::move(log)),
        options_(std::move(options)),
        nvrtc_version_(std::move(nvrtc_version)) {}
  const std::string& log() const noexcept { return log_; }
  const std::string& options() const noexcept { return options_; }
  const std::string& nvrtc_version() const noexcept { return nvrtc_version_; }

 private:
  std::string log_, options_, nvrtc_version_;
};

[[noreturn]] void throw_invalid(const std::string& argument, const std::string& value, const std::string& why);

}  // namespace samplejit
