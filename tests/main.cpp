#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

int main(int argc, char* argv[]) {
  // The compile tests read ptxas's register and spill report. Where a driver is installed, NVRTC
  // can take a module's machine code from the CUDA compute cache (~/.nv/ComputeCache) filled by an
  // earlier compile on the machine, and then there is no report (docs/benchmarks.md, "JIT cost").
  // Set before the driver and NVRTC are loaded, as if at process start.
  setenv("CUDA_CACHE_DISABLE", "1", 1);
  return Catch::Session().run(argc, argv);
}
