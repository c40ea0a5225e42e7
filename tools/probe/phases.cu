// Times the phases of one truncation kernel call on the GPU: where a B = 1 call spends its time.
// The templates mark phase ends with SJ_MARK(id), which compiles to nothing in the product; here
// it records clock64() in thread 0 of every CTA of the first row. Build (no GPU needed):
//   nvcc -std=c++17 -O2 -arch=sm_90a -o phases tools/probe/phases.cu
// Run: ./phases [reps]. Prints, per kernel, the median cycles from kernel entry to each mark (CTA
// rank 0 and the slowest rank) and the event-timed median of the whole call. pass_kernel runs
// single passes (see its comment). docs/benchmarks.md ("B = 1: where the time goes") has results.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

__device__ unsigned long long sj_marks[16][32];
#define SJ_MARK(id)                                                      \
  do {                                                                   \
    if (threadIdx.x == 0 && blockIdx.x < 16) sj_marks[blockIdx.x][id] = clock64(); \
  } while (0)

#include "../../templates/select.cuh"
#include "../../templates/truncate.cuh"

// The passes one at a time, each run twice: a second run that is much faster than the first
// points at instruction fetch rather than work.
template <int DT, int V, int BLOCK, int C>
__global__ void __launch_bounds__(BLOCK, sj::min_blocks(BLOCK, C)) pass_kernel(void* logits, unsigned* sink) {
  typedef sj::Row<DT, V, BLOCK, C, sj::min_blocks(BLOCK, C)> R;
  typedef sj::SharedFor<R, C> S;
  unsigned rank = blockIdx.x % C;
  R r(static_cast<typename R::Bits*>(logits), S::slice(), rank, S::get(), 1.0f);
  SJ_MARK(0);
  unsigned m = 0;
  if (C > 1) sj::cluster_sync();  // peers have started: exchanges may write to them
  r.template for_each<C != 1>([&](unsigned, unsigned key) { m = max(m, key); });
  SJ_MARK(1);
  unsigned long long count = 0;
  sj::block_sum_max<BLOCK>(count, m, r.sh.scratch);
  SJ_MARK(2);
  if (C > 1) r.exchange(m);
  SJ_MARK(3);
  if (C > 1) r.exchange(m + 1);
  SJ_MARK(4);
  if (C > 1) {
    for (int q = 0; q < C; ++q) m = max(m, static_cast<unsigned>(r.got(0, q)));
  }
  r.template window_histogram<false>(m);
  SJ_MARK(5);
  r.template window_histogram<false>(m);
  SJ_MARK(6);
  unsigned c = 0;
  r.for_each([&](unsigned, unsigned key) { c += key > m - 5000; });
  SJ_MARK(7);
  r.for_each([&](unsigned, unsigned key) { c += key > m - 7000; });
  SJ_MARK(8);
  if (C > 1) sj::cluster_sync();
  SJ_MARK(9);
  if (C > 1) sj::cluster_sync();
  SJ_MARK(10);
  __syncthreads();
  SJ_MARK(11);
  __syncthreads();
  SJ_MARK(12);
  if (c == 12345) sink[0] = c;
}

#include "check.hpp"

static unsigned short to_bf16(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<unsigned short>(u >> 16);
}

// Peaked rows like the benchmark's: an N(-4, 2) body and 1-8 strong tokens in [8, 14].
static std::vector<float> peaked(int v, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> body(-4.0f, 2.0f);
  std::vector<float> x(v);
  for (auto& e : x) e = body(g);
  const int strong = 1 + static_cast<int>(g() % 8);
  for (int s = 0; s < strong; ++s) x[g() % v] = 8.0f + 6.0f * std::uniform_real_distribution<float>()(g);
  return x;
}

template <int DT, int V, int C>
void probe(const char* name, int k, float p, int reps) {
  constexpr int kBlock = 512;
  const size_t esize = DT == sj::kF32 ? 4 : 2;
  const std::vector<float> x = peaked(V, 7);
  std::vector<unsigned char> host(V * esize);
  for (int i = 0; i < V; ++i) {
    if (DT == sj::kF32)
      std::memcpy(&host[i * 4], &x[i], 4);
    else {
      const unsigned short b = to_bf16(x[i]);
      std::memcpy(&host[i * 2], &b, 2);
    }
  }
  void *logits = nullptr, *pristine = nullptr;
  int* dk = nullptr;
  float* dp = nullptr;
  CHECK(cudaMalloc(&logits, host.size()));
  CHECK(cudaMalloc(&pristine, host.size()));
  CHECK(cudaMalloc(&dk, 4));
  CHECK(cudaMalloc(&dp, 4));
  CHECK(cudaMemcpy(pristine, host.data(), host.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dk, &k, 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dp, &p, 4, cudaMemcpyHostToDevice));

  auto kernel = sj::truncate_kernel<DT, V, kBlock, C, sj::kMaskNone>;
  auto passes = pass_kernel<DT, V, kBlock, C>;
  const size_t smem = C > 1 ? sj::kSharedHeader + ((size_t)((V + C - 1) / C + 31) / 32 * 32 * esize + 15) / 16 * 16 : 0;
  if (smem) CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  if (C > 8) CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  if (smem) CHECK(cudaFuncSetAttribute(passes, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  if (C > 8) CHECK(cudaFuncSetAttribute(passes, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(C);
  cfg.blockDim = dim3(kBlock);
  cfg.dynamicSmemBytes = smem;
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = C;
  attr.val.clusterDim.y = 1;
  attr.val.clusterDim.z = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = C > 1 ? 1 : 0;

  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  std::vector<std::vector<double>> rank0(32), slowest(32);
  std::vector<float> total;
  for (int r = 0; r < reps; ++r) {
    CHECK(cudaMemcpy(logits, pristine, host.size(), cudaMemcpyDeviceToDevice));
    unsigned long long zero[16][32] = {};
    CHECK(cudaMemcpyToSymbol(sj_marks, zero, sizeof(zero)));
    CHECK(cudaEventRecord(e0));
    if (k < 0)
      CHECK(cudaLaunchKernelEx(&cfg, passes, logits, reinterpret_cast<unsigned*>(dk)));
    else
      CHECK(cudaLaunchKernelEx(&cfg, kernel, logits, (long long)V, 1, (const int*)(k > 0 ? dk : nullptr),
                               (const float*)(p < 1 ? dp : nullptr), (void*)nullptr));
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    total.push_back(ms * 1000.0f);
    unsigned long long m[16][32];
    CHECK(cudaMemcpyFromSymbol(m, sj_marks, sizeof(m)));
    for (int id = 1; id < 32; ++id) {
      if (m[0][id] == 0) continue;
      rank0[id].push_back(double(m[0][id] - m[0][0]));
      double worst = 0;
      for (int c = 0; c < C; ++c)
        if (m[c][id]) worst = std::max(worst, double(m[c][id] - m[c][0]));
      slowest[id].push_back(worst);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::sort(total.begin(), total.end());
  int clock_khz = 0;
  CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  std::printf("%s k=%d p=%.2f C=%d: call %.1f us (event median); marks in cycles from entry (us at %.0f MHz)\n", name,
              k, p, C, total[total.size() / 2], clock_khz / 1000.0);
  // The templates' marks (numbered as they were added), in the order a call passes them.
  static const struct {
    int id;
    const char* what;
  } kOrder[] = {{1, "pass 1: stage, count, max"}, {16, "block sum and max"},      {2, "exchange: count, max"},
                {11, "window: local pass"},       {12, "window: additions, barrier"}, {13, "window: totals read"},
                {3, "window built"},              {4, "window scanned"},         {17, "(key window)"},
                {14, "gather: offsets"},          {15, "gather: pass"},          {5, "gather: barrier"},
                {6, "candidates sorted"},         {7, "cut found"},              {8, "compute_cut returns"},
                {9, "final pass"}};
  std::vector<bool> shown(32, false);
  auto show = [&](int id, const char* what) {
    if (id >= 32 || rank0[id].empty() || shown[id]) return;
    shown[id] = true;
    const double a = median(rank0[id]), b = median(slowest[id]);
    std::printf("  mark %2d %-28s rank0 %8.0f (%6.2f us)  slowest %8.0f (%6.2f us)  hit %zu/%d\n", id, what, a,
                a / (clock_khz / 1e3), b, b / (clock_khz / 1e3), rank0[id].size(), reps);
  };
  if (k >= 0)
    for (const auto& o : kOrder) show(o.id, o.what);
  for (int id = 1; id < 32; ++id) show(id, "");
  CHECK(cudaFree(logits));
  CHECK(cudaFree(pristine));
  CHECK(cudaFree(dk));
  CHECK(cudaFree(dp));
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 50;
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms up
    const int r = pass == 0 ? 3 : reps;
    probe<sj::kF32, 151936, 16>("fp32 V=151936 topk+topp", 50, 0.9f, r);
    probe<sj::kF32, 151936, 16>("fp32 V=151936 topp", 0, 0.9f, r);
    probe<sj::kF32, 151936, 16>("fp32 V=151936 none", 0, 1.0f, r);
    probe<sj::kBF16, 151936, 8>("bf16 V=151936 topk+topp", 50, 0.9f, r);
    probe<sj::kBF16, 32000, 2>("bf16 V=32000 topk+topp", 50, 0.9f, r);
    probe<sj::kBF16, 32000, 2>("bf16 V=32000 none", 0, 1.0f, r);
    probe<sj::kF32, 262144, 16>("fp32 V=262144 topk+topp", 50, 0.9f, r);
    probe<sj::kF32, 151936, 16>("fp32 V=151936 passes", -1, 1.0f, r);
    probe<sj::kBF16, 151936, 8>("bf16 V=151936 passes", -1, 1.0f, r);
    if (pass == 0) std::printf("---- warm-up above, measured below ----\n");
  }
  return 0;
}
