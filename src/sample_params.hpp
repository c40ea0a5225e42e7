// Host mirror of sj::SampleParams in templates/sample.cuh: the one kernel argument of a sample
// kernel, passed by value. Field order and types must match the template exactly.
#pragma once

#include <climits>
#include <cstddef>

#include "samplejit/samplejit.hpp"

namespace samplejit::detail {

struct SampleParams {
  void* logits;
  const void* top_k;
  const void* top_p;
  const void* min_p;
  const void* temperature;
  const void* seed;
  const void* offset;
  void* mask;
  void* token32;
  void* token64;
  void* logprob;
  void* raw_logprob;
  void* logz;
  void* kept_count;
  void* valid;
  void* kept_ids;
  long long row_stride;
  int batch;
  int write_logits;
  int kept_ids_capacity;
};
static_assert(sizeof(SampleParams) == 16 * sizeof(void*) + sizeof(long long) + 4 * sizeof(int));
static_assert(offsetof(SampleParams, row_stride) == 16 * sizeof(void*));

inline SampleParams make_sample_params(const SampleArgs& a) {
  auto ptr = [](CUdeviceptr p) { return reinterpret_cast<void*>(p); };
  return {ptr(a.logits), ptr(a.top_k),  ptr(a.top_p),   ptr(a.min_p),       ptr(a.temperature), ptr(a.seed),
          ptr(a.offset), ptr(a.mask),   ptr(a.token32), ptr(a.token64),     ptr(a.logprob),     ptr(a.raw_logprob),
          ptr(a.logz),   ptr(a.kept_count), ptr(a.valid), ptr(a.kept_ids), a.row_stride, static_cast<int>(a.batch),
          a.write_logits ? 1 : 0, a.kept_ids_capacity};
}

}  // namespace samplejit::detail
