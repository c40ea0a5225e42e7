// The fused decode-step sampler (docs/semantics.md, "Sampling"); follows select.cuh.
// temperature -> top-k -> top-p -> min-p -> Gumbel-max sample, one CTA per row. The token, the
// mask, logZ and the logprobs all describe one kept set, and depend only on the row's own logits,
// parameters, seed and offset.

namespace sj {

// Mirrored field for field by the host (src/sample_params.hpp). Null pointers mean default/off
// for inputs and "not wanted" for outputs.
struct SampleParams {
  void* logits;
  const int* top_k;
  const float* top_p;
  const float* min_p;
  const float* temperature;
  const unsigned long long* seed;
  const unsigned long long* offset;
  void* mask;
  int* token32;
  long long* token64;
  float* logprob;      // sampled token, renormalized over the kept set
  float* raw_logprob;  // sampled token, under the full post-temperature distribution
  float* logz;         // log of the kept mass under the full post-temperature distribution
  int* kept_count;
  unsigned char* valid;
  int* kept_ids;  // [batch, kept_ids_capacity]: the first kept token ids, ascending
  long long row_stride;
  int batch;
  int write_logits;  // nonzero: dropped tokens become -inf in place
  int kept_ids_capacity;
};

// Philox4x32-10 (Salmon et al., SC'11).
__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k.x += 0x9E3779B9u;
      k.y += 0xBB67AE85u;
    }
    const u32 lo0 = 0xD2511F53u * c.x, hi0 = __umulhi(0xD2511F53u, c.x);
    const u32 lo1 = 0xCD9E8D57u * c.z, hi1 = __umulhi(0xCD9E8D57u, c.z);
    c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// An exponential variate for token i: keyed by the seed, counted by (i, offset).
__device__ __forceinline__ float exponential_noise(u64 seed, u64 offset, u32 i) {
  const uint4 c = make_uint4(i, 0u, static_cast<u32>(offset), static_cast<u32>(offset >> 32));
  uint2 k = make_uint2(static_cast<u32>(seed), static_cast<u32>(seed >> 32));
  // Opaque to the optimizer, so the key schedule is recomputed per draw (18 additions) rather
  // than hoisted out of the final pass's loop, where its 18 live registers made the one-CTA
  // kernels spill at 64 registers.
  asm volatile("" : "+r"(k.x), "+r"(k.y));
  const u32 w = philox4x32_10(c, k).x;
  // u in (0, 1) on a 2^-24 grid. Formed in float64: in fp32, (2^24 - 1) + 0.5 rounds to 2^24,
  // which would make u = 1 and the variate 0 (an infinite score) once in 2^24 draws.
  const double u = (static_cast<double>(w >> 8) + 0.5) * 5.9604644775390625e-8;
  return static_cast<float>(-log(u));
}

// Higher score wins; equal scores go to the lower index.
__device__ __forceinline__ bool beats(float s, u32 i, float best_s, u32 best_i) {
  return s > best_s || (s == best_s && i < best_i);
}

// Orders (score, index) pairs as beats() does, so the winner is the largest packed value: an
// order-preserving key of the score (-0 folded onto +0) above the complemented index.
__device__ __forceinline__ u64 pack_score(float s, u32 i) {
  const u32 b = __float_as_uint(s == 0.0f ? 0.0f : s);
  const u32 key = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return (static_cast<u64>(key) << 32) | static_cast<u64>(~i);
}

template <int DT, int V, int BLOCK, int C, int MASK>
__global__ void __launch_bounds__(BLOCK, min_blocks(BLOCK, C)) sample_kernel(const SampleParams a) {
  typedef Row<DT, V, BLOCK, C, min_blocks(BLOCK, C)> R;
  typedef typename R::D D;
  typedef typename R::Bits Bits;
  typedef SharedFor<R, C> S;
  static_assert(C == 1 || sizeof(typename R::Smem) <= kSharedHeader, "shared header");

  int row;
  u32 rank;
  row_and_rank<C>(row, rank);
  if (row >= a.batch) return;  // whole clusters share a row, so they leave together
  const float t = a.temperature ? a.temperature[row] : 1.0f;
  const bool greedy = !(t > 0.0f);  // also NaN
  R r(static_cast<Bits*>(a.logits) + static_cast<long long>(row) * a.row_stride, S::slice(), rank, S::get(),
      greedy ? 1.0f : t);
  typename R::Smem& sh = r.sh;

  const int k = a.top_k ? a.top_k[row] : 0;
  const float p = a.top_p ? a.top_p[row] : 1.0f;
  const float min_p = a.min_p ? a.min_p[row] : 0.0f;
  const u64 seed = a.seed ? a.seed[row] : 0ull;
  const u64 offset = a.offset ? a.offset[row] : 0ull;
  const bool min_p_on = !greedy && min_p > 0.0f;  // false for NaN
  // Greedy, and min-p above 1, keep exactly the rank-0 token: top-1.
  const bool top1 = greedy || (min_p_on && min_p > 1.0f);
  const bool k_on = top1 ? V > 1 : (k > 0 && k < V);
  const bool p_on = !top1 && p < 1.0f;

  const typename R::Cut cut = r.template compute_cut<true>(k_on, top1 ? 1 : k, p_on, p);
  // The final keep decision: the cut, then min-p on the post-temperature weight.
  auto keeps = [&](u32 i, u32 key, float w) { return cut.keeps(i, key) && !(min_p_on && !(w >= min_p)); };

  // Final pass: min-p, the sums behind logZ and the logprobs, the Gumbel-max draw, the mask and
  // the in-place write, all in one read of the row (of the staged slice, with C > 1). Every sum is
  // an integer and the draw a maximum, so the order of visits does not matter.
  // At most 4 scalar loads: 8 (fp32 one-CTA rows) spilled twice the bytes for the same speed.
  constexpr int kU = R::kSharedU > 4 ? 4 : R::kSharedU;
  constexpr u32 kStep = static_cast<u32>(BLOCK) * kU;
  u64 mass_all = 0, mass_kept = 0, best = 0;
  u32 kept = 0;
  auto take = [&](u32 i, u32 key, u64 q) {  // a kept token
    mass_kept += q;
    ++kept;
    const float z = r.max_is_inf ? (key == to_key<D>(D::kPosInf) ? 0.0f : -__int_as_float(0x7F800000))
                                 : (key_to_float<D>(key) - r.xmax) / r.temperature;
    const float s = z - logf(exponential_noise(seed, offset, i));
    const u64 packed = pack_score(s, i);
    if (packed > best) best = packed;
  };
  auto visit = [&](u32 i, u32 key) {  // a candidate (key != 0); returns whether it is kept
    const float w = r.weight(key);
    const bool keep = keeps(i, key, w);
    const u64 q = r.mass_of_weight(w);
    mass_all += q;
    if (keep) take(i, key, q);
    return keep;
  };
  if (C == 1 && cut.listed > 0) {
    // The cut came from the sorted candidates, whose gather pass summed the row's mass: only the
    // listed tokens are visited, and the row is not read again (write_listed). A token min-p
    // drops gets key 0 in the list.
    mass_all = r.mass_seen;
    for (u32 j = threadIdx.x; j < cut.listed; j += BLOCK) {
      const u64 c = sh.hist.candidate[j];
      const u32 key = static_cast<u32>(c >> 32), i = ~static_cast<u32>(c);
      const float w = r.weight(key);
      if (keeps(i, key, w))
        take(i, key, r.mass_of_weight(w));
      else
        sh.hist.candidate[j] = static_cast<u64>(~i);
    }
    if (a.write_logits || MASK != kMaskNone) r.template write_listed<MASK>(cut.listed, a.write_logits != 0, a.mask, row);
  } else if constexpr (R::kStagedKeys && MASK == kMaskNone) {
    r.write_slice([&](u32 i, u32 key) {
      const bool keep = key != 0 && visit(i, key);
      return a.write_logits && !keep;
    });
  } else if constexpr (R::kVector && MASK == kMaskNone) {
    // C = 1 without a mask: 16-byte chunks, about as many registers as kSharedU scalar loads.
    constexpr int kVU = R::kSharedU * static_cast<int>(sizeof(Bits)) / 16 < 1
                            ? 1
                            : R::kSharedU * static_cast<int>(sizeof(Bits)) / 16;
    r.template stream<kVU>([&](u32 i, Bits b) {
      const u32 key = to_key<D>(b);
      const bool keep = key != 0 && visit(i, key);
      return a.write_logits && !keep ? static_cast<Bits>(D::kNegInf) : b;
    });
  } else {
#pragma unroll 1
    for (u32 base = 0; base < R::kSlice; base += kStep) {
      Bits v[kU];
      r.load_tile(base, v);
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const u32 j = base + u * BLOCK + threadIdx.x;
        const u32 i = r.lo + j;
        const bool in = j < r.count();
        const u32 key = R::key_of(v[u]);
        const bool keep = in && key != 0 && visit(i, key);
        if (a.write_logits && in && !keep && (R::kStagedKeys || v[u] != static_cast<Bits>(D::kNegInf)))
          r.g[i] = static_cast<Bits>(D::kNegInf);
        r.template write_mask<MASK>(a.mask, row, i, in, keep);
      }
    }
  }
  mass_all = block_sum<BLOCK>(mass_all, sh.scratch);
  mass_kept = block_sum<BLOCK>(mass_kept, sh.scratch);
  u64 kept_here = block_sum<BLOCK>(static_cast<u64>(kept), sh.scratch);
  for (int o = 16; o > 0; o >>= 1) {
    const u64 other = __shfl_xor_sync(0xFFFFFFFFu, best, o);
    if (other > best) best = other;
  }
  if ((threadIdx.x & 31) == 0) sh.scratch[threadIdx.x >> 5] = best;
  __syncthreads();
  for (int w = 0; w < BLOCK / 32; ++w)
    if (sh.scratch[w] > best) best = sh.scratch[w];
  __syncthreads();
  u64 kept_before = 0, kept_all = kept_here;
  if (C > 1) {
    r.exchange(mass_all, mass_kept, kept_here, best);
    mass_all = mass_kept = kept_all = 0;
    for (int q = 0; q < C; ++q) {
      mass_all += r.got(0, q);
      mass_kept += r.got(1, q);
      kept_all += r.got(2, q);
      if (q < static_cast<int>(rank)) kept_before += r.got(2, q);
      if (r.got(3, q) > best) best = r.got(3, q);
    }
  }

  if (a.kept_ids) {
    // Kept ids in index order: this CTA's go after those of lower ranks; within a tile, ballots
    // order lanes and warps.
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    u32 written = static_cast<u32>(kept_before);
#pragma unroll 1
    for (u32 base = 0; base < R::kSlice; base += kStep) {
      Bits v[kU];
      r.load_tile(base, v);
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const u32 j = base + u * BLOCK + threadIdx.x;
        const u32 i = r.lo + j;
        const u32 key = R::key_of(v[u]);
        const bool keep = j < r.count() && key != 0 && keeps(i, key, r.weight(key));
        const u32 ballot = __ballot_sync(0xFFFFFFFFu, keep);
        if (lane == 0) sh.scratch[warp] = __popc(ballot);
        __syncthreads();
        u32 pos = written + __popc(ballot & ((1u << lane) - 1u)), tile = 0;
        for (int w = 0; w < BLOCK / 32; ++w) {
          if (w < warp) pos += static_cast<u32>(sh.scratch[w]);
          tile += static_cast<u32>(sh.scratch[w]);
        }
        if (keep && pos < static_cast<u32>(a.kept_ids_capacity))
          a.kept_ids[static_cast<long long>(row) * a.kept_ids_capacity + pos] = static_cast<int>(i);
        written += tile;
        __syncthreads();
      }
    }
  }
  // No closing cluster barrier: the exchange above was the last access to a peer.
  if (threadIdx.x != 0 || rank != 0) return;

  const u32 best_i = best == 0 ? kAllTies : ~static_cast<u32>(best);
  const bool valid = cut.count > 0 && best_i != kAllTies;
  const float nan = __int_as_float(0x7FC00000);
  float logprob = nan, raw = nan, logz = nan;
  if (valid && greedy) {
    logprob = raw = logz = 0.0f;
  } else if (valid) {
    const u32 key = to_key<D>(r.g[best_i]);
    const double z = r.max_is_inf ? 0.0
                                  : (static_cast<double>(key_to_float<D>(key)) - static_cast<double>(r.xmax)) /
                                        static_cast<double>(r.temperature);
    const double log_kept = log(static_cast<double>(mass_kept)), log_all = log(static_cast<double>(mass_all));
    const double log_scale = -static_cast<double>(R::kFracBits) * 0.69314718055994530942;
    logprob = static_cast<float>(z - (log_kept + log_scale));
    raw = static_cast<float>(z - (log_all + log_scale));
    logz = static_cast<float>(log_kept - log_all);
  }
  const long long token = valid ? static_cast<long long>(best_i) : -1ll;
  if (a.token32) a.token32[row] = static_cast<int>(token);
  if (a.token64) a.token64[row] = token;
  if (a.logprob) a.logprob[row] = logprob;
  if (a.raw_logprob) a.raw_logprob[row] = raw;
  if (a.logz) a.logz[row] = logz;
  if (a.kept_count) a.kept_count[row] = valid ? static_cast<int>(kept_all) : 0;
  if (a.valid) a.valid[row] = valid ? 1 : 0;
}

// Packs the padded kept ids of sample_kernel into CSR: offsets[batch + 1] and ids. A row whose
// kept set exceeds the capacity (or that has no candidate) gets an empty range. One CTA of
// THREADS (the host launches 1024).
template <int THREADS>
__global__ void __launch_bounds__(THREADS, 1)
    csr_pack_kernel(const int* kept_count, const int* kept_ids, int capacity, int batch, long long* offsets, int* ids) {
  __shared__ u64 scratch[32];
  __shared__ long long chunk_offsets[THREADS];
  long long running = 0;
  for (int first = 0; first < batch; first += THREADS) {
    const int r = first + static_cast<int>(threadIdx.x);
    const int n = r < batch ? kept_count[r] : 0;
    const u64 len = n > 0 && n <= capacity ? static_cast<u64>(n) : 0ull;
    u64 total;
    const u64 before = block_exclusive_scan<THREADS>(len, scratch, total);
    chunk_offsets[threadIdx.x] = running + static_cast<long long>(before);
    if (r < batch) offsets[r] = running + static_cast<long long>(before);
    __syncthreads();
    // One warp per row copies its ids.
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int rows = batch - first < THREADS ? batch - first : THREADS;
    for (int j = warp; j < rows; j += THREADS / 32) {
      const int m = kept_count[first + j];
      if (m <= 0 || m > capacity) continue;
      const int* src = kept_ids + static_cast<long long>(first + j) * capacity;
      for (int e = lane; e < m; e += 32) ids[chunk_offsets[j] + e] = src[e];
    }
    running += static_cast<long long>(total);
    __syncthreads();
  }
  if (threadIdx.x == 0) offsets[batch] = running;
}

}  // namespace sj
