// The CPU reference of the truncation contract (docs/semantics.md), in float64.
// Tests and `samplejit verify` both judge GPU output with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "samplejit/spec.hpp"

namespace samplejit::ref {

// Widen one stored logit to double (fp16/bf16 decoded exactly from their bits).
double load_logit(DType dtype, const void* row, std::int64_t index);
// The bit pattern of -inf in dtype, for writing dropped tokens (low bytes used for 16-bit types).
std::uint32_t neg_inf_bits(DType dtype);

// Per-row parameters as the kernel sees them. k <= 0 or k >= V: top-k off. p >= 1 or NaN: top-p off.
struct RowParams {
  std::int32_t top_k = 0;
  float top_p = 1.0f;
};

struct RowResult {
  std::vector<std::int64_t> order;  // candidate indices (not NaN, not -inf) in rank order
  std::int64_t after_top_k = 0;     // survivors of top-k (a prefix of order)
  std::int64_t kept = 0;            // survivors of top-k then top-p (a prefix of order)
  // mass_ahead[j] for j < after_top_k: float64 mass of order[0..j) renormalized over the top-k
  // survivors. Token order[j] survives top-p iff mass_ahead[j] < p (and j == 0 always survives).
  std::vector<double> mass_ahead;
  bool top_k_on = false, top_p_on = false;
};

// The contract, computed directly on one row.
RowResult truncate_row(DType dtype, const void* row, std::int64_t vocab, RowParams params);

// keep[i] = 1 for kept tokens of the row, 0 otherwise.
std::vector<std::uint8_t> keep_flags(const RowResult& r, std::int64_t vocab);

// Judges a GPU row. gpu_keep[i] is 1 where the GPU kept token i (from its mask or from the output
// logits). Top-k must match exactly; top-p may differ only on tokens whose mass_ahead lies within
// tol of p. Returns a description of the first violation, or nullopt if the row is acceptable.
std::optional<std::string> check_row(DType dtype, const void* row, std::int64_t vocab, RowParams params,
                                     const std::uint8_t* gpu_keep, double tol = 1e-5);

}  // namespace samplejit::ref
