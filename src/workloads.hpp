// Logit rows that look like real decode steps (and adversarial ones), shared by the GPU tests,
// `samplejit verify`, `samplejit truncate` and `samplejit bench`.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "samplejit/spec.hpp"

namespace samplejit::work {

enum class RowKind {
  Normal,     // N(0, 2) body
  Peaked,     // LLM-like: wide body plus a few strong candidates
  Ties,       // values from a handful of levels: many exact ties (worst for bf16)
  Grammar,    // most tokens -inf (a grammar mask), a few NaN, the rest peaked
  AllMasked,  // every token -inf or NaN
  PosInf,     // peaked with a couple of +inf tokens
  Specials,   // peaked with about 1% of tokens at edge values: +-0, subnormals, bin edges, inf, NaN
  MassEdges,  // a body plus a tenth of the tokens at the edges of top-p's mass-window bins
};
// Specials and MassEdges last: callers that draw from the first six keep their rows.
constexpr RowKind kAllKinds[] = {RowKind::Normal,    RowKind::Peaked, RowKind::Ties,     RowKind::Grammar,
                                 RowKind::AllMasked, RowKind::PosInf, RowKind::Specials, RowKind::MassEdges};
std::string_view to_string(RowKind k);

// Stores v into element i of a dtype buffer (round to nearest even for fp16/bf16).
void store(DType d, void* base, std::int64_t i, float v);
// Fills elements [0, vocab) of row.
void fill_row(DType d, RowKind kind, std::int64_t vocab, std::mt19937_64& rng, void* row);

// Per-row top-k / top-p, including the edges of the contract.
struct Params {
  std::vector<std::int32_t> top_k;
  std::vector<float> top_p;
};
Params make_params(std::int64_t batch, std::int64_t vocab, std::mt19937_64& rng, bool edges);
// The benchmark's fixed parameters.
Params fixed_params(std::int64_t batch, std::int32_t k, float p);
// The benchmark's random parameters: per row, k uniform in [k_lo, k_hi] and p uniform in
// [p_lo, p_hi). Deterministic for a given rng state, so every run sees the same rows.
Params random_params(std::int64_t batch, std::mt19937_64& rng, std::int32_t k_lo = 1, std::int32_t k_hi = 1024,
                     float p_lo = 0.5f, float p_hi = 1.0f);

}  // namespace samplejit::work
