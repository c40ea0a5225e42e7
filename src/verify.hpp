// Runs a prepared kernel on generated rows and judges every row against the CPU reference.
// Used by `samplejit verify` and the GPU tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "samplejit/samplejit.hpp"
#include "workloads.hpp"

namespace samplejit {

struct VerifyOptions {
  std::int64_t batch = 64;
  std::int64_t row_stride = 0;      // 0: vocab
  std::int64_t base_offset = 0;     // elements of marker before row 0: misaligns the rows' starts
  std::uint64_t seed = 1;
  bool edge_params = true;          // mix k/p edges (k<=0, k>=V, NaN/<=0/>=1 p) with random ones
  bool with_top_k = true, with_top_p = true;  // false: pass a null array
  std::int64_t distinct_rows = 0;   // >0: generate this many rows and tile them (huge batches)
  std::int64_t check_every = 1;     // judge every n-th row (plus the last 64 rows)
  std::int32_t k_lo = 0, k_hi = 0;  // k_hi > 0: every row k uniform in [k_lo, k_hi], p in [0.5, 1)
  std::vector<work::RowKind> kinds;  // the rows' kinds, drawn at random; empty: work::kAllKinds
};

struct VerifyReport {
  std::string spec;
  std::int64_t rows_checked = 0;
  std::int64_t mismatches = 0;
  std::vector<std::string> errors;  // the first few, one line each
};

VerifyReport verify_kernel(const Kernel& kernel, const VerifyOptions& options);

}  // namespace samplejit
