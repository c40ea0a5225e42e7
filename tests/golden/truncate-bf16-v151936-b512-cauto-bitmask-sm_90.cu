// samplejit 0.2.0 generated for truncate-bf16-v151936-b512-cauto-bitmask-sm_90
// NVRTC compiles this unit once per row kernel: 5 program(s), each with -DSJ_PROGRAM=<its index>.
// Row selection shared by the truncation and sampling kernels.
//
// A row belongs to C CTAs. With C = 1 one CTA reads its row from global memory on every pass.
// With C > 1 (sm_90 thread-block clusters) each CTA stages a contiguous slice of the row in shared
// memory during the first pass, so the row is read from HBM once; histograms and scalars are then
// summed across the cluster through distributed shared memory, and every CTA derives the same cut.
//
// Rendering concatenates this file, the kernel's own template and one explicit instantiation;
// nothing is substituted. The unit must stay self-contained: NVRTC sees no headers.
//
// Method: logits become order-preserving unsigned keys (NaN and -inf -> key 0, which is never
// kept; -0 folds onto +0). Top-k is an MSD radix select on key counts; top-p is a second radix
// select on softmax mass held in 64-bit fixed point, so sums are exact integers and the result
// does not depend on thread order. The kept set is always a prefix of the rank order
// (key descending, index ascending), so one cutoff (key T, index I) describes it:
// keep(i) <=> key(i) != 0 && (key(i) > T || (key(i) == T && i <= I)).

// Phase markers: tools/probe/phases.cu defines SJ_MARK to time a call's phases on the GPU.
#ifndef SJ_MARK
#define SJ_MARK(id)
#endif

namespace sj {

typedef unsigned int u32;
typedef unsigned long long u64;

enum { kF32 = 0, kF16 = 1, kBF16 = 2 };
enum { kMaskNone = 0, kMaskBool = 1, kMaskBits = 2 };

constexpr u32 kAllTies = 0xFFFFFFFFu;

template <int DT>
struct Dtype;

template <>
struct Dtype<kF32> {
  typedef u32 Bits;
  static constexpr int kKeyBits = 32;
  static constexpr u32 kSign = 0x80000000u;
  static constexpr u32 kPosInf = 0x7F800000u;
  static constexpr u32 kNegInf = 0xFF800000u;
  static constexpr int kUnroll = 16;
  __device__ static float to_float(u32 b) { return __uint_as_float(b); }
};

template <>
struct Dtype<kBF16> {
  typedef unsigned short Bits;
  static constexpr int kKeyBits = 16;
  static constexpr u32 kSign = 0x8000u;
  static constexpr u32 kPosInf = 0x7F80u;
  static constexpr u32 kNegInf = 0xFF80u;
  static constexpr int kUnroll = 32;
  __device__ static float to_float(u32 b) { return __uint_as_float(b << 16); }
};

template <>
struct Dtype<kF16> {
  typedef unsigned short Bits;
  static constexpr int kKeyBits = 16;
  static constexpr u32 kSign = 0x8000u;
  static constexpr u32 kPosInf = 0x7C00u;
  static constexpr u32 kNegInf = 0xFC00u;
  static constexpr int kUnroll = 32;
  __device__ static float to_float(u32 b) {
    float f;
    unsigned short h = static_cast<unsigned short>(b);
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
  }
};

// The key of the lowest finite value (-inf's bits, complemented, plus one).
template <class D>
__device__ constexpr u32 lowest_key() {
  return (~D::kNegInf & (D::kKeyBits == 32 ? 0xFFFFFFFFu : 0xFFFFu)) + 1u;
}

// Branch-free: every pass calls it once per token (branches here measured 4-10% slower at large
// batch, docs/benchmarks.md).
template <class D>
__device__ __forceinline__ u32 to_key(u32 bits) {
  constexpr u32 kAll = D::kKeyBits == 32 ? 0xFFFFFFFFu : 0xFFFFu;
  constexpr u32 kLowest = lowest_key<D>();
  constexpr u32 kHighest = D::kPosInf | D::kSign;     // the key of +inf
  // A negative value flips every bit, a positive one only the sign bit.
  const u32 flip = (static_cast<u32>(static_cast<int>(bits << (32 - D::kKeyBits)) >> 31) & kAll) | D::kSign;
  u32 key = bits ^ flip;
  key = key == D::kSign - 1u ? D::kSign : key;            // -0 ranks with +0
  return key - kLowest <= kHighest - kLowest ? key : 0u;  // NaN and -inf fall outside: never candidates
}

template <class D>
__device__ __forceinline__ float key_to_float(u32 key) {
  constexpr u32 kAll = D::kKeyBits == 32 ? 0xFFFFFFFFu : 0xFFFFu;
  const u32 bits = (key & D::kSign) ? (key & ~D::kSign) : (~key & kAll);
  return D::to_float(bits);
}

__host__ __device__ constexpr int ceil_log2(long long v) {
  int r = 0;
  while ((1ll << r) < v) ++r;
  return r;
}

__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// Thread-block cluster primitives (sm_90+). Only C > 1 instantiations call them.
__device__ __forceinline__ void cluster_sync() {
#if __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
#else
  __trap();
#endif
}

// The two halves of a cluster barrier: a CTA may touch a peer's shared memory only once every CTA
// of the cluster has started, which an arrive at entry and a wait before the first access ensure
// without stalling anyone.
__device__ __forceinline__ void cluster_arrive_relaxed() {
#if __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
#else
  __trap();
#endif
}

// An arrive at entry that also publishes what the CTA wrote before it (the totals it cleared for
// peers' additions that follow the matching wait rather than a later barrier).
__device__ __forceinline__ void cluster_arrive_release() {
#if __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void cluster_wait() {
#if __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory");
#else
  __trap();
#endif
}

// The shared::cluster address of *p in the CTA of the given rank.
__device__ __forceinline__ u32 peer_address(const void* p, u32 rank) {
  u32 out = 0;
#if __CUDA_ARCH__ >= 900
  const u32 local = static_cast<u32>(__cvta_generic_to_shared(p));
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(out) : "r"(local), "r"(rank));
#else
  __trap();
#endif
  return out;
}

__device__ __forceinline__ u64 peer_load(const u64* p, u32 rank) {
  u64 v = 0;
#if __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.u64 %0, [%1];" : "=l"(v) : "r"(peer_address(p, rank)) : "memory");
#endif
  return v;
}

__device__ __forceinline__ u32 peer_load(const u32* p, u32 rank) {
  u32 v = 0;
#if __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.u32 %0, [%1];" : "=r"(v) : "r"(peer_address(p, rank)) : "memory");
#endif
  return v;
}

__device__ __forceinline__ void peer_store(u64* p, u32 rank, u64 v) {
#if __CUDA_ARCH__ >= 900
  asm volatile("st.shared::cluster.u64 [%0], %1;" ::"r"(peer_address(p, rank)), "l"(v) : "memory");
#endif
}

__device__ __forceinline__ u32 peer_fetch_add(u32* p, u32 rank, u32 v) {
  u32 old = 0;
#if __CUDA_ARCH__ >= 900
  asm volatile("atom.shared::cluster.add.u32 %0, [%1], %2;" : "=r"(old) : "r"(peer_address(p, rank)), "r"(v) : "memory");
#endif
  return old;
}

__device__ __forceinline__ void peer_add(u32* p, u32 rank, u32 v) {
#if __CUDA_ARCH__ >= 900
  asm volatile("red.relaxed.cluster.shared::cluster.add.u32 [%0], %1;" ::"r"(peer_address(p, rank)), "r"(v) : "memory");
#endif
}

__device__ __forceinline__ void peer_add(u64* p, u32 rank, u64 v) {
#if __CUDA_ARCH__ >= 900
  asm volatile("red.relaxed.cluster.shared::cluster.add.u64 [%0], %1;" ::"r"(peer_address(p, rank)), "l"(v) : "memory");
#endif
}

// Radix digits, most significant first: 11/11/10 bits for 32-bit keys, 11/5 for 16-bit keys.
// An 11-bit first digit (sign, exponent, top mantissa bits) splits each octave of values into
// 4 (fp32) or 8 (bf16) bins, so the bins at the top of a row hold few tokens.
template <int KeyBits>
struct Digits {
  static constexpr int kPasses = KeyBits == 32 ? 3 : 2;
  static constexpr int kMaxBins = 2048;
  __device__ static constexpr int shift(int pass) {
    return KeyBits == 32 ? (pass == 0 ? 21 : pass == 1 ? 10 : 0) : (pass == 0 ? 5 : 0);
  }
  __device__ static constexpr int width(int pass) {
    return KeyBits == 32 ? (pass == 2 ? 10 : 11) : (pass == 0 ? 11 : 5);
  }
};

// Top-k candidates (every token in or above the bin holding the k-th) that fit on chip are sorted
// there, so the row is read only three times; larger sets take the radix path over the row.
constexpr int kCandidateCap = 4096;

// The window histogram: bins of equal key width counted down from the row's max, so the few
// tokens near the top are binned finely and the body of the row, far below, costs no atomics.
constexpr int kWindow = 1024;

// C > 1 top-k alone on long bf16 and fp32 rows builds the first-digit histogram in pass 1 only for
// k up to this; past it, the key window (compute_cut).
constexpr int kStagedDigitMaxK = 64;

// Cluster exchanges publish up to this many values per CTA.
constexpr int kExchange = 4;
constexpr int kMaxCluster = 16;

template <int BLOCK, int MAXBINS, bool COLLECT>
struct Shared {
  union {
    struct {
      u64 local[MAXBINS];  // this CTA's counts (as u32) or masses
      u64 total[MAXBINS];  // C > 1: the cluster's sums
    } bins;
    struct {
      u32 count[kWindow];  // this CTA's
      u64 mass[kWindow];
      u64 count_total[kWindow];  // the row's
      u64 mass_total[kWindow];
    } win;
    u64 candidate[kCandidateCap];  // (key << 32) | ~index: descending order is rank order
  } hist;
  // COLLECT: the first-digit counts, apart from the candidates that pass 1 collects beside them.
  u32 first_digit[COLLECT ? MAXBINS : 1];
  u64 scratch[64];
  // peers[gen][j][r]: rank r's j-th exchanged value, pushed there by rank r. Double-buffered, so
  // one cluster barrier per exchange suffices.
  u64 peers[2][kExchange][kMaxCluster];
  u64 found_above;
  u64 found_mass;
  u32 found_bin;
  u32 found_index;
  u32 candidates;
  // C > 1 top-k alone: the 32 sub-bins of the k-th token's first-digit bin (compute_cut's staged
  // first digit), this CTA's and the cluster's (in rank 0). Last, so that the other members keep
  // their offsets in every kernel.
  u32 sub_local[32];
  u32 sub_total[32];
};

// Dynamic shared memory of a C > 1 kernel: the Shared block, then the staged slice. The host
// computes the same size (src/runtime.cpp); keep kSharedHeader in step with it.
constexpr u32 kSharedHeader = 36864;

template <int BLOCK, class T>
__device__ T block_sum(T v, u64* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  T total = 0;
  for (int w = 0; w < BLOCK / 32; ++w) total += static_cast<T>(scratch[w]);
  __syncthreads();
  return total;
}

// A block sum and a block max with one round through shared memory.
template <int BLOCK>
__device__ void block_sum_max(u64& sum, u32& mx, u64* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
    mx = max(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, o));
  }
  if ((threadIdx.x & 31) == 0) {
    scratch[threadIdx.x >> 5] = sum;
    scratch[32 + (threadIdx.x >> 5)] = mx;
  }
  __syncthreads();
  sum = 0;
  mx = 0;
  for (int w = 0; w < BLOCK / 32; ++w) {
    sum += scratch[w];
    mx = max(mx, static_cast<u32>(scratch[32 + w]));
  }
  __syncthreads();
}

// Exclusive prefix sum in thread order; every thread also gets the total.
template <int BLOCK>
__device__ u64 block_exclusive_scan(u64 v, u64* scratch, u64& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  u64 inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    u64 y = __shfl_up_sync(0xFFFFFFFFu, inc, o);
    if (lane >= o) inc += y;
  }
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  u64 before = 0, all = 0;
  for (int w = 0; w < BLOCK / 32; ++w) {
    if (w < warp) before += scratch[w];
    all += scratch[w];
  }
  __syncthreads();
  total = all;
  return before + inc - v;
}

// Two exclusive prefix sums at once (one round through shared memory), with their totals.
template <int BLOCK>
__device__ void block_exclusive_scan2(u64& a, u64& b, u64* scratch, u64& total_a, u64& total_b) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  u64 ia = a, ib = b;
  for (int o = 1; o < 32; o <<= 1) {
    const u64 ya = __shfl_up_sync(0xFFFFFFFFu, ia, o), yb = __shfl_up_sync(0xFFFFFFFFu, ib, o);
    if (lane >= o) {
      ia += ya;
      ib += yb;
    }
  }
  if (lane == 31) {
    scratch[warp] = ia;
    scratch[32 + warp] = ib;
  }
  __syncthreads();
  u64 before_a = 0, before_b = 0, all_a = 0, all_b = 0;
  for (int w = 0; w < BLOCK / 32; ++w) {
    if (w < warp) {
      before_a += scratch[w];
      before_b += scratch[32 + w];
    }
    all_a += scratch[w];
    all_b += scratch[32 + w];
  }
  __syncthreads();
  total_a = all_a;
  total_b = all_b;
  a = before_a + ia - a;
  b = before_b + ib - b;
}

// Resident CTAs per SM that a kernel's registers are sized for (its second launch bound). C > 1:
// two CTAs of up to 256 threads share an SM. C = 1: 1024 threads per SM (see Row::U), the sampler
// too, although at 64 registers it spills a few values (bounded by the compile tests): at one
// 512-thread CTA per SM and 128 registers it took 1.4-1.6x as long at B >= 256 (same-run A/B,
// docs/benchmarks.md).
__host__ __device__ constexpr int min_blocks(int block, int cluster) {
  return cluster > 1 ? (block <= 256 ? 2 : 1) : (block >= 1024 ? 1 : 1024 / block);
}

template <int DT, int V, int BLOCK, int C, int MINB>
struct Row {
  typedef Dtype<DT> D;
  typedef typename D::Bits Bits;
  typedef Digits<D::kKeyBits> Dig;
  // C = 1 top-k collects candidates during pass 1 (compute_cut) when each thread reads at least
  // 24 16-byte chunks of the row: on shorter rows the block-wide threshold searches cost more than
  // the gather pass they replace (V = 32000: 12-20% slower, same-run A/B in docs/benchmarks.md).
  // Its 8 KB of counts would cost occupancy in blocks under 256 threads (1024 threads per SM).
  static constexpr bool kCollect =
      C == 1 && BLOCK >= 256 && static_cast<long long>(V) / (16 / sizeof(Bits)) >= 24ll * BLOCK;
  typedef Shared<BLOCK, Dig::kMaxBins, kCollect> Smem;
  static_assert(C == 1 || C == 2 || C == 4 || C == 8 || C == 16, "cluster size");
  // Loads in flight per thread: fewer for big blocks, which have fewer registers per thread.
  // (A 1024-thread block has 64 registers per thread: 4 loads is what fits without spilling.)
  // With C > 1 only the staging pass reads global memory and two CTAs share an SM, so half as many.
  // C = 1 truncation serves large batches, where the streaming passes are issue-bound rather than
  // latency-bound: it runs 1024 threads per SM whatever the block (MINB CTAs), so 64 registers and
  // 8 loads per thread below 1024-thread blocks (16 spill), which measured faster than one
  // 512-thread CTA per SM with 8 (fp32) or 16 (16-bit) loads at B >= 256.
  static constexpr int kLoads = D::kUnroll * 256 / BLOCK / (C > 1 ? 2 : 1);
  static constexpr int U = BLOCK * MINB >= 1024 ? (C == 1 && BLOCK < 1024 ? 8 : 4)
                           : kLoads < 2         ? 2
                           : kLoads > 32        ? 32
                                                : kLoads;
  static constexpr u32 kTile = static_cast<u32>(BLOCK) * U;
  // Loads in flight in the sampler's final pass, the heaviest loop body: 4 over the staged slice
  // (shared memory needs few), half of U for 16-bit rows read from global memory.
  static constexpr int kSharedU = C > 1 ? (U > 4 ? 4 : U) : (D::kKeyBits == 16 && U > 2 ? U / 2 : U);
  // Elements per CTA. Slices start on 32-element boundaries so that a warp's bit-mask word never
  // straddles two CTAs.
  static constexpr u32 kSlice =
      C == 1 ? static_cast<u32>(V) : ((static_cast<u32>(V) + C - 1) / C + 31u) / 32u * 32u;
  // Fixed point for softmax mass: each term <= 1, so V terms of 2^F fit in 63 bits.
  static constexpr int kFracBits = 63 - ceil_log2(static_cast<long long>(V) + 1);

  Bits* g;    // the row in global memory
  Bits* x;    // this CTA's elements: the global row (C = 1) or the staged slice (C > 1)
  u32 lo;     // row index of x[0]
  u32 n;      // elements in x
  u32 rank;   // this CTA's rank in the cluster
  Smem& sh;
  bool max_is_inf;
  float xmax;
  float temperature;  // > 0; masses are exp((x - xmax) / temperature)
  float inv_t;        // 1 / temperature, correctly rounded, or NaN outside [2^-96, 2^96] (div_by_temperature)
  int gen;            // which exchange buffer is current
  u64 mass_seen;      // C = 1 with stats: this thread's share of the row's mass, from the gather pass

  __device__ Row(Bits* row, Bits* slice, u32 cta_rank, Smem& smem, float t)
      : g(row), x(C == 1 ? row : slice), lo(C == 1 ? 0u : cta_rank * kSlice), n(0), rank(cta_rank), sh(smem),
        max_is_inf(false), xmax(0.0f), temperature(t), inv_t(recip_in_range(t)), gen(0), mass_seen(0) {
    const u32 end = lo + kSlice < static_cast<u32>(V) ? lo + kSlice : static_cast<u32>(V);
    n = C == 1 ? static_cast<u32>(V) : (lo < end ? end - lo : 0u);
  }

  __device__ u32 count() const { return C == 1 ? static_cast<u32>(V) : n; }

  // C > 1 stages each element's key (to_key) rather than its bits, so the passes over the slice
  // skip the conversion (about a dozen integer instructions per element and pass, where the
  // 16-bit cluster rows are bound by instruction issue). The bits are needed only to write a
  // dropped element, and then they are -inf (write_slice). key_of reads what load_tile returns.
  static constexpr bool kStagedKeys = C > 1;
  __device__ static u32 key_of(Bits b) { return kStagedKeys ? static_cast<u32>(b) : to_key<D>(b); }
  __device__ static Bits stage_key(Bits b) { return static_cast<Bits>(to_key<D>(b)); }

  // Issues all U loads of a tile before any is used, to keep enough bytes in flight: elements of
  // the row (C = 1) or keys of the staged slice (C > 1); past the end, whatever key_of maps to 0.
  // STAGE reads the slice from global memory and stages its keys; v gets the bits.
  template <bool STAGE = false, int N>
  __device__ void load_tile(u32 base, Bits (&v)[N]) const {
    const Bits* src = STAGE ? g + lo : x;
    constexpr Bits kPad = static_cast<Bits>(kStagedKeys && !STAGE ? 0u : D::kNegInf);
#pragma unroll
    for (int u = 0; u < N; ++u) {
      const u32 j = base + u * BLOCK + threadIdx.x;
      v[u] = j < count() ? src[j] : kPad;
    }
    if (STAGE) {
#pragma unroll
      for (int u = 0; u < N; ++u) {
        const u32 j = base + u * BLOCK + threadIdx.x;
        if (j < count()) x[j] = stage_key(v[u]);
      }
    }
  }

  // Passes read the row (C = 1) or the staged slice (C > 1) as 16-byte chunks: kVec elements per
  // load and kVecU loads per thread in flight (C = 1: the registers of U 32-bit loads, so 16-bit
  // rows get twice the bytes in flight of scalar loads; C > 1: the staging pass is one CTA's whole
  // share of a small batch, so as many as fit). Only whole 16-byte chunks inside the row are read
  // from global memory that way; the few elements before the first aligned chunk and after the last
  // one are read one at a time, so the row's padding is never touched (docs/semantics.md) whatever
  // the base address and stride. Tiny one-CTA rows (under a tile) gain nothing from it.
  static constexpr bool kVector = C > 1 || V >= BLOCK * 8;
  static constexpr u32 kVec = 16 / sizeof(Bits);
  // A 32-bit word of -inf elements, for whole-chunk stores.
  static constexpr u32 kNegInfWord = sizeof(Bits) == 4 ? D::kNegInf : D::kNegInf * 0x10001u;
  static constexpr int kVecU = C > 1 ? 4 : U / 4 < 1 ? 1 : U / 4 > 2 ? 2 : U / 4;
  // Passes over the staged slice (C > 1) read shared memory, whose short latency one load per
  // thread in flight covers, and which keeps small the unrolled code that runs once or twice per call.
  static constexpr int kPassU = C > 1 ? 1 : kVecU;

  // Elements from the row start to the first 16-byte boundary (at most the row).
  __device__ u32 head() const {
    const u32 misaligned = static_cast<u32>(reinterpret_cast<unsigned long long>(g) & 15u) / sizeof(Bits);
    const u32 h = (kVec - misaligned) % kVec;
    return h < static_cast<u32>(V) ? h : static_cast<u32>(V);
  }

  __device__ static Bits lane_of(const uint4& v, u32 e) {
    const u32 w = e * sizeof(Bits) / 4 == 0 ? v.x : e * sizeof(Bits) / 4 == 1 ? v.y : e * sizeof(Bits) / 4 == 2 ? v.z : v.w;
    return sizeof(Bits) == 4 ? static_cast<Bits>(w) : static_cast<Bits>(w >> (16 * (e & 1)));
  }

  __device__ static void set_lane(uint4& v, u32 e, Bits b) {
    u32& w = e * sizeof(Bits) / 4 == 0 ? v.x : e * sizeof(Bits) / 4 == 1 ? v.y : e * sizeof(Bits) / 4 == 2 ? v.z : v.w;
    if (sizeof(Bits) == 4)
      w = static_cast<u32>(b);
    else
      w = (e & 1) ? (w & 0xFFFFu) | (static_cast<u32>(b) << 16) : (w & 0xFFFF0000u) | static_cast<u32>(b);
  }

  // The keys of a chunk's elements, in the same lanes.
  __device__ static uint4 chunk_keys(const uint4& v) {
    uint4 k = make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
    for (u32 e = 0; e < kVec; ++e) set_lane(k, e, stage_key(lane_of(v, e)));
    return k;
  }

  // Calls chunk(c, v) for chunks [0, nvec) of src, VU loads in flight per thread; STORE stages
  // each chunk's keys in the slice and passes those to chunk. PF > 0 also asks L2 for the chunks
  // PF iterations ahead, for a loop whose few instructions per chunk leave it waiting on memory
  // with only VU loads of its own in flight (the prefetches hold no registers).
  template <int VU, bool STORE, int PF = 0, class Chunk>
  __device__ void chunks(Chunk& chunk, const uint4* src, u32 nvec) const {
    const u32 t = threadIdx.x;
    if (PF > 0) {
#pragma unroll
      for (int u = 0; u < PF * VU; ++u) {
        const u32 c = u * BLOCK + t;
        if (c < nvec) prefetch_l2(src + c);
      }
    }
#pragma unroll 1
    for (u32 base = 0; base < nvec; base += static_cast<u32>(BLOCK) * VU) {
      if (PF > 0) {
#pragma unroll
        for (int u = 0; u < VU; ++u) {
          const u32 c = base + (PF * VU + u) * BLOCK + t;
          if (c < nvec) prefetch_l2(src + c);
        }
      }
      uint4 v[VU];
#pragma unroll
      for (int u = 0; u < VU; ++u) {
        const u32 c = base + u * BLOCK + t;
        if (c < nvec) v[u] = src[c];
      }
#pragma unroll
      for (int u = 0; u < VU; ++u) {
        const u32 c = base + u * BLOCK + t;
        if (c < nvec) {
          if (STORE) {
            v[u] = chunk_keys(v[u]);
            reinterpret_cast<uint4*>(x)[c] = v[u];
          }
          chunk(c, v[u]);
        }
      }
    }
  }

  // The layout every pass shares. Calls edge(i, b) for the elements outside whole 16-byte chunks
  // and chunk(i0, v, aligned) for each whole chunk, i0 being the row index of its first element;
  // aligned says whether g + i0 is on a 16-byte boundary (always for C = 1). C = 1 reads the row:
  // b and v hold bits, and what edge returns is stored when it differs. C > 1 reads the staged
  // slice, or with STAGE reads the row from global memory and stages it: b and v hold keys, and
  // edge's result is ignored (write_slice writes). Nothing is visited in any particular order.
  template <int VU, bool STAGE, class Edge, class Chunk>
  __device__ void traverse(Edge edge, Chunk chunk) const {
    const u32 t = threadIdx.x;
    if constexpr (C == 1) {
      const u32 h = head();
      const u32 nvec = (static_cast<u32>(V) - h) / kVec;
      const u32 tail = h + nvec * kVec;
      // The unaligned edges: fewer than 2 * kVec elements.
      if (t < h) {
        const Bits b = g[t], nb = edge(t, b);
        if (nb != b) g[t] = nb;
      } else if (t < h + (static_cast<u32>(V) - tail)) {
        const u32 i = tail + (t - h);
        const Bits b = g[i], nb = edge(i, b);
        if (nb != b) g[i] = nb;
      }
      auto at = [&](u32 c, const uint4& v) { chunk(h + c * kVec, v, true); };
      chunks<VU, false>(at, reinterpret_cast<const uint4*>(g + h), nvec);
    } else {
      // The slice starts on a 32-element boundary of the row and the staged copy on a 16-byte
      // boundary, so the two line up exactly when the row itself is 16-byte aligned.
      Bits* out = g + lo;
      const bool aligned = (reinterpret_cast<unsigned long long>(out) & 15u) == 0;
      bool from_global = STAGE;
      if (STAGE && !aligned) {
        // A row off a 16-byte boundary is staged with element loads; the pass then reads the slice.
#pragma unroll 1
        for (u32 base = 0; base < kSlice; base += kTile) {
          Bits v[U];
          load_tile<true>(base, v);
        }
        __syncthreads();
        from_global = false;
      }
      const u32 nvec = n / kVec, tail = nvec * kVec;
      if (t < n - tail) {
        const u32 j = tail + t;
        const Bits b = from_global ? stage_key(out[j]) : x[j];
        if (from_global) x[j] = b;
        edge(lo + j, b);
      }
      auto at = [&](u32 c, const uint4& v) { chunk(lo + c * kVec, v, aligned); };
      if (from_global)
        chunks<VU, true>(at, reinterpret_cast<const uint4*>(out), nvec);
      else
        chunks<VU, false>(at, reinterpret_cast<const uint4*>(x), nvec);
    }
  }

  // C = 1: calls f(i, bits) for every element of the row, in no particular order; where f returns
  // other bits, stores them in the row in global memory (a whole chunk at once when any of its
  // elements changed). C > 1 passes see keys, and write through write_slice.
  template <int VU = kPassU, bool STAGE = false, class F>
  __device__ void stream(F f) const {
    static_assert(C == 1, "C > 1 passes read keys: for_each, for_each_hit, write_slice");
    traverse<VU, STAGE>(f, [&](u32 i0, const uint4& v, bool aligned) {
      uint4 o = v;
      bool changed = false;
#pragma unroll
      for (u32 e = 0; e < kVec; ++e) {  // branch-free: this runs for every element
        const Bits b = lane_of(v, e), nb = f(i0 + e, b);
        set_lane(o, e, nb);
        changed |= nb != b;
      }
      if (changed) {
        if (aligned) {
          *reinterpret_cast<uint4*>(g + i0) = o;
        } else {
#pragma unroll
          for (u32 e = 0; e < kVec; ++e)
            if (lane_of(o, e) != lane_of(v, e)) g[i0 + e] = lane_of(o, e);
        }
      }
    });
  }

  // C = 1: calls f(i, bits) for every element of the row, in no particular order, and writes
  // nothing: the passes that read values from bits rather than keys.
  template <class F>
  __device__ void for_each_bits(F f) const {
    static_assert(C == 1, "C > 1 passes read keys");
    traverse<kPassU, false>(
        [&](u32 i, Bits b) {
          f(i, b);
          return b;
        },
        [&](u32 i0, const uint4& v, bool) {
#pragma unroll
          for (u32 e = 0; e < kVec; ++e) f(i0 + e, lane_of(v, e));
        });
  }

  // C = 1 final pass when the cut came from the sorted candidates: the kept tokens are listed in
  // sh.hist.candidate[0, n) as (key, ~index), so the row need not be read again (one pass of HBM
  // traffic less). Entries whose key the caller zeroed (min-p) are dropped too. Kept tokens' bits
  // are fetched first; then -inf goes over the whole row with 16-byte stores and the mask is
  // cleared; then the kept bits go back and their mask entries are set. The barriers order the
  // steps for every thread of the block. Overwrites the list.
  template <int MASK>
  __device__ void write_listed(u32 n, bool logits, void* mask_out, long long row) {
    constexpr u32 kKept = 0x80000000u;  // indices are below 2^31 (spec.cpp)
    for (u32 j = threadIdx.x; j < n; j += BLOCK) {
      const u64 c = sh.hist.candidate[j];
      const u32 i = ~static_cast<u32>(c);
      sh.hist.candidate[j] = (c >> 32) == 0 ? static_cast<u64>(i)
                                            : (static_cast<u64>(logits ? g[i] : Bits(0)) << 32) | i | kKept;
    }
    __syncthreads();
    if (logits) {
      const u32 h = head(), nvec = (static_cast<u32>(V) - h) / kVec, tail = h + nvec * kVec;
      for (u32 t = threadIdx.x; t < h + (static_cast<u32>(V) - tail); t += BLOCK)
        g[t < h ? t : tail + (t - h)] = static_cast<Bits>(D::kNegInf);
      const uint4 all = make_uint4(kNegInfWord, kNegInfWord, kNegInfWord, kNegInfWord);
      uint4* out = reinterpret_cast<uint4*>(g + h);
#pragma unroll 4
      for (u32 c = threadIdx.x; c < nvec; c += BLOCK) out[c] = all;
    }
    constexpr long long kWords = (static_cast<long long>(V) + 31) / 32;
    if (MASK == kMaskBool) {
      unsigned char* m = static_cast<unsigned char*>(mask_out) + row * V;
      for (u32 i = threadIdx.x; i < static_cast<u32>(V); i += BLOCK) m[i] = 0;
    } else if (MASK == kMaskBits) {
      u32* m = static_cast<u32*>(mask_out) + row * kWords;
      for (u32 i = threadIdx.x; i < static_cast<u32>(kWords); i += BLOCK) m[i] = 0u;
    }
    __syncthreads();
    for (u32 j = threadIdx.x; j < n; j += BLOCK) {
      const u64 c = sh.hist.candidate[j];
      if ((static_cast<u32>(c) & kKept) == 0) continue;
      const u32 i = static_cast<u32>(c) & ~kKept;
      if (logits) g[i] = static_cast<Bits>(c >> 32);
      if (MASK == kMaskBool) static_cast<unsigned char*>(mask_out)[row * V + i] = 1;
      if (MASK == kMaskBits) atomicOr(static_cast<u32*>(mask_out) + row * kWords + i / 32, 1u << (i % 32));
    }
  }

  // Visits this CTA's elements as (row index, key), in no particular order. STAGE (C > 1) also
  // stages the slice's keys in shared memory.
  template <bool STAGE = false, class F>
  __device__ void for_each(F f) const {
    if constexpr (kStagedKeys) {
      traverse<STAGE ? kVecU : kPassU, STAGE>(
          [&](u32 i, Bits k) { f(i, static_cast<u32>(k)); },
          [&](u32 i0, const uint4& v, bool) {
#pragma unroll
            for (u32 e = 0; e < kVec; ++e) f(i0 + e, static_cast<u32>(lane_of(v, e)));
          });
    } else if constexpr (kVector) {
      stream<STAGE ? kVecU : kPassU, STAGE>([&](u32 i, Bits b) {
        f(i, to_key<D>(b));
        return b;
      });
    } else {
#pragma unroll 1
      for (u32 base = 0; base < kSlice; base += kTile) {
        Bits v[U];
        load_tile<STAGE>(base, v);
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const u32 j = base + u * BLOCK + threadIdx.x;
          if (j < count()) f(lo + j, key_of(v[u]));
        }
      }
    }
  }

  // Calls act(i, key) for this CTA's elements with key != 0 and hit(key), in no particular order.
  // hit is evaluated for every element and should be cheap. C > 1: act runs once per hit, from a
  // loop over a chunk's hits, so its code appears once rather than once per element of a chunk
  // (the staged passes run once per call, and their unrolled code was fetched cold). C = 1 keeps
  // act inline per element: there the loop over hits measured 5-15% slower at B = 256-1024
  // (same-run A/B bench, docs/benchmarks.md), the passes being long loops whose code stays cached.
  template <class Hit, class Act>
  __device__ void for_each_hit(Hit hit, Act act) const {
    if constexpr (kVector && C > 1) {
      traverse<kPassU, false>(
          [&](u32 i, Bits b) {
            const u32 key = key_of(b);
            if (key != 0 && hit(key)) act(i, key);
          },
          [&](u32 i0, const uint4& v, bool) {
            u32 hits = 0;
#pragma unroll
            for (u32 e = 0; e < kVec; ++e) {
              const u32 key = key_of(lane_of(v, e));
              hits |= static_cast<u32>((key != 0) & hit(key)) << e;
            }
            while (hits != 0) {
              const u32 e = static_cast<u32>(__ffs(hits) - 1);
              hits &= hits - 1u;
              act(i0 + e, key_of(lane_of(v, e)));
            }
          });
    } else {
      for_each([&](u32 i, u32 key) {
        if (key != 0 && hit(key)) act(i, key);
      });
    }
  }

  // The bits of a candidate's key: exact but for zero, whose key -0 and +0 share (this gives +0).
  // key_to_float inverts the same way with `key & ~kSign`; one shared form changes the cluster
  // kernels' machine code, so it waits for a GPU run of their cases.
  __device__ static Bits key_bits(u32 key) {
    constexpr u32 kAll = D::kKeyBits == 32 ? 0xFFFFFFFFu : 0xFFFFu;
    return static_cast<Bits>((key & D::kSign) ? key ^ D::kSign : ~key & kAll);
  }

  // C > 1 final passes: writes -inf over this CTA's elements i for which drop(i, key) holds (it is
  // called once for every element). The staged slice holds keys, not bits, so a chunk with kept
  // elements is rebuilt from their keys (key_bits) and stored whole, unless one of them is a zero,
  // whose sign only the row knows: then, as in a row off a 16-byte boundary, only the dropped
  // elements are stored, one by one (which measured up to 1.07x slower for top-p alone at B <= 4,
  // where most chunks keep some elements). A dropped element that already held -inf is written
  // again (its key, 0, is NaN's too).
  template <class Drop>
  __device__ void write_slice(Drop drop) const {
    static_assert(kStagedKeys, "C = 1 writes through stream");
    constexpr u32 kAll = (1u << kVec) - 1u;
    constexpr u32 w = kNegInfWord;
    traverse<kPassU, false>(
        [&](u32 i, Bits k) {
          if (drop(i, static_cast<u32>(k))) g[i] = static_cast<Bits>(D::kNegInf);
        },
        [&](u32 i0, const uint4& v, bool aligned) {
          u32 dropped = 0;
#pragma unroll
          for (u32 e = 0; e < kVec; ++e)
            dropped |= static_cast<u32>(drop(i0 + e, static_cast<u32>(lane_of(v, e)))) << e;
          if (dropped == 0) return;
          uint4 o = make_uint4(w, w, w, w);
          bool zero = false;
          if (dropped != kAll) {
#pragma unroll
            for (u32 e = 0; e < kVec; ++e) {
              const u32 key = static_cast<u32>(lane_of(v, e));
              const bool kept = ((dropped >> e) & 1u) == 0;
              zero |= kept && key == D::kSign;
              if (kept) set_lane(o, e, key_bits(key));
            }
          }
          if (aligned && !zero) {
            *reinterpret_cast<uint4*>(g + i0) = o;
          } else {
            while (dropped != 0) {
              const u32 e = static_cast<u32>(__ffs(dropped) - 1);
              dropped &= dropped - 1u;
              g[i0 + e] = static_cast<Bits>(D::kNegInf);
            }
          }
        });
  }

  // C > 1: copies the slice into shared memory when no counting pass does it.
  __device__ void stage() const {
    if (C > 1) {
      for_each<true>([](u32, u32) {});
      __syncthreads();
    }
  }

  // Publishes up to kExchange block-uniform values: each CTA pushes them into every peer's
  // shared memory, so after the barrier they are read locally, with no round trip to a peer.
  // Afterwards got(j, r) is rank r's j-th value; it must be read before the next exchange.
  // The first exchange must follow the cluster wait that matches the arrive at entry.
  __device__ void exchange(u64 a, u64 b = 0, u64 c = 0, u64 d = 0) {
    gen ^= 1;
    if (threadIdx.x < kExchange * C) {
      const u32 j = threadIdx.x / C, r = threadIdx.x % C;
      const u64 v = j == 0 ? a : j == 1 ? b : j == 2 ? c : d;
      peer_store(&sh.peers[gen][j][rank], r, v);
    }
    cluster_sync();
  }

  __device__ u64 got(int j, int r) const { return sh.peers[gen][j][r]; }

  // The cluster's sum of each bin of the local histograms (C = 1: the local histogram itself).
  // Ends with a cluster barrier, so the local histograms may be cleared afterwards.
  template <bool MASS>
  __device__ const u64* reduce_bins(int nbins) {
    if (C == 1) {
      __syncthreads();
      return sh.hist.bins.local;
    }
    cluster_sync();
    for (int b = threadIdx.x; b < nbins; b += BLOCK) {
      u64 s = 0;
      for (int r = 0; r < C; ++r) {
        if (MASS)
          s += peer_load(&sh.hist.bins.local[b], r);
        else
          s += peer_load(&reinterpret_cast<const u32*>(sh.hist.bins.local)[b], r);
      }
      sh.hist.bins.total[b] = s;
    }
    cluster_sync();
    return sh.hist.bins.total;
  }

  // The count of a bin in a reduced histogram (counts are u32 in the local array, u64 in totals).
  template <bool MASS>
  __device__ u64 bin_value(const u64* h, int b) const {
    if (MASS || (C > 1 && h == sh.hist.bins.total)) return h[b];
    return reinterpret_cast<const u32*>(h)[b];
  }

  // The unnormalized post-temperature softmax weight exp((x - xmax) / temperature), in (0, 1].
  // With a +inf max, +inf tokens weigh 1 and all others 0 (the limit of the softmax).
  __device__ float weight(u32 key) const {
    if (max_is_inf) return key == to_key<D>(D::kPosInf) ? 1.0f : 0.0f;
    return expf(scaled(key));
  }

  // The post-temperature logit relative to the max, (x - xmax) / temperature, <= 0 (finite max).
  __device__ float scaled(u32 key) const { return scaled_value(key_to_float<D>(key)); }
  __device__ float scaled_value(float x) const { return div_by_temperature(x - xmax); }

  // a / temperature, bit for bit the correctly rounded quotient. The division's fast path spends a
  // reciprocal per token on the special-function pipe, beside the exp and the 64-bit conversion of
  // the sampler's mass sums. From RN(1 / temperature) instead, a product and two residual
  // corrections (exact by FMA) round correctly while nothing overflows or underflows (Markstein);
  // outside that range, the division itself. tools/probe/div_check.cpp checks it against IEEE
  // division: every a in [-2^8, -2^-30] for 15 temperatures and 4e8 random pairs, 0 mismatches.
  // One CTA per row only (kRecipDiv). The A/Bs that chose it ran at T = 1, where this returns a and
  // no division runs at all; at T = 0.8 its per-token form (range tests and a branch per token)
  // made those sampler rows 1.02-1.11x slower than the plain division, and in the sampler's
  // gather pass one test per four quotients was slower too at B >= 256 (gather_chunk divides).
  // Cluster rows and short 16-bit rows keep the division (their A/Bs at T = 1 found no gain and
  // up to 1.12x at small batches; docs/benchmarks.md).
  static constexpr bool kRecipDiv = !(C > 1 || (sizeof(Bits) == 2 && V < 65536));
  __device__ float div_by_temperature(float a) const {
    if constexpr (!kRecipDiv) return a / temperature;
    if (temperature == 1.0f) return a;  // a constant in truncation kernels: no code at all
    // An out-of-range temperature made inv_t NaN, which fails this test too.
    const float q0 = a * inv_t;
    const float aa = fabsf(a), qa = fabsf(q0);
    const bool exact = aa >= 0x1p-96f && aa <= 0x1p96f && qa >= 0x1p-96f && qa <= 0x1p96f;
    const float q1 = fmaf(fmaf(-temperature, q0, a), inv_t, q0);
    const float q = fmaf(fmaf(-temperature, q1, a), inv_t, q1);
    return exact ? q : a / temperature;
  }

  __device__ static float recip_in_range(float t) {
    const float r = 1.0f / t;
    return r >= 0x1p-96f && r <= 0x1p96f ? r : __int_as_float(0x7FC00000);
  }

  // A weight in 64-bit fixed point, so that sums are exact and order-independent.
  __device__ static u64 mass_of_weight(float w) {
    constexpr float kScale = static_cast<float>(1ull << kFracBits);
    return __float2ull_rn(w * kScale);
  }

  __device__ u64 mass(u32 key) const { return mass_of_weight(weight(key)); }

  // Adds a mass to bin b of a histogram held as 32-bit halves (lo[b], hi[b]): shared memory has no
  // 64-bit atomic add (it compiles to a compare-and-swap loop, which contended bins make slow).
  __device__ static void add_mass(u32* lo, u32* hi, u32 b, u64 m) {
    const u32 low = static_cast<u32>(m);
    u32 high = static_cast<u32>(m >> 32);
    if (low != 0) {
      const u32 old = atomicAdd(&lo[b], low);
      high += old + low < old ? 1u : 0u;  // carry out of the low word
    }
    if (high != 0) atomicAdd(&hi[b], high);
  }

  // Folds nbins (<= MAXBINS) halves, the low words at h[0..nbins) and the high words right after
  // them (so within the nbins 64-bit bins that were cleared), back into 64-bit bins in place.
  template <int MAXBINS>
  __device__ static void fold_halves(u64* h, int nbins) {
    constexpr int kPer = (MAXBINS + BLOCK - 1) / BLOCK;
    const u32* lo = reinterpret_cast<const u32*>(h);
    u64 v[kPer];
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int b = static_cast<int>(threadIdx.x) + q * BLOCK;
      v[q] = b < nbins ? (static_cast<u64>(lo[nbins + b]) << 32) + lo[b] : 0ull;
    }
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const int b = static_cast<int>(threadIdx.x) + q * BLOCK;
      if (b < nbins) h[b] = v[q];
    }
  }

  // Finds the bin holding the remaining-th unit (count or mass) counting from the top bin.
  template <bool MASS>
  __device__ void find_bin(const u64* hist, int nbins, u64 remaining, u32& bin, u64& above, u64* sum = nullptr) {
    const int per = (nbins + BLOCK - 1) / BLOCK;
    const int hi = nbins - static_cast<int>(threadIdx.x) * per;
    const int lo_bin = hi - per > 0 ? hi - per : 0;
    u64 s = 0;
    for (int b = hi - 1; b >= lo_bin; --b) s += bin_value<MASS>(hist, b);
    u64 total;
    const u64 before = block_exclusive_scan<BLOCK>(s, sh.scratch, total);
    if (sum != nullptr) *sum = total;
    if (s > 0 && before < remaining && remaining <= before + s) {
      u64 a = before;
      for (int b = hi - 1; b >= lo_bin; --b) {
        const u64 h = bin_value<MASS>(hist, b);
        if (remaining <= a + h) {
          sh.found_bin = static_cast<u32>(b);
          sh.found_above = a;
          break;
        }
        a += h;
      }
    }
    __syncthreads();
    bin = sh.found_bin;
    above = sh.found_above;
    __syncthreads();
  }

  struct Selected {
    u32 key;        // the key holding the target unit
    u64 above;      // units strictly above that key
    u64 at_key;     // units at that key
    u64 remaining;  // target minus above
  };

  // MSD radix select among elements with pred(i, key): the key at which the running total, taken
  // from the largest key down, first reaches the target. target(total) maps the pass-0 total
  // (all units) to the wanted amount, which must lie in [1, total].
  template <bool MASS, class Pred, class Target>
  __device__ Selected select(Pred pred, Target target) {
    u32 prefix = 0, prefix_mask = 0;
    u64 remaining = 0, above = 0, at_key = 0;
    u32* counts = reinterpret_cast<u32*>(sh.hist.bins.local);
#pragma unroll 1
    for (int pass = 0; pass < Dig::kPasses; ++pass) {
      const int shift = Dig::shift(pass);
      const int nbins = 1 << Dig::width(pass);
      for (int b = threadIdx.x; b < nbins; b += BLOCK) {
        if (MASS)
          sh.hist.bins.local[b] = 0;
        else
          counts[b] = 0;
      }
      __syncthreads();
      for_each([&](u32 i, u32 key) {
        if (key == 0 || (key & prefix_mask) != prefix || !pred(i, key)) return;
        const u32 bin = (key >> shift) & static_cast<u32>(nbins - 1);
        if (MASS)
          add_mass(counts, counts + nbins, bin, mass(key));
        else
          atomicAdd(&counts[bin], 1u);
      });
      if (MASS) fold_halves<Dig::kMaxBins>(sh.hist.bins.local, nbins);
      const u64* hist = reduce_bins<MASS>(nbins);
      if (pass == 0) {
        u64 part = 0;
        for (int b = threadIdx.x; b < nbins; b += BLOCK) part += bin_value<MASS>(hist, b);
        remaining = target(block_sum<BLOCK>(part, sh.scratch));
      }
      u32 bin;
      u64 skipped;
      find_bin<MASS>(hist, nbins, remaining, bin, skipped);
      at_key = bin_value<MASS>(hist, static_cast<int>(bin));
      remaining -= skipped;
      above += skipped;
      prefix |= bin << shift;
      prefix_mask |= static_cast<u32>(nbins - 1) << shift;
      __syncthreads();
    }
    Selected s;
    s.key = prefix;
    s.above = above;
    s.at_key = at_key;
    s.remaining = remaining;
    return s;
  }

  // C > 1: candidates this few fit where this CTA's own window histograms were (sh.hist.win.count
  // and .mass lead the union), which are dead once the window's barrier has passed, since their sums
  // went to the owners before it. Peers may then push candidates without waiting for a barrier.
  static constexpr u32 kQuickGather = static_cast<u32>((sizeof(u32) + sizeof(u64)) * kWindow / sizeof(u64));

  // Gathers the row's n tokens with in(key) (key != 0) into shared memory (every CTA of a cluster
  // gets all of them) and sorts them into rank order. local_count() is this CTA's share. With
  // C > 1 and at most kQuickGather candidates, each takes its slot from a counter in rank 0
  // (cleared at entry); more need an exchange of the shares first, which also waits for every CTA
  // to be done with the window totals they overwrite. Returns n.
  template <class In, class Local>
  __device__ u32 gather_sorted(In in, u32 n, Local local_count) {
    const bool quick = C > 1 && n <= kQuickGather;
    u32 offset = 0;
    if (C > 1 && !quick) {
      exchange(local_count());
      for (int r = 0; r < static_cast<int>(rank); ++r) offset += static_cast<u32>(got(0, r));
    }
    SJ_MARK(14);
    if (!quick) {
      if (threadIdx.x == 0) sh.candidates = 0;
      __syncthreads();
    }
    for_each_hit(in, [&](u32 i, u32 key) {
      const u32 slot = quick ? peer_fetch_add(&sh.candidates, 0u, 1u) : offset + atomicAdd(&sh.candidates, 1u);
      const u64 c = (static_cast<u64>(key) << 32) | static_cast<u64>(~i);
      if (C == 1) {
        sh.hist.candidate[slot] = c;
      } else {
        for (int r = 0; r < C; ++r) peer_store(&sh.hist.candidate[slot], static_cast<u32>(r), c);
      }
    });
    SJ_MARK(15);
    if (C > 1)
      cluster_sync();
    else
      __syncthreads();
    SJ_MARK(5);
    sort_candidates(n);
    SJ_MARK(6);
    return n;
  }

  // sort_candidates ranks this many or fewer directly; more go through a bitonic network, which
  // pads them to a power of two.
  static constexpr u32 kRankSort = BLOCK < 256 ? BLOCK : 256;

  // The entries of sh.hist.candidate that sort_candidates(n) overwrites: n, or the padded count.
  __device__ static u32 sort_span(u32 n) {
    if (n <= kRankSort) return n;
    u32 padded = 1;
    while (padded < n) padded <<= 1;
    return padded;
  }

  // Sorts sh.hist.candidate[0, n) into rank order (descending).
  __device__ void sort_candidates(u32 n) {
    if (n <= kRankSort) {
      // Few candidates (the usual top-k): each thread places one at its rank, the number of
      // candidates ahead of it, instead of a bitonic network's barrier per step. Candidates are
      // distinct (the index is part of the value), so the ranks are too.
      const u32 t = threadIdx.x;
      const u64 mine = t < n ? sh.hist.candidate[t] : 0ull;
      u32 ahead = 0;
      if (t < n) {
#pragma unroll 4
        for (u32 j = 0; j < n; ++j) ahead += sh.hist.candidate[j] > mine ? 1u : 0u;
      }
      __syncthreads();
      if (t < n) sh.hist.candidate[ahead] = mine;
      __syncthreads();
    } else {
      const u32 padded = sort_span(n);
      for (u32 j = n + threadIdx.x; j < padded; j += BLOCK) sh.hist.candidate[j] = 0;
      __syncthreads();
      for (u32 size = 2; size <= padded; size <<= 1) {
        for (u32 stride = size >> 1; stride > 0; stride >>= 1) {
          for (u32 j = threadIdx.x; j < padded; j += BLOCK) {
            const u32 partner = j ^ stride;
            if (partner > j) {
              const u64 a = sh.hist.candidate[j], b = sh.hist.candidate[partner];
              const bool descending = (j & size) == 0;
              if (descending ? a < b : a > b) {
                sh.hist.candidate[j] = b;
                sh.hist.candidate[partner] = a;
              }
            }
          }
          __syncthreads();
        }
      }
    }
  }

  // Among the first n sorted candidates: the position of the one whose inclusive mass prefix
  // first reaches want_p(total mass).
  template <class Target>
  __device__ u32 mass_prefix_position(u32 n, Target target) {
    const u32 per = (n + BLOCK - 1) / BLOCK;
    const u32 first = threadIdx.x * per, last = first + per < n ? first + per : n;
    u64 s = 0;
    for (u32 j = first; j < last; ++j) s += mass(static_cast<u32>(sh.hist.candidate[j] >> 32));
    u64 total;
    const u64 before = block_exclusive_scan<BLOCK>(s, sh.scratch, total);
    const u64 want = target(total);
    if (s > 0 && before < want && want <= before + s) {
      u64 a = before;
      for (u32 j = first; j < last; ++j) {
        a += mass(static_cast<u32>(sh.hist.candidate[j] >> 32));
        if (want <= a) {
          sh.found_index = j;
          break;
        }
      }
    }
    __syncthreads();
    const u32 pos = sh.found_index;
    __syncthreads();
    return pos;
  }

  // This CTA's elements equal to key.
  __device__ u32 local_matches(u32 key) const {
    u32 c = 0;
    for_each([&](u32, u32 k) { c += k == key; });
    return static_cast<u32>(block_sum<BLOCK>(static_cast<u64>(c), sh.scratch));
  }

  // Row index of this CTA's n-th (1-based) element equal to key, in index order.
  __device__ u32 local_nth(u32 key, u32 nth) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    u32 running = 0;
#pragma unroll 1
    for (u32 base = 0; base < kSlice; base += kTile) {
      Bits v[U];
      load_tile(base, v);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const u32 j = base + u * BLOCK + threadIdx.x;
        const bool hit = j < count() && key_of(v[u]) == key;
        const u32 c = static_cast<u32>(__syncthreads_count(hit));
        if (running + c >= nth) {
          const u32 ballot = __ballot_sync(0xFFFFFFFFu, hit);
          if (lane == 0) sh.scratch[warp] = __popc(ballot);
          __syncthreads();
          u32 r = running + __popc(ballot & ((1u << lane) - 1u));
          for (int w = 0; w < warp; ++w) r += static_cast<u32>(sh.scratch[w]);
          if (hit && r + 1 == nth) sh.found_index = lo + j;
          __syncthreads();
          const u32 found = sh.found_index;
          __syncthreads();
          return found;
        }
        running += c;
      }
    }
    return kAllTies;  // unreachable when nth <= this CTA's matches
  }

  // Row index of the row's n-th (1-based) element whose key equals `key`, in index order.
  __device__ u32 nth_with_key(u32 key, u32 nth) {
    if (C == 1) return local_nth(key, nth);
    exchange(local_matches(key));
    u32 before = 0, mine = 0;
    for (int r = 0; r < C; ++r) {
      const u32 m = static_cast<u32>(got(0, r));
      if (r < static_cast<int>(rank)) before += m;
      if (r == static_cast<int>(rank)) mine = m;
    }
    const u32 found = nth > before && nth <= before + mine ? local_nth(key, nth - before) : kAllTies;
    exchange(found);
    u32 best = kAllTies;
    for (int r = 0; r < C; ++r) best = min(best, static_cast<u32>(got(0, r)));
    return best;
  }

  struct Cut {
    u32 key, index;  // the last kept (key, index) in rank order; key 0 keeps every candidate
    u32 count;       // candidates in the row
    u32 max_key;     // 0 where compute_cut's staged first digit skips the max's exchange
    u32 listed;  // > 0: the kept tokens are sh.hist.candidate[0, listed), in rank order
    // Bitwise, not short-circuit: the final passes call it for every token, where branches cost
    // more than the comparisons.
    __device__ bool keeps(u32 i, u32 k) const {
      return (i < static_cast<u32>(V)) & (k != 0) & ((k > key) | ((k == key) & (i <= index)));
    }
    // keeps() on a row's value x (i < V): x > value(), or x == value() and i <= index. The same
    // decision, since keys order values and -0 ranks with +0, and NaN, whose key is 0, compares
    // false. Key 0 (keep every candidate) gives -inf, which keeps all but NaN, and a -inf kept
    // where its key would drop it stays -inf either way. A final pass over 16-bit bits then needs
    // no key per token.
    __device__ float value() const { return key == 0 ? __int_as_float(0xFF800000) : key_to_float<D>(key); }
    __device__ bool keeps_value(u32 i, float x, float v) const { return (x > v) | ((x == v) & (i <= index)); }
  };

  // Window bins are 2^kWinShift keys wide: 128 per octave for fp32 and fp16, single keys for bf16,
  // so the window spans the 8 octaves below the max.
  static constexpr int kWinShift = D::kKeyBits == 32 ? 16 : (DT == kF16 ? 3 : 0);

  __device__ static u32 window_bin(u32 max_key, u32 key) { return (max_key - key) >> kWinShift; }

  // C = 1 top-p alone lists its kept set when it fits (compute_cut). Not in 1024-thread blocks:
  // at their 64 registers the listing gather spilled (ptxas), where the bin's gather does not.
  static constexpr bool kListTopP = C == 1 && BLOCK < 1024;

  // Moves sh.hist.candidate[from, from + n) to [to, to + n), to <= from; the ranges may overlap.
  // A block's worth per round: each round writes below what later rounds read.
  __device__ void move_down(u32 from, u32 to, u32 n) {
#pragma unroll 1
    for (u32 base = 0; base < n; base += BLOCK) {
      const u32 j = base + threadIdx.x;
      const u64 c = j < n ? sh.hist.candidate[from + j] : 0ull;
      __syncthreads();
      if (j < n) sh.hist.candidate[to + j] = c;
      __syncthreads();
    }
  }

  // The mass window, for top-p alone: kWindow bins of equal width in scaled(), from the max down
  // to where a weight rounds to zero mass. Every top-p cut lies on a token of nonzero mass, so it
  // is always inside, however deep in the body of the row; the bins are narrow enough that the
  // one holding the cut is sorted on chip. Needs a finite max.
  static constexpr float kMassSpan = static_cast<float>(kFracBits + 2) * 0.6931471805599453f;

  __device__ static u32 mass_bin(float z) {
    const float d = -z * (static_cast<float>(kWindow) / kMassSpan);
    return d < static_cast<float>(kWindow) ? static_cast<u32>(d) : static_cast<u32>(kWindow);
  }

  __device__ u32 mass_bin_of(u32 key) const { return mass_bin(scaled(key)); }

  // The lowest key of mass bin `bin` or of a bin above it, for a finite max: mass_bin_of never
  // falls as keys grow (key_to_float, the subtraction, the division by a positive temperature and
  // the scaling all keep order), so a binary search over the keys finds the edge exactly, with the
  // expression the window's pass used. Every thread runs the same 16 or 32 steps, which costs less
  // than a barrier to share one thread's result.
  __device__ u32 mass_bin_low_key(u32 max_key, u32 bin) const {
    u32 lo = lowest_key<D>(), hi = max_key;  // the max's bin is 0
#pragma unroll 1
    while (lo < hi) {
      const u32 mid = lo + (hi - lo) / 2;
      if (mass_bin_of(mid) <= bin)
        hi = mid;
      else
        lo = mid + 1;
    }
    return lo;
  }

  // C = 1 top-p alone, truncation: visits the tokens with value >= low (with key != 0) as
  // act(i, key). low is a bin edge's value (mass_bin_low_key), so a float compare picks the tokens
  // (chunk_hits, exact as first_digit_low explains: keys order values, -0 ranks with +0, NaN and
  // -inf compare below every finite value) and only they get a key. With hi a higher edge's
  // value, tokens at or above it are left out too (a NaN hi leaves out none). In a peaked row
  // nearly every token lies below the cut's bin, where computing its key and bin made the pass
  // issue-bound.
  template <bool RANGE, class Act>
  __device__ void for_each_at_least(float low, float hi, Act act) const {
    const u32 h = head(), nvec = (static_cast<u32>(V) - h) / kVec, tail = h + nvec * kVec;
    const u32 t = threadIdx.x;
    if (t < h + (static_cast<u32>(V) - tail)) {
      const u32 i = t < h ? t : tail + (t - h);
      const float x = D::to_float(g[i]);
      if (x >= low && !(RANGE && x >= hi)) act(i, to_key<D>(g[i]));
    }
    auto chunk = [&](u32 c, const uint4& v) {
      u32 hits = chunk_hits(v, low);
      if (RANGE) hits &= ~chunk_hits(v, hi);
      for (; hits != 0; hits &= hits - 1u) {
        const u32 e = static_cast<u32>(__ffs(hits) - 1);
        act(h + c * kVec + e, to_key<D>(lane_of(v, e)));
      }
    };
    chunks<kPassU, false, kCollectPrefetch>(chunk, reinterpret_cast<const uint4*>(g + h), nvec);
  }

  // Whether top-p alone's listing picks its tokens by value (for_each_at_least). Not on sm_80 in
  // 256-thread blocks (64 registers): there the one-CTA kernels with a mask spilled 4 bytes with
  // it, so they keep a key and a bin per token. sm_90's kernels were measured and tested with it.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  static constexpr bool kListByValue = kVector && BLOCK > 256;
#else
  static constexpr bool kListByValue = kVector;
#endif

  // Whether Quotient::kRecip's product and two corrections give IEEE's a / T for every difference
  // a = x - xmax this row can have, after the clamp at -2^102. The first correction brings the
  // product within an ulp and the second rounds it correctly (Markstein's theorem), provided no
  // quotient or residual overflows or is lost to underflow. With T in [2^-20, 2^20] and a nonzero a
  // in [-2^102, -2^-94] none is (residuals may be subnormal; NVRTC runs with -ftz=false). A nonzero
  // a is that large once |xmax| >= 2^-70: an x within a factor of two of xmax subtracts exactly
  // (Sterbenz) and both are multiples of 2^-94; any other x is at least |xmax| / 2 away.
  // tools/probe/recip_check.cpp checks it against IEEE division on the CPU: every a in that range
  // for 16 temperatures and 4e8 random pairs, 0 mismatches.
  __device__ bool recip_chunk_exact() const {
    return temperature >= 0x1p-20f && temperature <= 0x1p20f && fabsf(xmax) >= 0x1p-70f && fabsf(xmax) <= 0x1p127f;
  }

  // How gather_chunk takes z = (x - xmax) / T: the difference itself (T = 1), from the hoisted
  // reciprocal with no per-token test (rows where recip_chunk_exact holds), or by division.
  enum class Quotient { kUnit, kRecip, kDivide };

  // One 16-byte chunk of gather_by_value's sampler pass (kRecipDiv), four tokens at a time, with
  // no branch per token, so that their exp and conversions overlap. kRecip spends a product and
  // two FMA corrections per token on the FMA pipe where the division spent a reciprocal on the
  // special-function pipe (beside the exp) and a slow-path check; the range test that made that
  // safe is paid once per row (recip_chunk_exact) instead of once per four tokens, as e9bc7c5 did
  // and lost at B >= 256 (same-call A/Bs: docs/benchmarks.md, "The sampler's quotient from the
  // reciprocal, decided per row"). Four, not the chunk's eight 16-bit tokens: eight spilled.
  template <Quotient QUOT>
  __device__ void gather_chunk(u32 i0, const uint4& v, float lowest, float low) {
    constexpr u32 kGroup = 4;
#pragma unroll
    for (u32 e0 = 0; e0 < kVec; e0 += kGroup) {
      float z[kGroup];
#pragma unroll
      for (u32 e = 0; e < kGroup; ++e) {
        const float a = D::to_float(lane_of(v, e0 + e)) - xmax;
        if constexpr (QUOT == Quotient::kUnit) {
          z[e] = a;
        } else if constexpr (QUOT == Quotient::kRecip) {
          // Below -2^102 the quotient is under -2^82 and its weight 0 either way; -inf and NaN
          // (never summed: x >= lowest fails) become finite.
          const float c = fmaxf(a, -0x1p102f);
          const float q0 = c * inv_t;
          const float q1 = fmaf(fmaf(-temperature, q0, c), inv_t, q0);
          z[e] = fmaf(fmaf(-temperature, q1, c), inv_t, q1);
        } else {
          z[e] = a / temperature;
        }
      }
#pragma unroll
      for (u32 e = 0; e < kGroup; ++e) {
        const float x = D::to_float(lane_of(v, e0 + e));
        const float w = max_is_inf ? (x == __int_as_float(0x7F800000) ? 1.0f : 0.0f) : expf(z[e]);
        const u64 m = mass_of_weight(w);
        mass_seen += x >= lowest ? m : 0ull;
      }
    }
    // The chunk's candidates reserve their slots with one addition, so that no token pays a
    // branch around an atomic; the list is sorted afterwards, so the order of slots is free.
    const u32 hits = chunk_hits(v, low);
    if (hits != 0) {
      u32 slot = atomicAdd(&sh.candidates, static_cast<u32>(__popc(hits)));
      for (u32 m = hits; m != 0; m &= m - 1u, ++slot) {
        const u32 e = static_cast<u32>(__ffs(m) - 1);
        store_candidate(slot, i0 + e, to_key<D>(lane_of(v, e)));
      }
    }
  }

  // C = 1, the fused first digit's gather pass (the sampler; 16-bit truncation rows that do not
  // collect): lists the n tokens in or above first-digit bin `bin` and sorts them, as
  // gather_sorted would, but from values: a token is listed when its value is at least the bin's
  // lowest (first_digit_low), and only those get a key. STATS (the sampler) also sums every
  // candidate's mass (value >= the lowest finite one; NaN and -inf are not), with weight()'s
  // expression on the value, which is the key's but for a zero's sign (and -0 - xmax == +0 - xmax
  // unless the max is 0, where both weigh exp(0)). Same-call A/B against deb2fda: the sampler
  // 0.86-0.96x at B >= 256 with fixed k (fp32 0.94-0.97x), 16-bit `truncate` at V = 32000 0.94-0.98x
  // with fixed k; fp32 truncation rows took 1.00-1.03x, so they keep gather_sorted.
  template <bool STATS>
  __device__ void gather_by_value(u32 bin, u32 n) {
    if (threadIdx.x == 0) sh.candidates = 0;
    __syncthreads();
    const float low = first_digit_low(bin);
    if constexpr (STATS) {
      const float lowest = key_to_float<D>(lowest_key<D>());
      auto one = [&](u32 i, Bits b) {
        const float x = D::to_float(b);
        if (!(x >= lowest)) return b;
        const float w = max_is_inf ? (x == __int_as_float(0x7F800000) ? 1.0f : 0.0f) : expf(scaled_value(x));
        mass_seen += mass_of_weight(w);
        if (x >= low) add_candidate(i, to_key<D>(b));
        return b;
      };
      if constexpr (kRecipDiv) {
        // Chunks by gather_chunk, the quotient's form chosen once per row (a uniform branch per
        // chunk). Same weights and sums as `one`, bit for bit. Same-call A/Bs against the
        // per-token form: docs/benchmarks.md, "The sampler's gather pass, four tokens at a time".
        const bool recip = recip_chunk_exact();
        traverse<kPassU, false>(one, [&](u32 i0, const uint4& v, bool) {
          if (temperature == 1.0f)
            gather_chunk<Quotient::kUnit>(i0, v, lowest, low);
          else if (recip)
            gather_chunk<Quotient::kRecip>(i0, v, lowest, low);
          else
            gather_chunk<Quotient::kDivide>(i0, v, lowest, low);
        });
      } else {
        for_each_bits(one);
      }
    } else {
      for_each_at_least<false>(low, 0.0f, [this](u32 i, u32 key) { add_candidate(i, key); });
    }
    __syncthreads();
    sort_candidates(n);
  }

  // The value of mass bin `bin`'s lowest key.
  __device__ float mass_bin_low(u32 max_key, u32 bin) const { return key_to_float<D>(mass_bin_low_key(max_key, bin)); }

  // Adds a token of scaled logit z to the mass window (lo: its masses as 32-bit halves), or its
  // mass to `below`.
  __device__ void window_add(float z, u32* lo, u64& below) {
    const u64 m = mass_of_weight(expf(z));  // == mass(key): the same expression
    const u32 bin = mass_bin(z);
    if (bin < static_cast<u32>(kWindow)) {
      atomicAdd(&sh.hist.win.count[bin], 1u);
      add_mass(lo, lo + kWindow, bin, m);
    } else {
      below += m;
    }
  }

  // Counts (and with MASS, masses) of the window bins into sh.hist.win.*_total, for the whole row:
  // without MASS the key window below max_key, with MASS the mass window. Returns the row's mass
  // below the window (MASS only).
  // VALUES (C = 1, MASS): the pass reads each token's value from its bits, without the round trip
  // through its key; a value is a candidate (key != 0) when it is >= the lowest finite value, which
  // NaN and -inf are not, and z is the same, since only a zero's sign is lost in the round trip.
  template <bool MASS, bool VALUES = false>
  __device__ u64 window_histogram(u32 max_key) {
    u32* lo = reinterpret_cast<u32*>(sh.hist.win.mass);  // MASS: 32-bit halves until fold_halves
    for (int b = threadIdx.x; b < kWindow; b += BLOCK) {
      sh.hist.win.count[b] = 0;
      if (MASS) sh.hist.win.mass[b] = 0;
    }
    __syncthreads();
    u64 below = 0;
    if constexpr (MASS && VALUES && C == 1 && kVector) {
      const float lowest = key_to_float<D>(lowest_key<D>());
      for_each_bits([&](u32, Bits b) {
        const float x = D::to_float(b);
        if (x >= lowest) window_add(scaled_value(x), lo, below);  // == scaled(key)
      });
    } else if (MASS) {
      for_each([&](u32, u32 key) {
        if (key != 0) window_add(scaled(key), lo, below);
      });
    } else {
      for_each_hit([max_key](u32 key) { return window_bin(max_key, key) < static_cast<u32>(kWindow); },
                   [&](u32, u32 key) { atomicAdd(&sh.hist.win.count[window_bin(max_key, key)], 1u); });
    }
    if (MASS) {
      below = block_sum<BLOCK>(below, sh.scratch);
      fold_halves<kWindow>(sh.hist.win.mass, kWindow);
    }
    if (C == 1) {
      __syncthreads();
      for (int b = threadIdx.x; b < kWindow; b += BLOCK) {
        sh.hist.win.count_total[b] = sh.hist.win.count[b];
        if (MASS) sh.hist.win.mass_total[b] = sh.hist.win.mass[b];
      }
      __syncthreads();
      return below;
    }
    // C > 1: bin b's cluster totals are added up in the CTA that owns it (b / kOwned), and every
    // CTA then reads them from there: two remote operations per bin and CTA, where summing every
    // peer's histogram in every CTA took 2 C. The totals were cleared at entry (clear_for_peers).
    constexpr int kOwned = kWindow / C;
    __syncthreads();
    SJ_MARK(11);
    for (int b = threadIdx.x; b < kWindow; b += BLOCK) {
      const u32 owner = static_cast<u32>(b / kOwned);
      const u32 c = sh.hist.win.count[b];
      if (c != 0) peer_add(&sh.hist.win.count_total[b], owner, c);
      if (MASS) {
        const u64 m = sh.hist.win.mass[b];
        if (m != 0) peer_add(&sh.hist.win.mass_total[b], owner, m);
      }
    }
    if (MASS) exchange(below);  // its cluster barrier also completes the additions
    else cluster_sync();
    SJ_MARK(12);
    if (MASS) {
      below = 0;
      for (int r = 0; r < C; ++r) below += got(0, r);
    }
    for (int b = threadIdx.x; b < kWindow; b += BLOCK) {
      const u32 owner = static_cast<u32>(b / kOwned);
      if (owner != rank) {
        sh.hist.win.count_total[b] = peer_load(&sh.hist.win.count_total[b], owner);
        if (MASS) sh.hist.win.mass_total[b] = peer_load(&sh.hist.win.mass_total[b], owner);
      }
    }
    __syncthreads();
    SJ_MARK(13);
    // Peers may still be reading this CTA's totals: whatever reuses sh.hist next passes a cluster
    // barrier first (gather_sorted's exchange; compute_cut's before the radix path).
    return below;
  }

  // C > 1: the window totals and rank 0's candidate counter receive the peers' additions, so they
  // are cleared at entry; the barrier of the first exchange orders this before any peer's.
  __device__ void clear_for_peers() {
    if (threadIdx.x == 0) sh.candidates = 0;
    for (int b = threadIdx.x; b < kWindow; b += BLOCK) {
      sh.hist.win.count_total[b] = 0;
      sh.hist.win.mass_total[b] = 0;
    }
  }

  // C > 1 top-k alone (staged_digit in compute_cut): the first-digit totals receive the peers'
  // additions, as the window totals do; rank 0's candidate counter serves the quick gather.
  __device__ void clear_digit_totals() {
    if (threadIdx.x == 0) sh.candidates = 0;
    for (int b = threadIdx.x; b < Dig::kMaxBins; b += BLOCK) sh.hist.bins.total[b] = 0;
    if (threadIdx.x < 32) {
      sh.sub_local[threadIdx.x] = 0;
      sh.sub_total[threadIdx.x] = 0;
    }
  }

  // C > 1, after pass 1 built this CTA's first-digit counts (sh.hist.bins.local, as u32): the
  // cluster's totals in sh.hist.bins.total, added up in the CTA that owns each bin and read from
  // there, as window_histogram does (one barrier; reduce_bins takes two and C pulls per bin). Finds
  // the bin holding the k-th token (bin, and the tokens above it in `above`; meaningless when k
  // exceeds the total) and returns the row's token count. Must follow the arrive at entry, which
  // released the cleared totals: its wait comes first. Peers may read this CTA's totals until the
  // next cluster barrier.
  __device__ u64 digit_totals(u64 k, u32& bin, u64& above) {
    constexpr int kOwned = Dig::kMaxBins / C;
    const u32* counts = reinterpret_cast<const u32*>(sh.hist.bins.local);
    __syncthreads();
    cluster_wait();
    for (int b = threadIdx.x; b < Dig::kMaxBins; b += BLOCK) {
      const u32 c = counts[b];
      if (c != 0) peer_add(&sh.hist.bins.total[b], static_cast<u32>(b / kOwned), c);
    }
    cluster_sync();
    for (int b = threadIdx.x; b < Dig::kMaxBins; b += BLOCK) {
      const u32 owner = static_cast<u32>(b / kOwned);
      if (owner != rank) sh.hist.bins.total[b] = peer_load(&sh.hist.bins.total[b], owner);
    }
    __syncthreads();
    u64 total = 0;
    find_bin<false>(sh.hist.bins.total, Dig::kMaxBins, k, bin, above, &total);
    return total;
  }

  // C > 1 top-k alone after digit_totals: gathers and sorts the k-th token's bin (the bins above it
  // are kept whole) and sets out's cut. A bin of more tokens than one rank sort takes is first split
  // into 32 sub-bins (16-bit keys: single keys; fp32: 2^16 keys, the key window's resolution) by
  // one more pass over the slice, and only the k-th token's sub-bin is gathered: first-digit bins
  // span a quarter octave (bf16, fp32), so on long rows the k-th token's bin for k in the hundreds
  // holds about a thousand tokens, whose bitonic sort in every CTA took longer than the window's
  // pass it replaced (1.33x at B = 4). Returns false (nothing decided) when k does not cut or the
  // tokens to sort pass the list. Ends with a cluster barrier after its last access to a peer.
  __device__ bool staged_digit_cut(u32 k, bool k_cuts, u32 bin, u64 above, Cut& out) {
    constexpr int kShift0 = Dig::shift(0);
    constexpr int kSubShift = kShift0 - 5;
    // bin is meaningless unless k cuts; then peers may still be reading this CTA's totals.
    if (!k_cuts) {
      cluster_sync();
      return false;
    }
    const u32* counts = reinterpret_cast<const u32*>(sh.hist.bins.local);
    u64 n = sh.hist.bins.total[bin];
    // This CTA's share, which only a gather of more than kQuickGather tokens reads (a sub-bin's,
    // then: an unsplit bin holds at most kRankSort). Where the gather is quick, peers may already
    // be pushing candidates over the counts, and the value read here goes unused.
    u32 local = counts[bin];
    int shift = kShift0;  // the gathered tokens: key >> shift == target
    u32 target = bin;
    if (n > kRankSort) {
      for_each_hit([bin](u32 key) { return (key >> kShift0) == bin; },
                   [this](u32, u32 key) { atomicAdd(&sh.sub_local[(key >> kSubShift) & 31u], 1u); });
      __syncthreads();
      // The sums go to rank 0, whose sub_total was cleared at entry; after the barrier no peer
      // reads this CTA's first-digit totals any more, so their first 32 entries take the sums.
      const u32 mine = threadIdx.x < 32 ? sh.sub_local[threadIdx.x] : 0u;
      if (mine != 0) peer_add(&sh.sub_total[threadIdx.x], 0u, mine);
      cluster_sync();
      if (threadIdx.x < 32) sh.hist.bins.total[threadIdx.x] = peer_load(&sh.sub_total[threadIdx.x], 0u);
      __syncthreads();
      u32 sub;
      u64 sub_above;
      find_bin<false>(sh.hist.bins.total, 32, static_cast<u64>(k) - above, sub, sub_above);
      n = sh.hist.bins.total[sub];
      local = sh.sub_local[sub];
      above += sub_above;
      shift = kSubShift;
      target = (bin << 5) | sub;
    }
    if (n > static_cast<u64>(kCandidateCap)) return false;  // the caller's barrier precedes the radix path
    gather_sorted([shift, target](u32 key) { return (key >> shift) == target; }, static_cast<u32>(n),
                  [local] { return local; });
    const u64 c = sh.hist.candidate[static_cast<u64>(k) - above - 1];
    out.key = static_cast<u32>(c >> 32);
    out.index = ~static_cast<u32>(c);
    SJ_MARK(7);
    return true;
  }

  // The first window bin (from the top) at which the running sum of h reaches want, the count of
  // tokens in it and above, and the sum of h above it; bin = kWindow when the window holds less
  // than want.
  __device__ void window_find(const u64* h, u64 want, u32& bin, u64& count_through, u64& h_above) {
    constexpr int kPer = (kWindow + BLOCK - 1) / BLOCK;
    const int first = static_cast<int>(threadIdx.x) * kPer;
    const int last = first + kPer < kWindow ? first + kPer : kWindow;
    u64 s = 0, c = 0;
    for (int b = first; b < last; ++b) {
      s += h[b];
      c += sh.hist.win.count_total[b];
    }
    u64 total_s, total_c, before = s, count_before = c;
    if (threadIdx.x == 0) sh.found_bin = kWindow;
    block_exclusive_scan2<BLOCK>(before, count_before, sh.scratch, total_s, total_c);
    if (s > 0 && before < want && want <= before + s) {
      u64 a = before, n = count_before;
      for (int b = first; b < last; ++b) {
        a += h[b];
        n += sh.hist.win.count_total[b];
        if (want <= a) {
          sh.found_bin = static_cast<u32>(b);
          sh.found_above = n;
          sh.found_mass = a - h[b];
          break;
        }
      }
    }
    __syncthreads();
    bin = sh.found_bin;
    count_through = sh.found_above;
    h_above = sh.found_mass;
    __syncthreads();
  }

  // This CTA's tokens in window bins [first, last].
  __device__ u32 local_window_count(u32 first, u32 last) {
    u64 c = 0;
    for (int b = static_cast<int>(first + threadIdx.x); b <= static_cast<int>(last); b += BLOCK)
      c += sh.hist.win.count[b];
    return static_cast<u32>(block_sum<BLOCK>(c, sh.scratch));
  }

  // C = 1 top-k (kCollect): pass 1 that also collects the candidates, so no gather pass rereads the
  // row. The count of any subset of the row is at most the row's, so the bin holding the k-th
  // largest token seen so far is at or below the bin of the row's k-th. After the first eighth of
  // the row and at its half, the block finds that bin from the counts so far; later tokens in or
  // above it join sh.hist.candidate, and listed ones below it leave (once the list is half full).
  // The first eighth and the unaligned edges are collected by collect_rest once the row's bin is
  // known. Returns false when the list overflowed, or when the first eighth holds fewer than k
  // candidates: the gather pass then runs as usual.
  // count(key, floor) runs for every element of the first eighth and for every hit (a token in or
  // above the bin) after it. Past the first eighth most tokens lie below the bin, and for them
  // only the row's count matters: the max is a hit (the bin is at or below the max's), and they
  // are neither counted in a bin nor listed. So a float compare against the bin's lowest value
  // (chunk_hits) picks the hits, and the rest add to `skipped` (the caller's count) without a key:
  // all kVec of a chunk unless it holds an inf or NaN (chunk_has_inf_or_nan), then one by one.
  // Computing every token's key had made pass 1 issue-bound at about 25 instructions per token.
  static constexpr u32 kNoBin = 0xFFFFFFFFu;
  // Iterations of L2 prefetch ahead in collect_pass and collect_rest (chunks): with the cheap hit
  // test the pass waits on memory at B = 64 (one 512-thread CTA per SM, 2 loads per thread in
  // flight). Measured at B = 64, bf16/fp16 V = 262144: 0.87-0.92x the call's time without it.
  static constexpr int kCollectPrefetch = 2;
  // Whether pass 1 (and collect_rest) picks its hits by a float compare. 16-bit rows, issue-bound on
  // twice the tokens per byte, gained at every batch from 64 (0.63-0.95x), and always do. fp32 rows
  // do unless the batch is one wave of two CTAs per SM (B in (S, 2 S], S = %nsmid, the SM
  // identifiers: 132 or a few more on the H100). There the row that sets the call's time spent
  // 96 us in pass 1 against 74 (V = 128256, B = 256) and the call took 1.02-1.06x (`430202a`);
  // at one CTA per SM the compare took 0.82-0.99x (B = 64-128, `bfdf9d2`), and over several
  // waves, where the mean row counts, 0.93-1.00x at B = 512-4096 (1.01-1.02x for V = 262144 at
  // B = 4096; docs/benchmarks.md). The branch is uniform over the grid. The
  // prefetch serves the key loop of 16-bit rows only, as before. kFloatHits: whether the kernel
  // has the float loop at all. Not for fp32 in 1024-thread blocks nor on sm_80, where both loops in
  // one kernel spilled at 64 registers (up to 68 bytes); those keep the key loop alone, and the
  // machine code they had.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  static constexpr bool kFloatHits = sizeof(Bits) == 2;
#else
  static constexpr bool kFloatHits = sizeof(Bits) == 2 || BLOCK < 1024;
#endif
  __device__ static bool float_hits() {
    if constexpr (sizeof(Bits) == 2) {
      return true;
    } else if constexpr (!kFloatHits) {
      return false;
    } else {
      u32 sms;
      asm("mov.u32 %0, %%nsmid;" : "=r"(sms));
      return gridDim.x <= sms || gridDim.x > 2u * sms;
    }
  }

  template <class Count>
  __device__ bool collect_pass(u32 k, Count count, u32& skipped) {
    constexpr int kShift0 = Dig::shift(0);
    const u32 h = head(), nvec = (static_cast<u32>(V) - h) / kVec, tail = h + nvec * kVec;
    const uint4* src = reinterpret_cast<const uint4*>(g + h);
    const u32 t = threadIdx.x;
    if (t < h + (static_cast<u32>(V) - tail)) count(to_key<D>(g[t < h ? t : tail + (t - h)]), 0u);
    if (t == 0) sh.candidates = 0;
    u32 bin = kNoBin;  // block-uniform: collect tokens in or above it
    bool ok = true;
    u32 from = 0;
    const bool by_value = float_hits();
#pragma unroll 1
    for (int seg = 0; seg < 3; ++seg) {
      const u32 to = seg == 0 ? nvec / 8 : seg == 1 ? nvec / 2 : nvec;
      if (seg > 0 && ok) {
        __syncthreads();  // every count of the segment is in
        if (t == 0) sh.found_bin = kNoBin;  // ordered before find_bin's writer by its barriers
        u64 above;
        find_bin<false>(reinterpret_cast<const u64*>(sh.first_digit), Dig::kMaxBins, k, bin, above);
        ok = bin != kNoBin && sh.candidates <= static_cast<u32>(kCandidateCap);
        if (ok && bin > 0) prune(bin);
        if (!ok) bin = kNoBin;
      }
      const u32 at_least = bin;
      // Past the first eighth only the bins from the k-th token's so far are counted: the row's is
      // at or above it, so the counts find_bin reads (from the top down to the row's bin) stay
      // exact, and most tokens of a row skip the shared atomic (fixed k at B = 64: 0.98-0.99x;
      // elsewhere within 1%). After an overflow (bin = kNoBin) every bin is counted.
      const u32 floor = bin == kNoBin ? 0u : bin;
      if (bin == kNoBin || !by_value) {
        auto chunk = [&](u32 c, const uint4& v) {
#pragma unroll
          for (u32 e = 0; e < kVec; ++e) {
            const u32 key = to_key<D>(lane_of(v, e));
            count(key, floor);
            if (key != 0 && (key >> kShift0) >= at_least) add_candidate(h + (from + c) * kVec + e, key);
          }
        };
        chunks<kPassU, false, sizeof(Bits) == 2 ? kCollectPrefetch : 0>(chunk, src + from, to - from);
      } else {
        const float low = first_digit_low(bin);
        auto chunk = [&](u32 c, const uint4& v) {
          const u32 hits = chunk_hits(v, low);
          if (!chunk_has_inf_or_nan(v)) {
            skipped += kVec - static_cast<u32>(__popc(hits));
          } else {
#pragma unroll
            for (u32 e = 0; e < kVec; ++e)
              if (((hits >> e) & 1u) == 0) skipped += to_key<D>(lane_of(v, e)) != 0;
          }
          if (hits == 0) return;
          u32 slot = atomicAdd(&sh.candidates, static_cast<u32>(__popc(hits)));
          for (u32 m = hits; m != 0; m &= m - 1u, ++slot) {
            const u32 e = static_cast<u32>(__ffs(m) - 1);
            const u32 key = to_key<D>(lane_of(v, e));
            count(key, bin);
            store_candidate(slot, h + (from + c) * kVec + e, key);
          }
        };
        chunks<kPassU, false, kCollectPrefetch>(chunk, src + from, to - from);
      }
      if (seg == 0) SJ_MARK(18);
      if (seg == 1) SJ_MARK(19);
      from = to;
    }
    __syncthreads();
    return ok && sh.candidates <= static_cast<u32>(kCandidateCap);
  }

  // The lowest value whose key has first digit `bin` or more. For a token's value x (as a float,
  // exact for every dtype), x >= first_digit_low(bin) holds exactly when its key is not 0 and its
  // first digit is bin or more: keys order values, -0 compares equal to +0 (its key is +0's),
  // -inf and NaN compare below the lowest finite value, and a bin past +inf's gives a NaN, which
  // nothing reaches. Subnormals compare as themselves because NVRTC runs with -ftz=false.
  __device__ static float first_digit_low(u32 bin) {
    constexpr u32 kLowest = lowest_key<D>();
    const u32 key = bin << Dig::shift(0);
    return key_to_float<D>(key < kLowest ? kLowest : key);
  }

  // Bit e set for each element e of a chunk with value >= low (first_digit_low).
  __device__ static u32 chunk_hits(const uint4& v, float low) {
    u32 hits = 0;
#pragma unroll
    for (u32 e = 0; e < kVec; ++e) hits |= static_cast<u32>(D::to_float(lane_of(v, e)) >= low) << e;
    return hits;
  }

  // Whether any element of a chunk is an inf or a NaN (its exponent bits all set): adding one to a
  // field of all ones carries into the bit above it, the element's sign bit, which was cleared.
  __device__ static bool chunk_has_inf_or_nan(const uint4& v) {
    constexpr u32 kExp = sizeof(Bits) == 4 ? D::kPosInf : D::kPosInf * 0x10001u;
    constexpr u32 kLow = kExp & ~(kExp << 1);  // the lowest bit of each exponent field
    constexpr u32 kSigns = sizeof(Bits) == 4 ? 0x80000000u : 0x80008000u;
    const u32 s = ((v.x & kExp) + kLow) | ((v.y & kExp) + kLow) | ((v.z & kExp) + kLow) | ((v.w & kExp) + kLow);
    return (s & kSigns) != 0;
  }

  // Appends one candidate; past the capacity only the count grows (the caller checks it).
  __device__ void add_candidate(u32 i, u32 key) { store_candidate(atomicAdd(&sh.candidates, 1u), i, key); }

  // Stores a candidate in a slot reserved by adding to sh.candidates (dropped past the capacity).
  // A chunk's hits reserve their slots with one addition: one per hit, each waiting for the last,
  // took 1.15x the call's time at B = 64 with random k (bf16 V = 262144, 97 against 84 us).
  __device__ void store_candidate(u32 slot, u32 i, u32 key) {
    if (slot < static_cast<u32>(kCandidateCap)) sh.hist.candidate[slot] = (static_cast<u64>(key) << 32) | static_cast<u64>(~i);
  }

  // Rebuilds the list from its n entries: each is read into registers, the counter cleared, and
  // act(i, key) called for each; act lists what it keeps again.
  template <class Act>
  __device__ void relist(u32 n, Act act) {
    constexpr int kPer = kCandidateCap / BLOCK;
    u64 c[kPer];
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const u32 j = threadIdx.x + q * BLOCK;
      c[q] = j < n ? sh.hist.candidate[j] : 0ull;
    }
    __syncthreads();
    if (threadIdx.x == 0) sh.candidates = 0;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const u32 key = static_cast<u32>(c[q] >> 32);
      if (key != 0) act(~static_cast<u32>(c[q]), key);
    }
    __syncthreads();
  }

  // Drops listed candidates whose first digit is below bin, once the list is half full (always
  // with `all`). Returns the candidates left.
  __device__ u32 prune(u32 bin, bool all = false) {
    constexpr int kShift0 = Dig::shift(0);
    const u32 n = sh.candidates;  // <= kCandidateCap (checked by the caller)
    if (!all && n <= static_cast<u32>(kCandidateCap) / 2) return n;
    relist(n, [&](u32 i, u32 key) {
      if ((key >> kShift0) >= bin) add_candidate(i, key);
    });
    return sh.candidates;
  }

  // After collect_pass: collects the first eighth and the edges for the row's bin, then drops the
  // listed tokens below that bin, which pass 1 took in under lower thresholds, so that the sort
  // sees what a gather pass would have gathered. Returns the candidates listed (more than
  // kCandidateCap: the list overflowed, nothing was dropped).
  __device__ u32 collect_rest(u32 bin) {
    constexpr int kShift0 = Dig::shift(0);
    const u32 h = head(), nvec = (static_cast<u32>(V) - h) / kVec, tail = h + nvec * kVec;
    const u32 t = threadIdx.x;
    if (t < h + (static_cast<u32>(V) - tail)) {
      const u32 i = t < h ? t : tail + (t - h);
      const u32 key = to_key<D>(g[i]);
      if (key != 0 && (key >> kShift0) >= bin) add_candidate(i, key);
    }
    if (float_hits()) {
      const float low = first_digit_low(bin);
      auto chunk = [&](u32 c, const uint4& v) {
        const u32 hits = chunk_hits(v, low);
        if (hits == 0) return;
        u32 slot = atomicAdd(&sh.candidates, static_cast<u32>(__popc(hits)));
        for (u32 m = hits; m != 0; m &= m - 1u, ++slot) {
          const u32 e = static_cast<u32>(__ffs(m) - 1);
          store_candidate(slot, h + c * kVec + e, to_key<D>(lane_of(v, e)));
        }
      };
      chunks<kPassU, false, kCollectPrefetch>(chunk, reinterpret_cast<const uint4*>(g + h), nvec / 8);
    } else {
      auto chunk = [&](u32 c, const uint4& v) {
#pragma unroll
        for (u32 e = 0; e < kVec; ++e) {
          const u32 key = to_key<D>(lane_of(v, e));
          if (key != 0 && (key >> kShift0) >= bin) add_candidate(h + c * kVec + e, key);
        }
      };
      chunks<kPassU, false>(chunk, reinterpret_cast<const uint4*>(g + h), nvec / 8);
    }
    __syncthreads();
    const u32 n = sh.candidates;
    return n <= static_cast<u32>(kCandidateCap) ? prune(bin, true) : n;
  }

  // Lists one token of a split list (C = 1): the cut's bin from the front, the tokens above it
  // from `top` on. One counter serves both parts: its low half counts the tokens above the bin,
  // its high half those in it (each at most kCandidateCap).
  __device__ void place(u32 i, u32 key, bool in_cut_bin, u32 top) {
    const u32 old = atomicAdd(&sh.candidates, in_cut_bin ? 0x10000u : 1u);
    sh.hist.candidate[in_cut_bin ? old >> 16 : top + (old & 0xFFFFu)] =
        (static_cast<u64>(key) << 32) | static_cast<u64>(~i);
  }

  // C = 1: lists the tokens with in(key), split by in_cut_bin(key) (place). Unsorted.
  template <class In, class InCutBin>
  __device__ void gather_split(In in, InCutBin in_cut_bin, u32 top) {
    if (threadIdx.x == 0) sh.candidates = 0;
    __syncthreads();
    for_each_hit(in, [&](u32 i, u32 key) { place(i, key, in_cut_bin(key), top); });
    __syncthreads();
  }

  // C = 1: splits the n candidates collect_rest listed (every token in or above `bin`) by their
  // first digit (place).
  __device__ void split_listed(u32 n, u32 bin, u32 top) {
    constexpr int kShift0 = Dig::shift(0);
    relist(n, [&](u32 i, u32 key) { place(i, key, (key >> kShift0) == bin, top); });
  }

  // C > 1 top-k alone whose k-th token lies below the key window (a row with fewer than k tokens
  // within 8 octaves of its max: short rows with a negative body, k in the hundreds). One
  // first-digit histogram of the tokens below the window finds the k-th token's bin; only that
  // bin's tokens below the window are gathered and sorted (the window and the bins above are kept
  // whole). That is two passes over the staged slice where the radix select takes one per digit.
  // Returns false (nothing decided) when the bin does not fit on chip. Called after
  // window_histogram, whose totals are still in sh.hist.win, by every CTA of the cluster (the
  // decision comes from the cluster's totals), so its barriers match.
  __device__ bool below_window_cut(u32 max_key, u32 k, Cut& out) {
    constexpr int kShift0 = Dig::shift(0);
    // The window's total goes first: the first-digit counts overwrite the union.
    u64 window_total = 0;
    for (int b = threadIdx.x; b < kWindow; b += BLOCK) window_total += sh.hist.win.count_total[b];
    window_total = block_sum<BLOCK>(window_total, sh.scratch);
    u32* counts = reinterpret_cast<u32*>(sh.hist.bins.local);
    for (int b = threadIdx.x; b < Dig::kMaxBins; b += BLOCK) counts[b] = 0;
    __syncthreads();
    auto below = [max_key](u32 key) { return window_bin(max_key, key) >= static_cast<u32>(kWindow); };
    // Most tokens are below the window: for_each_hit's loop over a chunk's hits would cost more.
    for_each([&](u32, u32 key) {
      if (key != 0 && below(key)) atomicAdd(&counts[key >> kShift0], 1u);
    });
    // Its first cluster barrier also ends every peer's reads of the window totals it overwrites.
    const u64* hist = reduce_bins<false>(Dig::kMaxBins);
    u32 bin;
    u64 above;
    find_bin<false>(hist, Dig::kMaxBins, static_cast<u64>(k) - window_total, bin, above);
    const u64 n = bin_value<false>(hist, static_cast<int>(bin));
    if (n > static_cast<u64>(kCandidateCap)) return false;
    // This CTA's share is read only where gather_sorted asks for it, before the exchange that lets
    // peers push candidates over the counts (a quick gather never asks, and pushes at once).
    gather_sorted([below, bin](u32 key) { return (key >> kShift0) == bin && below(key); }, static_cast<u32>(n),
                  [counts, bin] { return counts[bin]; });
    const u64 c = sh.hist.candidate[static_cast<u64>(k) - window_total - above - 1];
    out.key = static_cast<u32>(c >> 32);
    out.index = ~static_cast<u32>(c);
    return true;
  }

  // The sampler's pass 1 over 16-bit rows (C = 1), two tokens per 32-bit word: a chunk whose eight
  // values hold no -0, infinity or NaN (tested for the chunk at once) has every key nonzero and
  // equal to its bits with the sign bit flipped, or all bits flipped when negative, which one
  // mask per word gives both halves; the count is then 8, and only the histogram's atomic stays
  // per token. Other chunks, and the row's edges, take count() per token as before
  // (tools/probe/pair_keys_check.cpp checks the test and the keys for every word). Same-call A/B:
  // 0.91-0.97x of the per-token pass on these rows at both temperatures (docs/benchmarks.md, "The
  // sampler's pass 1, two 16-bit tokens at a time"). Truncation's pass 1 (top-p alone, and top-k
  // where it does not collect) keeps the per-token form: not measured with it.
  static constexpr bool kPairedPass1 = C == 1 && sizeof(Bits) == 2 && kVector;
  template <class Count>
  __device__ void pass1_pairs(bool k_on, u32* counts, Count& count, u32& count_here, u32& max_key) const {
    constexpr int kShift0 = Dig::shift(0);
    constexpr u32 kExp2 = D::kPosInf * 0x00010001u;                        // each half's exponent
    constexpr u32 kExpLow2 = (D::kPosInf & (0u - D::kPosInf)) * 0x00010001u;  // its lowest bit
    constexpr u32 kSign2 = 0x80008000u;
    u32 top = 0;
    traverse<kPassU, false>(
        [&](u32, Bits b) {
          count(to_key<D>(b), 0u);
          return b;
        },
        [&](u32, const uint4& v, bool) {
          const u32 w[4] = {v.x, v.y, v.z, v.w};
          u32 odd = 0;
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            // A half whose exponent is all ones carries into its sign bit; a half that is -0
            // leaves a zero half in w ^ kSign2, which the borrow test finds.
            const u32 z = w[i] ^ kSign2;
            odd |= ((w[i] & kExp2) + kExpLow2) | ((z - 0x00010001u) & ~z);
          }
          if ((odd & kSign2) == 0) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const u32 s = w[i] & kSign2;
              const u32 k = w[i] ^ ((s - (s >> 15)) | kSign2);
              const u32 lo = k & 0xFFFFu, hi = k >> 16;
              top = max(top, max(lo, hi));
              if (k_on) {
                atomicAdd(&counts[lo >> kShift0], 1u);
                atomicAdd(&counts[hi >> kShift0], 1u);
              }
            }
            count_here += 8;
          } else {
#pragma unroll
            for (u32 e = 0; e < kVec; ++e) count(to_key<D>(lane_of(v, e)), 0u);
          }
        });
    max_key = max(max_key, top);
  }

  // C > 1: every path ends with a cluster barrier after its last access to a peer's shared memory
  // (pulls are always followed by one), so a CTA may exit without another.
  // Pass 1 (candidate count and max; with C > 1 it also stages the slice), then top-k and top-p.
  // Sets max_is_inf and xmax (but for C > 1 top-k alone). Top-k first tries a histogram of few bins
  // near the top (the fused first digit with C = 1 and for C > 1 top-k alone, else the key window)
  // and sorts the tokens down to the k-th's bin on chip; top-p alone tries the mass window and sorts
  // the one bin holding the cut (with C = 1, every bin down to it when they hold few tokens, so that
  // the kept set is listed). When the cut lies deeper or too many tokens share its bin, an MSD radix
  // select over the whole row finds it. Top-k alone sorts only the k-th token's bin: the bins above
  // it are kept whole. STATS (the sampler) also sums the row's mass.
  template <bool STATS>
  __device__ Cut compute_cut(bool k_on, int k, bool p_on, float p) {
    constexpr bool stats = STATS;
    auto want_p = [p](u64 total) {
      double t = ceil(static_cast<double>(p) * static_cast<double>(total));
      if (!(t >= 1.0)) t = 1.0;  // p <= 0 still keeps the top token
      if (t > static_cast<double>(total)) t = static_cast<double>(total);
      return static_cast<u64>(t);
    };

    Cut out;
    out.key = 0;  // key 0: keep every candidate
    out.index = kAllTies;
    out.count = 0;
    out.max_key = 0;
    out.listed = 0;
    if (!(k_on || p_on || stats)) {
      stage();
      return out;
    }
    // C = 1 reads the row from memory on every pass, so pass 1 also builds the first-digit
    // histogram top-k starts from. Staged slices (C > 1) use the key window instead, except for
    // top-k alone in truncation (staged_digit, below).
    constexpr int kShift0 = Dig::shift(0);
    constexpr bool kFusedDigit = C == 1;
    // C > 1 top-k alone in truncation: pass 1 builds the first-digit histogram too, and its cluster
    // totals give both the row's count and the k-th token's bin, whose tokens alone are then
    // gathered and sorted (the bins above are kept whole). That spares the count-and-max exchange
    // and the key window's pass and barrier, and it cannot miss as the window does: with a negative
    // body (short rows, k in the hundreds) the k-th token often lies below the window's 8 octaves,
    // where a second histogram pass had to find it. xmax, max_is_inf and out.max_key are not set
    // (top-k alone weighs no token). The sampler (STATS) keeps the window. The path is spelled
    // `kMayStage && staged_digit` and its calls sit under `if constexpr`, so the instantiations
    // without it (the sampler, C = 1) compile to the machine code they had before it.
    // On long bf16 and fp32 rows only small k take it: their first-digit bins span a quarter
    // octave, so a long row's body falls into a few of them (pass 1's atomics then contend) and
    // where its k-th token lies deep (k in the hundreds) the bin holds about a thousand tokens to
    // split again. There random k in [1, 1024] measured up to 1.09x the window's time at B = 4-24
    // (with the sub-bins), fixed k = 50 0.90-0.95x; short rows (128 KB or less) and fp16
    // (1/32-octave bins) gain with any k (random k at B = 4-24: 0.60-0.72x and 0.88-0.93x;
    // same-call A/Bs in docs/benchmarks.md).
    constexpr bool kMayStage = C > 1 && !STATS;
    constexpr bool kStagedAnyK = DT == kF16 || static_cast<long long>(V) * sizeof(Bits) <= 128ll * 1024;
    const bool staged_digit = kMayStage && k_on && !p_on && (kStagedAnyK || k <= kStagedDigitMaxK);
    u32* counts = kCollect ? sh.first_digit : reinterpret_cast<u32*>(sh.hist.bins.local);
    if (C > 1) {
      // The wait is before the first exchange (or the digit totals' additions), after pass 1.
      if (kMayStage && staged_digit) {
        if constexpr (kMayStage) {
          clear_digit_totals();
          cluster_arrive_release();
        }
      } else {
        clear_for_peers();
        cluster_arrive_relaxed();
      }
    }
    if (kFusedDigit ? k_on : kMayStage && staged_digit) {
      for (int b = threadIdx.x; b < Dig::kMaxBins; b += BLOCK) counts[b] = 0;
      __syncthreads();
    }
    u32 count_here = 0, max_key = 0;
    // floor: first-digit bins below it are not counted (collect_pass, below).
    auto count = [&](u32 key, u32 floor) {
      count_here += key != 0;
      max_key = max(max_key, key);
      if (kFusedDigit && k_on && key != 0 && (key >> kShift0) >= floor) atomicAdd(&counts[key >> kShift0], 1u);
    };
    // The sampler keeps the gather pass: it also sums the row's mass, which needs the max.
    // Fixed k = 50, 128, 256 measured 0.74-0.83x the gather pass's time at V >= 128256 (same-run
    // A/B, docs/bench/ab-collect). k up to 1024: random k in [1, 1024] 0.85-0.88x at B >= 256 and
    // 0.92-0.96x at B = 64 (down to 0.76x), every other cell within 1% (docs/bench/collect1024-ab).
    // A first version that took k up to 1024 without the final pruning was slower: rows whose list
    // overflows still fall back to the gather pass, and the split sort now sorts one bin.
    constexpr int kCollectMaxK = kCandidateCap / 4;
    const bool collect = kCollect && k_on && !stats && k <= kCollectMaxK;
    bool collected = false;
    if (collect) {
      // Tokens past the first eighth below the bin: only their count is needed. Kernels without
      // the float loop (kFloatHits) never skip; they pass the row's count itself, which would be
      // as correct, because a counter of their own changed their machine code, which is kept as
      // it was (every .text section compared).
      if constexpr (kFloatHits) {
        u32 skipped = 0;
        collected = collect_pass(static_cast<u32>(k), count, skipped);
        count_here += skipped;
      } else {
        collected = collect_pass(static_cast<u32>(k), count, count_here);
      }
    } else if (kMayStage && staged_digit) {
      // A loop of its own, so that the other modes' staging pass keeps its code: with the atomic
      // behind a branch in the shared loop, top-p alone took 1.015x at B = 1 by geometric mean
      // (1.006x so; same-call A/B against the window-only kernels). Neither the count nor the max
      // is needed: the digit totals give the count.
      if constexpr (kMayStage)
        for_each<true>([counts](u32, u32 key) {
          if (key != 0) atomicAdd(&counts[key >> kShift0], 1u);
        });
    } else if constexpr (kPairedPass1 && STATS) {
      pass1_pairs(k_on, counts, count, count_here, max_key);
    } else {
      for_each<C != 1>([&](u32, u32 key) { count(key, 0u); });
    }
    SJ_MARK(1);
    u64 cand = count_here;
    u32 digit_bin = 0;
    u64 digit_above = 0;
    if (kMayStage && staged_digit) {
      if constexpr (kMayStage) cand = digit_totals(static_cast<u64>(k), digit_bin, digit_above);
    } else {
      block_sum_max<BLOCK>(cand, max_key, sh.scratch);
      SJ_MARK(16);
      if (C > 1) {
        cluster_wait();
        exchange(cand, max_key);
        cand = 0;
        for (int r = 0; r < C; ++r) {
          cand += got(0, r);
          max_key = max(max_key, static_cast<u32>(got(1, r)));
        }
      }
    }
    SJ_MARK(2);
    const u32 row_count = static_cast<u32>(cand);
    out.count = row_count;
    if (!(kMayStage && staged_digit)) {
      out.max_key = max_key;
      max_is_inf = max_key == to_key<D>(D::kPosInf);
      xmax = key_to_float<D>(max_key);
    }
    const bool k_cuts = k_on && static_cast<u32>(k) < row_count;

    bool done = false;
    bool below_window = false;  // C > 1: the window holds fewer than k tokens
    if (kMayStage && staged_digit) {
      if constexpr (kMayStage) done = staged_digit_cut(static_cast<u32>(k), k_cuts, digit_bin, digit_above, out);
    } else if (kFusedDigit && k_cuts) {
      // Candidates: every token in or above the first-digit bin holding the k-th.
      const u64* hist = kCollect ? reinterpret_cast<const u64*>(counts) : reduce_bins<false>(Dig::kMaxBins);
      u32 bin;
      u64 above;
      find_bin<false>(hist, Dig::kMaxBins, static_cast<u64>(k), bin, above);
      SJ_MARK(4);
      if (above + bin_value<false>(hist, static_cast<int>(bin)) <= static_cast<u64>(kCandidateCap)) {
        u64 local = 0;
        for (int b = static_cast<int>(bin) + static_cast<int>(threadIdx.x); b < Dig::kMaxBins; b += BLOCK)
          local += counts[b];
        local = block_sum<BLOCK>(local, sh.scratch);
        const u32 n = static_cast<u32>(local);
        // Pass 1 collected all but its first eighth; otherwise a gather pass rereads the row. With
        // stats (the sampler) it also sums every token's mass, now that the max is known, so that
        // the final pass need only visit the listed kept tokens.
        const u32 listed = collected ? collect_rest(bin) : 0u;
        // Top-k alone needs only the rank of the k-th token inside its bin: the tokens above the
        // bin are all kept, in any order. The bin goes to the front of the list, where it alone is
        // sorted, and the tokens above it to the end; they are then moved up behind the cut. Not
        // in the sampler, whose one-CTA kernels already spill at their register limit.
        const u32 in_bin = n - static_cast<u32>(above);
        const u32 top = static_cast<u32>(kCandidateCap) - static_cast<u32>(above);
        const bool split = !stats && !p_on && sort_span(in_bin) <= top;
        if (collected && listed <= static_cast<u32>(kCandidateCap)) {
          if (split)
            split_listed(listed, bin, top);
          else
            sort_candidates(listed);
        } else {
          auto in = [bin](u32 key) { return (key >> kShift0) >= bin; };
          if (split)
            gather_split(in, [bin](u32 key) { return (key >> kShift0) == bin; }, top);
          else if constexpr (C == 1 && kVector && (STATS || sizeof(Bits) == 2))
            gather_by_value<STATS>(bin, n);
          else if (stats)
            gather_sorted(
                [this, in](u32 key) {
                  mass_seen += mass(key);
                  return in(key);
                },
                n, [n] { return n; });
          else
            gather_sorted(in, n, [n] { return n; });
        }
        u32 pos;
        if (split) {
          sort_candidates(in_bin);
          pos = static_cast<u32>(k) - static_cast<u32>(above) - 1;
        } else {
          pos = p_on ? mass_prefix_position(static_cast<u32>(k), want_p) : static_cast<u32>(k) - 1;
        }
        const u64 c = sh.hist.candidate[pos];
        out.key = static_cast<u32>(c >> 32);
        out.index = ~static_cast<u32>(c);
        out.listed = pos + 1;
        if (split) {
          move_down(top, pos + 1, static_cast<u32>(above));
          out.listed += static_cast<u32>(above);
        }
        done = true;
        SJ_MARK(7);
      }
      __syncthreads();
    } else if (k_cuts) {
      // Window: top-k is the first k sorted candidates, top-p a mass prefix of those.
      window_histogram<false>(max_key);
      SJ_MARK(3);
      u32 bin;
      u64 through, above;
      window_find(sh.hist.win.count_total, static_cast<u64>(k), bin, through, above);
      SJ_MARK(4);
      // Top-k alone gathers and sorts only the k-th token's bin; with top-p the mass prefix needs
      // every kept candidate in rank order. (One gather for both: a second inlined copy of it
      // measured up to 1.1x slower at B = 1 on the k-and-p path.)
      const u32 first = p_on ? 0u : bin;
      const u64 gathered = p_on ? through : through - above;
      if (bin < static_cast<u32>(kWindow) && gathered <= static_cast<u64>(kCandidateCap)) {
        const u32 mk = max_key;
        SJ_MARK(17);
        gather_sorted([mk, first, bin](u32 key) { return window_bin(mk, key) - first <= bin - first; },
                      static_cast<u32>(gathered), [this, first, bin] { return local_window_count(first, bin); });
        const u32 pos = p_on ? mass_prefix_position(static_cast<u32>(k), want_p)
                             : static_cast<u32>(k) - static_cast<u32>(above) - 1;
        const u64 c = sh.hist.candidate[pos];
        out.key = static_cast<u32>(c >> 32);
        out.index = ~static_cast<u32>(c);
        done = true;
        SJ_MARK(7);
      } else {
        below_window = bin >= static_cast<u32>(kWindow);
      }
      __syncthreads();
    } else if (p_on && row_count > 0 && !max_is_inf) {
      // Mass window: top-p alone is reached inside the bin found here. Only that bin's tokens are
      // sorted; the mass of the bins above it is known from the histogram.
      const u64 below = window_histogram<true, !STATS>(max_key);
      SJ_MARK(3);
      u64 window_mass = 0;
      for (int b = threadIdx.x; b < kWindow; b += BLOCK) window_mass += sh.hist.win.mass_total[b];
      window_mass = block_sum<BLOCK>(window_mass, sh.scratch);
      const u64 want = want_p(window_mass + below);
      u32 bin;
      u64 through, mass_above;
      window_find(sh.hist.win.mass_total, want, bin, through, mass_above);
      SJ_MARK(4);
      const u64 in_bin = bin < static_cast<u32>(kWindow) ? sh.hist.win.count_total[bin] : 0ull;
      const u32 n_above = static_cast<u32>(through - in_bin);  // tokens in the bins above the cut's
      if (kListTopP && !stats && bin < static_cast<u32>(kWindow) &&
          sort_span(static_cast<u32>(in_bin)) + n_above <= static_cast<u32>(kCandidateCap)) {
        // The kept set fits on chip: the cut's bin goes to the front of the list, where it alone
        // is sorted, and the bins above it (all kept, their mass known) to the end, unsorted; they
        // are then moved up behind the last kept token of the bin. The final pass only writes:
        // three reads of the row instead of four, for the same sort. (Sorting every listed token
        // measured up to 1.4x slower at B = 64-256, where the longest row's sort is not hidden
        // behind other rows' reads.) Not in the sampler, whose final pass also sums the row's
        // mass and draws: there the added code measured up to 1.095x at B <= 4 (same-run A/B).
        const u64 rest = want - mass_above;  // in [1, the bin's mass]
        const u32 top = static_cast<u32>(kCandidateCap) - n_above;
        if (threadIdx.x == 0) sh.candidates = 0;
        __syncthreads();
        if constexpr (kListByValue) {
          for_each_at_least<false>(mass_bin_low(max_key, bin), 0.0f, [&](u32 i, u32 key) {
            const u32 b = mass_bin_of(key);  // <= bin, by the edge
            place(i, key, b == bin, top);
          });
        } else {
          for_each([&](u32 i, u32 key) {
            if (key == 0) return;
            const u32 b = mass_bin_of(key);
            if (b <= bin) place(i, key, b == bin, top);
          });
        }
        __syncthreads();
        sort_candidates(static_cast<u32>(in_bin));
        const u32 pos = mass_prefix_position(static_cast<u32>(in_bin), [rest](u64) { return rest; });
        const u64 c = sh.hist.candidate[pos];
        out.key = static_cast<u32>(c >> 32);
        out.index = ~static_cast<u32>(c);
        out.listed = pos + 1 + n_above;
        move_down(top, pos + 1, n_above);
        done = true;
        SJ_MARK(7);
      } else if (bin < static_cast<u32>(kWindow) && in_bin <= static_cast<u64>(kCandidateCap)) {
        // This CTA's share is read before the candidates overwrite the local histogram (C = 1), and
        // only when no peer can be pushing candidates yet (C > 1, see gather_sorted).
        auto local_in_bin = [this, bin] {
          const u32 c = sh.hist.win.count[bin];
          __syncthreads();
          return c;
        };
        u32 n;
        if constexpr (C == 1 && kVector && !STATS) {
          // The bin's tokens lie between its lowest value and the lowest of the bin above.
          const float low = mass_bin_low(max_key, bin);
          const float hi = bin == 0 ? __int_as_float(0x7FC00000) : mass_bin_low(max_key, bin - 1);
          if (threadIdx.x == 0) sh.candidates = 0;
          __syncthreads();
          for_each_at_least<true>(low, hi, [&](u32 i, u32 key) { add_candidate(i, key); });
          __syncthreads();
          n = static_cast<u32>(in_bin);
          sort_candidates(n);
        } else {
          n = gather_sorted([this, bin](u32 key) { return mass_bin_of(key) == bin; }, static_cast<u32>(in_bin),
                            local_in_bin);
        }
        const u64 rest = want - mass_above;  // in [1, the bin's mass]
        const u32 pos = mass_prefix_position(n, [rest](u64) { return rest; });
        const u64 c = sh.hist.candidate[pos];
        out.key = static_cast<u32>(c >> 32);
        out.index = ~static_cast<u32>(c);
        done = true;
        SJ_MARK(7);
      }
      __syncthreads();
    }
    // Top-k alone only: sorting every token down to the k-th, as top-p's mass prefix needs,
    // measured 1.3-2x slower than the radix path for k = 750-1000 (a bitonic sort of up to 2048
    // entries in every CTA of the cluster). Not in the sampler: its code unchanged, since the added
    // code measured up to 1.04x on its cluster rows that never take it. Called here rather than in
    // the window branch, where it moved the k-and-p kernels' hot code (up to 1.08x at B = 1).
    if (below_window && !p_on && !stats) done = below_window_cut(max_key, static_cast<u32>(k), out);
    // C > 1: peers may still be reading this CTA's window totals, which the radix path overwrites.
    if (C > 1 && !done && (k_cuts || p_on)) cluster_sync();
    if (!done && k_cuts) {
      auto all = [](u32, u32) { return true; };
      auto want_k = [k](u64) { return static_cast<u64>(k); };
      const Selected s = select<false>(all, want_k);
      out.key = s.key;
      const u32 need = static_cast<u32>(s.remaining);
      out.index = need >= s.at_key ? kAllTies : nth_with_key(s.key, need);
    }
    if (!done && p_on && row_count > 0) {
      const u32 k_key = out.key, k_index = out.index;
      auto survivor = [k_key, k_index](u32 i, u32 key) { return key > k_key || (key == k_key && i <= k_index); };
      const Selected s = select<true>(survivor, want_p);
      const u64 unit = mass(s.key);  // every token at this key carries the same mass
      const u64 ties_needed = (s.remaining + unit - 1) / unit;
      const u64 ties_present = s.at_key / unit;
      out.key = s.key;
      if (ties_needed >= ties_present)
        out.index = s.key == k_key ? k_index : kAllTies;
      else
        out.index = nth_with_key(s.key, static_cast<u32>(ties_needed));
    }
    SJ_MARK(8);
    return out;
  }

  // Writes one element's mask entry; every lane of the block calls it for the same u.
  template <int MASK>
  __device__ void write_mask(void* mask_out, long long row, u32 i, bool in, bool keep) const {
    if (MASK == kMaskBool) {
      if (in) static_cast<unsigned char*>(mask_out)[row * V + i] = keep ? 1 : 0;
    } else if (MASK == kMaskBits) {
      const int lane = threadIdx.x & 31;
      const u32 word = __ballot_sync(0xFFFFFFFFu, in && keep);
      const u32 first = i - static_cast<u32>(lane);
      if (lane == 0 && in) {
        constexpr long long kWords = (static_cast<long long>(V) + 31) / 32;
        static_cast<u32*>(mask_out)[row * kWords + first / 32] = word;
      }
    }
  }
};

// Shared memory of a kernel: static for C = 1; dynamic (with the staged slice after it) for C > 1.
template <class R, int C>
struct SharedFor {
  __device__ static typename R::Smem& get() {
    __shared__ typename R::Smem sh;
    return sh;
  }
  __device__ static typename R::Bits* slice() { return nullptr; }
};

template <class R, int C>
struct DynamicShared {
  __device__ static unsigned char* base() {
    extern __shared__ __align__(16) unsigned char sj_dynamic_smem[];
    return sj_dynamic_smem;
  }
  __device__ static typename R::Smem& get() { return *reinterpret_cast<typename R::Smem*>(base()); }
  __device__ static typename R::Bits* slice() { return reinterpret_cast<typename R::Bits*>(base() + kSharedHeader); }
};

template <class R>
struct SharedFor<R, 2> : DynamicShared<R, 2> {};
template <class R>
struct SharedFor<R, 4> : DynamicShared<R, 4> {};
template <class R>
struct SharedFor<R, 8> : DynamicShared<R, 8> {};
template <class R>
struct SharedFor<R, 16> : DynamicShared<R, 16> {};

// This CTA's row and rank: C consecutive CTAs (one cluster) share a row.
template <int C>
__device__ __forceinline__ void row_and_rank(int& row, u32& rank) {
  row = static_cast<int>(blockIdx.x / C);
  rank = blockIdx.x % C;
}

}  // namespace sj

// Exact top-k -> top-p truncation of logits in place (docs/semantics.md); follows select.cuh.

namespace sj {

template <int DT, int V, int BLOCK, int C, int MASK>
__global__ void __launch_bounds__(BLOCK, min_blocks(BLOCK, C))
    truncate_kernel(void* logits, long long row_stride, int batch, const int* top_k, const float* top_p,
                    void* mask_out) {
  typedef Row<DT, V, BLOCK, C, min_blocks(BLOCK, C)> R;
  typedef typename R::D D;
  typedef typename R::Bits Bits;
  typedef SharedFor<R, C> S;
  static_assert(C == 1 || sizeof(typename R::Smem) <= kSharedHeader, "shared header");

  int row;
  u32 rank;
  row_and_rank<C>(row, rank);
  if (row >= batch) return;  // whole clusters share a row, so they leave together
  SJ_MARK(0);
  R r(static_cast<Bits*>(logits) + static_cast<long long>(row) * row_stride, S::slice(), rank, S::get(), 1.0f);

  const int k = top_k ? top_k[row] : 0;
  const float p = top_p ? top_p[row] : 1.0f;
  const bool k_on = k > 0 && k < V;
  const bool p_on = p < 1.0f;  // false for NaN

  const typename R::Cut cut = r.template compute_cut<false>(k_on, k, p_on, p);

  // Final pass: write -inf over dropped tokens (only where needed) and emit the mask. C = 1 knows
  // the kept tokens when the cut came from the sorted candidates, and then only writes. Otherwise,
  // without a mask, 16-byte chunks are streamed (C > 1: from the staged keys, write_slice); the
  // mask layouts want the scalar, lane-per-token order.
  if (C == 1 && cut.listed > 0) {
    r.template write_listed<MASK>(cut.listed, true, mask_out, row);
  } else if constexpr (R::kStagedKeys && MASK == kMaskNone) {
    r.write_slice([&](u32 i, u32 key) { return !cut.keeps(i, key); });
  } else if constexpr (R::kVector && MASK == kMaskNone) {
    const float v = cut.value();
    r.stream([&](u32 i, Bits b) { return cut.keeps_value(i, D::to_float(b), v) ? b : static_cast<Bits>(D::kNegInf); });
  } else {
#pragma unroll 1
    for (u32 base = 0; base < R::kSlice; base += R::kTile) {
      Bits v[R::U];
      r.load_tile(base, v);
#pragma unroll
      for (int u = 0; u < R::U; ++u) {
        const u32 j = base + u * BLOCK + threadIdx.x;
        const u32 i = r.lo + j;
        const bool in = j < r.count();
        const bool keep = cut.keeps(i, R::key_of(v[u]));
        // Staged keys cannot tell -inf from NaN (both 0), so C > 1 writes -inf over both.
        if (in && !keep && (R::kStagedKeys || v[u] != static_cast<Bits>(D::kNegInf)))
          r.g[i] = static_cast<Bits>(D::kNegInf);
        r.template write_mask<MASK>(mask_out, row, i, in, keep);
      }
    }
  }
  SJ_MARK(9);
  // No closing cluster barrier: compute_cut ends with one after the last access to a peer.
}

}  // namespace sj

#if !defined(SJ_PROGRAM) || SJ_PROGRAM == 0
template __global__ void sj::truncate_kernel<sj::kBF16, 151936, 512, 16, sj::kMaskBits>(void*, long long, int, const int*, const float*, void*);
#endif
#if !defined(SJ_PROGRAM) || SJ_PROGRAM == 1
template __global__ void sj::truncate_kernel<sj::kBF16, 151936, 512, 8, sj::kMaskBits>(void*, long long, int, const int*, const float*, void*);
#endif
#if !defined(SJ_PROGRAM) || SJ_PROGRAM == 2
template __global__ void sj::truncate_kernel<sj::kBF16, 151936, 512, 4, sj::kMaskBits>(void*, long long, int, const int*, const float*, void*);
#endif
#if !defined(SJ_PROGRAM) || SJ_PROGRAM == 3
template __global__ void sj::truncate_kernel<sj::kBF16, 151936, 512, 2, sj::kMaskBits>(void*, long long, int, const int*, const float*, void*);
#endif
#if !defined(SJ_PROGRAM) || SJ_PROGRAM == 4
template __global__ void sj::truncate_kernel<sj::kBF16, 151936, 512, 1, sj::kMaskBits>(void*, long long, int, const int*, const float*, void*);
#endif
