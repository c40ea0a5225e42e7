// CPU reference of the sampler pipeline (docs/semantics.md, "Sampling"): temperature -> top-k ->
// top-p -> min-p -> sample, in float64, plus the counter-based noise the GPU uses.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "samplejit/spec.hpp"

namespace samplejit::ref {

// Philox4x32-10 (Salmon et al., SC'11): counter (4 x u32) and key (2 x u32) -> 4 x u32.
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key);

// The noise word for token `index` of a row with this seed and offset, exactly as the GPU draws it:
// key = (seed low 32, seed high 32), counter = (index, 0, offset low 32, offset high 32), word 0.
std::uint32_t noise_word(std::uint64_t seed, std::uint64_t offset, std::uint32_t index);

struct SampleParams {
  float temperature = 1.0f;  // <= 0 or NaN: greedy
  std::int32_t top_k = 0;    // as in truncation
  float top_p = 1.0f;        // as in truncation, masses of the post-temperature softmax
  float min_p = 0.0f;        // <= 0 or NaN: off; keeps tokens with prob >= min_p * max prob
};

struct SampleResult {
  bool valid = false;               // false: the row has no candidate
  bool greedy = false;
  std::vector<std::int64_t> order;  // candidates in rank order (as truncate_row)
  std::int64_t kept = 0;            // final kept set = order[0, kept)
  std::vector<double> prob;         // prob[j] for j < kept: renormalized over the kept set
  double log_z = 0;                 // log(kept mass under the full post-temperature softmax)
  std::vector<double> log_prob_full;  // log prob of order[j] (j < kept) under the full softmax
};

SampleResult sample_row(DType dtype, const void* row, std::int64_t vocab, SampleParams params);

// Upper-tail p-value of a chi-square statistic with dof degrees of freedom.
double chi_square_p_value(double statistic, double dof);

}  // namespace samplejit::ref
