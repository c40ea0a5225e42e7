// Times the phases of one-CTA-per-row truncation calls on the GPU: where a batch's rows spend
// their time, row by row. The templates mark phase ends with SJ_MARK(id), which compiles to nothing
// in the product; here thread 0 of each row's CTA records clock64() for the first kRows rows.
// The rows and the per-row parameters are the benchmark's (`samplejit bench`: peaked rows, seed 1,
// random k in [1, 1024] and p in [0.5, 1), or k = 50). Build (no GPU needed), with the product's
// floating-point flags, from the repository root after the CMake build:
//   nvcc -std=c++20 -O3 -arch=sm_90 --fmad=false --ftz=false --prec-div=true --prec-sqrt=true \
//        -I src -I include -I templates -o rows tools/probe/rows.cu build/libsamplejit.a -ldl
// Run: ./rows [reps] [topp]. The measured calls are also checked against the CPU reference.
// docs/benchmarks.md ("What this run changed") has results.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "samplejit/reference.hpp"
#include "workloads.hpp"

constexpr int kRows = 256;
__device__ unsigned long long sj_marks[kRows][32];
#define SJ_MARK(id)                                                                  \
  do {                                                                               \
    if (threadIdx.x == 0 && blockIdx.x < kRows) sj_marks[blockIdx.x][id] = clock64(); \
  } while (0)

#include "select.cuh"
#include "truncate.cuh"

#include "check.hpp"

namespace {

using samplejit::DType;

// Rows the CPU reference (samplejit::ref::check_row) rejects, or whose kept tokens changed bits.
int wrong_rows(DType d, int V, int B, const std::vector<unsigned char>& in, const std::vector<unsigned char>& out,
               const samplejit::work::Params& params, bool with_k, bool with_p) {
  const size_t es = d == DType::F32 ? 4 : 2;
  const unsigned neg_inf = samplejit::ref::neg_inf_bits(d);
  int bad = 0;
  std::vector<std::uint8_t> keep(V);
  for (int r = 0; r < B; ++r) {
    const unsigned char* x = &in[size_t(r) * V * es];
    const unsigned char* y = &out[size_t(r) * V * es];
    bool changed = false;
    for (int i = 0; i < V; ++i) {
      unsigned bits = 0;
      std::memcpy(&bits, y + size_t(i) * es, es);
      keep[i] = bits != neg_inf;
      changed |= keep[i] && std::memcmp(x + size_t(i) * es, y + size_t(i) * es, es) != 0;
    }
    const samplejit::ref::RowParams rp{with_k ? params.top_k[r] : 0, with_p ? params.top_p[r] : 1.0f};
    bad += changed || samplejit::ref::check_row(d, x, V, rp, keep.data()).has_value();
  }
  return bad;
}

template <int DT, int V>
void probe(DType d, const char* mode, bool random, int B, int reps, bool check, bool per_row) {
  constexpr int kBlock = 512;
  const bool with_k = std::strcmp(mode, "topp") != 0;
  const bool with_p = std::strcmp(mode, "topk") != 0;
  const size_t es = d == DType::F32 ? 4 : 2, bytes = size_t(V) * es * B;
  std::vector<unsigned char> host(bytes);
  std::mt19937_64 rng(1);
  for (int r = 0; r < B; ++r)
    samplejit::work::fill_row(d, samplejit::work::RowKind::Peaked, V, rng, host.data() + size_t(r) * V * es);
  std::mt19937_64 param_rng(1ull ^ 0x9E3779B97F4A7C15ull);
  const auto params = random ? samplejit::work::random_params(B, param_rng) : samplejit::work::fixed_params(B, 50, 0.9f);
  void *logits, *pristine, *flush;
  int* dk;
  float* dp;
  CHECK(cudaMalloc(&logits, bytes));
  CHECK(cudaMalloc(&pristine, bytes));
  CHECK(cudaMalloc(&flush, 100 << 20));
  CHECK(cudaMalloc(&dk, 4 * B));
  CHECK(cudaMalloc(&dp, 4 * B));
  CHECK(cudaMemcpy(pristine, host.data(), bytes, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dk, params.top_k.data(), 4 * B, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dp, params.top_p.data(), 4 * B, cudaMemcpyHostToDevice));
  auto kernel = sj::truncate_kernel<DT, V, kBlock, 1, sj::kMaskNone>;
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  const int rows = std::min(B, kRows);
  std::vector<std::vector<double>> marks(size_t(rows) * 32);
  std::vector<float> total;
  static unsigned long long m[kRows][32];
  for (int rep = 0; rep < reps; ++rep) {
    CHECK(cudaMemcpy(logits, pristine, bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaMemset(flush, rep, 100 << 20));  // L2 flushed, as in the benchmark
    std::memset(m, 0, sizeof(m));
    CHECK(cudaMemcpyToSymbol(sj_marks, m, sizeof(m)));
    CHECK(cudaEventRecord(e0));
    kernel<<<B, kBlock>>>(logits, static_cast<long long>(V), B, with_k ? dk : nullptr, with_p ? dp : nullptr, nullptr);
    CHECK(cudaGetLastError());
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    total.push_back(ms * 1000);
    CHECK(cudaMemcpyFromSymbol(m, sj_marks, sizeof(m)));
    for (int r = 0; r < rows; ++r)
      for (int id = 1; id < 32; ++id)
        if (m[r][id]) marks[size_t(r) * 32 + id].push_back(double(m[r][id] - m[r][0]));
  }
  if (check) {  // the measured pass only: the reference sorts every row
    std::vector<unsigned char> out(bytes);
    CHECK(cudaMemcpy(out.data(), logits, bytes, cudaMemcpyDeviceToHost));
    std::printf("check: %d of %d rows wrong\n", wrong_rows(d, V, B, host, out, params, with_k, with_p), B);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? -1.0 : v[v.size() / 2];
  };
  std::sort(total.begin(), total.end());
  int khz;
  CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0));
  const double mhz = khz / 1000.0;
  std::printf("%s V=%d %s %s B=%d: call %.1f us median (min %.1f); us from entry to each mark\n",
              d == DType::F32 ? "fp32" : d == DType::BF16 ? "bf16" : "fp16", V, mode, random ? "random" : "fixed", B,
              total[total.size() / 2], total[0]);
  // 18, 19: collect_pass's first eighth and its next segment; 1: pass 1; 2: count; 3: window
  // histogram (top-p alone: the mass window's pass); 4: k-th bin (the cut's mass bin); 7: cut found
  // (collect_rest or the listing, sort); 8: compute_cut returns; 9: final pass.
  const int ids[] = {18, 19, 1, 2, 3, 4, 7, 8, 9};
  std::printf("             ");
  for (int id : ids) std::printf("  m%-5d", id);
  std::printf("\n");
  auto line = [&](const char* what, auto f) {
    std::printf("%-13s", what);
    for (int id : ids) std::printf("  %6.2f", f(id) / mhz);
    std::printf("\n");
  };
  line("mean of rows", [&](int id) {
    double s = 0;
    for (int r = 0; r < rows; ++r) s += median(marks[size_t(r) * 32 + id]);
    return s / rows;
  });
  line("max of rows", [&](int id) {
    double s = 0;
    for (int r = 0; r < rows; ++r) s = std::max(s, median(marks[size_t(r) * 32 + id]));
    return s;
  });
  if (per_row)
    for (int r = 0; r < rows; ++r) {
      char what[32];
      std::snprintf(what, sizeof(what), "row %d k=%d", r, params.top_k[r]);
      line(what, [&](int id) { return median(marks[size_t(r) * 32 + id]); });
    }
  CHECK(cudaFree(logits));
  CHECK(cudaFree(pristine));
  CHECK(cudaFree(flush));
  CHECK(cudaFree(dk));
  CHECK(cudaFree(dp));
}

}  // namespace

// With `topp` as the second argument: top-p alone (no k array), V = 151936, every dtype at B = 64 and
// 256 (checked) and bf16 at B = 1024 (not checked: the reference sorts every row), random and fixed p.
int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 30;
  const bool topp = argc > 2 && std::strcmp(argv[2], "topp") == 0;
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms up
    const int r = pass == 0 ? 3 : reps;
    const bool m = pass == 1;
    if (topp) {
      for (int b : {64, 256}) {
        for (bool random : {true, false}) {
          probe<sj::kBF16, 151936>(DType::BF16, "topp", random, b, r, m, false);
          probe<sj::kF16, 151936>(DType::F16, "topp", random, b, r, m, false);
          probe<sj::kF32, 151936>(DType::F32, "topp", random, b, r, m, false);
        }
      }
      probe<sj::kBF16, 151936>(DType::BF16, "topp", true, 1024, r, false, false);
      if (pass == 0) std::printf("---- warm-up above, measured below ----\n");
      continue;
    }
    probe<sj::kBF16, 262144>(DType::BF16, "topk", true, 64, r, m, m);
    probe<sj::kBF16, 262144>(DType::BF16, "topk", false, 64, r, m, false);
    probe<sj::kF16, 262144>(DType::F16, "topk", true, 64, r, m, false);
    probe<sj::kF16, 262144>(DType::F16, "topk", false, 64, r, m, false);
    for (int b : {64, 256, 1024}) {
      probe<sj::kF32, 128256>(DType::F32, "truncate", true, b, r, m, false);
      probe<sj::kF32, 128256>(DType::F32, "topk", true, b, r, m, false);
    }
    if (pass == 0) std::printf("---- warm-up above, measured below ----\n");
  }
  return 0;
}
