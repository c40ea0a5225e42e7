// Row selection shared by the truncation and sampling kernels; one CTA per row.
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

template <class D>
__device__ __forceinline__ u32 to_key(u32 bits) {
  constexpr u32 kAll = D::kKeyBits == 32 ? 0xFFFFFFFFu : 0xFFFFu;
  const u32 mag = bits & ~D::kSign;
  if (mag > D::kPosInf || bits == D::kNegInf) return 0;  // NaN, -inf: never candidates
  if (mag == 0) return D::kSign;                         // -0 ranks with +0
  return (bits & D::kSign) ? (~bits & kAll) : (bits | D::kSign);
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

template <int BLOCK, int MAXBINS>
struct Shared {
  union {
    u64 mass[MAXBINS];
    u32 count[MAXBINS];
    u64 candidate[kCandidateCap];  // (key << 32) | ~index: descending order is rank order
  } hist;
  u64 scratch[32];
  u64 found_above;
  u32 found_bin;
  u32 found_index;
  u32 candidates;
};

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

template <int BLOCK>
__device__ u32 block_max(u32 v, u64* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  u32 m = 0;
  for (int w = 0; w < BLOCK / 32; ++w) m = max(m, static_cast<u32>(scratch[w]));
  __syncthreads();
  return m;
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

template <int DT, int V, int BLOCK>
struct Row {
  typedef Dtype<DT> D;
  typedef typename D::Bits Bits;
  typedef Digits<D::kKeyBits> Dig;
  typedef Shared<BLOCK, Dig::kMaxBins> Smem;
  // Loads in flight per thread: fewer for big blocks, which have fewer registers per thread.
  // (A 1024-thread block has 64 registers per thread: 4 loads is what fits without spilling.)
  static constexpr int U = BLOCK >= 1024                   ? 4
                           : D::kUnroll * 256 / BLOCK < 2  ? 2
                           : D::kUnroll * 256 / BLOCK > 32 ? 32
                                                           : D::kUnroll * 256 / BLOCK;
  static constexpr u32 kTile = static_cast<u32>(BLOCK) * U;
  // Fixed point for softmax mass: each term <= 1, so V terms of 2^F fit in 63 bits.
  static constexpr int kFracBits = 63 - ceil_log2(static_cast<long long>(V) + 1);

  Bits* x;
  Smem& sh;
  bool max_is_inf;
  float xmax;
  float temperature;  // > 0; masses are exp((x - xmax) / temperature)

  // Issues all U loads of a tile before any is used, to keep enough bytes in flight.
  __device__ void load_tile(u32 base, Bits (&v)[U]) const {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const u32 i = base + u * BLOCK + threadIdx.x;
      v[u] = i < static_cast<u32>(V) ? x[i] : static_cast<Bits>(D::kNegInf);
    }
  }

  // Visits every element, a tile at a time.
  template <class F>
  __device__ void for_each(F f) const {
    for (u32 base = 0; base < static_cast<u32>(V); base += kTile) {
      Bits v[U];
      load_tile(base, v);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const u32 i = base + u * BLOCK + threadIdx.x;
        if (i < static_cast<u32>(V)) f(i, to_key<D>(v[u]));
      }
    }
  }

  // The unnormalized post-temperature softmax weight exp((x - xmax) / temperature), in (0, 1].
  // With a +inf max, +inf tokens weigh 1 and all others 0 (the limit of the softmax).
  __device__ float weight(u32 key) const {
    if (max_is_inf) return key == to_key<D>(D::kPosInf) ? 1.0f : 0.0f;
    return expf((key_to_float<D>(key) - xmax) / temperature);
  }

  // A weight in 64-bit fixed point, so that sums are exact and order-independent.
  __device__ static u64 mass_of_weight(float w) {
    constexpr float kScale = static_cast<float>(1ull << kFracBits);
    return __float2ull_rn(w * kScale);
  }

  __device__ u64 mass(u32 key) const { return mass_of_weight(weight(key)); }

  // Finds the bin holding the remaining-th unit (count or mass) counting from the top bin.
  template <class T>
  __device__ void find_bin(const T* hist, int nbins, u64 remaining, u32& bin, u64& above) {
    const int per = (nbins + BLOCK - 1) / BLOCK;
    const int hi = nbins - static_cast<int>(threadIdx.x) * per;
    const int lo = hi - per > 0 ? hi - per : 0;
    u64 s = 0;
    for (int b = hi - 1; b >= lo; --b) s += hist[b];
    u64 total;
    const u64 before = block_exclusive_scan<BLOCK>(s, sh.scratch, total);
    if (s > 0 && before < remaining && remaining <= before + s) {
      u64 a = before;
      for (int b = hi - 1; b >= lo; --b) {
        if (remaining <= a + hist[b]) {
          sh.found_bin = static_cast<u32>(b);
          sh.found_above = a;
          break;
        }
        a += hist[b];
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
#pragma unroll 1
    for (int pass = 0; pass < Dig::kPasses; ++pass) {
      const int shift = Dig::shift(pass);
      const int nbins = 1 << Dig::width(pass);
      for (int b = threadIdx.x; b < nbins; b += BLOCK) {
        if (MASS)
          sh.hist.mass[b] = 0;
        else
          sh.hist.count[b] = 0;
      }
      __syncthreads();
      for_each([&](u32 i, u32 key) {
        if (key == 0 || (key & prefix_mask) != prefix || !pred(i, key)) return;
        const u32 bin = (key >> shift) & static_cast<u32>(nbins - 1);
        if (MASS)
          atomicAdd(&sh.hist.mass[bin], mass(key));
        else
          atomicAdd(&sh.hist.count[bin], 1u);
      });
      __syncthreads();
      if (pass == 0) {
        u64 part = 0;
        for (int b = threadIdx.x; b < nbins; b += BLOCK) part += MASS ? sh.hist.mass[b] : sh.hist.count[b];
        remaining = target(block_sum<BLOCK>(part, sh.scratch));
      }
      u32 bin;
      u64 skipped;
      if (MASS)
        find_bin(sh.hist.mass, nbins, remaining, bin, skipped);
      else
        find_bin(sh.hist.count, nbins, remaining, bin, skipped);
      at_key = MASS ? sh.hist.mass[bin] : sh.hist.count[bin];
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

  // Gathers the tokens whose first digit is >= bin into shared memory and sorts them into rank
  // order (bitonic sort over the next power of two). Returns how many there are.
  __device__ u32 gather_sorted(u32 bin) {
    constexpr int kShift = Dig::shift(0);
    if (threadIdx.x == 0) sh.candidates = 0;
    __syncthreads();
    for_each([&](u32 i, u32 key) {
      if (key != 0 && (key >> kShift) >= bin) {
        const u32 slot = atomicAdd(&sh.candidates, 1u);
        sh.hist.candidate[slot] = (static_cast<u64>(key) << 32) | static_cast<u64>(~i);
      }
    });
    __syncthreads();
    const u32 n = sh.candidates;
    u32 padded = 1;
    while (padded < n) padded <<= 1;
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
    return n;
  }

  // Among the first n sorted candidates: the position of the one whose inclusive mass prefix
  // first reaches want_p(total mass).
  template <class Target>
  __device__ u32 mass_prefix_position(u32 n, Target target) {
    const u32 per = (n + BLOCK - 1) / BLOCK;
    const u32 lo = threadIdx.x * per, hi = lo + per < n ? lo + per : n;
    u64 s = 0;
    for (u32 j = lo; j < hi; ++j) s += mass(static_cast<u32>(sh.hist.candidate[j] >> 32));
    u64 total;
    const u64 before = block_exclusive_scan<BLOCK>(s, sh.scratch, total);
    const u64 want = target(total);
    if (s > 0 && before < want && want <= before + s) {
      u64 a = before;
      for (u32 j = lo; j < hi; ++j) {
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

  // Index of the n-th (1-based) element whose key equals `key`, in index order.
  __device__ u32 nth_with_key(u32 key, u32 n) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    u32 running = 0;
    for (u32 base = 0; base < static_cast<u32>(V); base += kTile) {
      Bits v[U];
      load_tile(base, v);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const u32 i = base + u * BLOCK + threadIdx.x;
        const bool hit = i < static_cast<u32>(V) && to_key<D>(v[u]) == key;
        const u32 c = static_cast<u32>(__syncthreads_count(hit));
        if (running + c >= n) {
          const u32 ballot = __ballot_sync(0xFFFFFFFFu, hit);
          if (lane == 0) sh.scratch[warp] = __popc(ballot);
          __syncthreads();
          u32 rank = running + __popc(ballot & ((1u << lane) - 1u));
          for (int w = 0; w < warp; ++w) rank += static_cast<u32>(sh.scratch[w]);
          if (hit && rank + 1 == n) sh.found_index = i;
          __syncthreads();
          return sh.found_index;
        }
        running += c;
      }
    }
    return kAllTies;  // unreachable when n <= number of matches
  }
  struct Cut {
    u32 key, index;  // the last kept (key, index) in rank order; key 0 keeps every candidate
    u32 count;       // candidates in the row
    u32 max_key;
    __device__ bool keeps(u32 i, u32 k) const {
      return i < static_cast<u32>(V) && k != 0 && (k > key || (k == key && i <= index));
    }
  };

  // Pass 1 (candidate count, max and, for top-k, the first-digit histogram), then top-k and
  // top-p. With stats, pass 1 runs even when both are off. Sets max_is_inf and xmax.
  __device__ Cut compute_cut(bool k_on, int k, bool p_on, float p, bool stats) {
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
    if (k_on || p_on || stats) {
      // Pass 1: candidate count, max, and (for top-k) the first-digit histogram.
      constexpr int kShift0 = Dig::shift(0);
      if (k_on) {
        for (int b = threadIdx.x; b < Dig::kMaxBins; b += BLOCK) sh.hist.count[b] = 0;
        __syncthreads();
      }
      u32 count = 0, max_key = 0;
      for_each([&](u32, u32 key) {
        count += key != 0;
        max_key = max(max_key, key);
        if (k_on && key != 0) atomicAdd(&sh.hist.count[key >> kShift0], 1u);
      });
      count = block_sum<BLOCK>(count, sh.scratch);
      max_key = block_max<BLOCK>(max_key, sh.scratch);
      out.count = count;
      out.max_key = max_key;
      max_is_inf = max_key == to_key<D>(D::kPosInf);
      xmax = key_to_float<D>(max_key);

      bool done = false;
      if (k_on && static_cast<u32>(k) < count) {
        u32 bin;
        u64 above;
        find_bin(sh.hist.count, Dig::kMaxBins, static_cast<u64>(k), bin, above);
        if (above + sh.hist.count[bin] <= static_cast<u64>(kCandidateCap)) {
          __syncthreads();  // the histogram shares storage with the candidates
          // Pass 2: gather and sort; top-k is the first k, top-p a mass prefix of those.
          gather_sorted(bin);
          const u32 pos = p_on ? mass_prefix_position(static_cast<u32>(k), want_p) : static_cast<u32>(k) - 1;
          const u64 c = sh.hist.candidate[pos];
          out.key = static_cast<u32>(c >> 32);
          out.index = ~static_cast<u32>(c);
          done = true;
        }
        __syncthreads();
      }
      if (!done && k_on && static_cast<u32>(k) < count) {
        auto all = [](u32, u32) { return true; };
        auto want_k = [k](u64) { return static_cast<u64>(k); };
        const Selected s = select<false>(all, want_k);
        out.key = s.key;
        const u32 need = static_cast<u32>(s.remaining);
        out.index = need >= s.at_key ? kAllTies : nth_with_key(s.key, need);
      }
      if (!done && p_on && count > 0) {
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
    }
    return out;
  }

  // Writes one element's mask entry; every lane of the block calls it for the same u.
  template <int MASK>
  __device__ void write_mask(void* mask_out, long long row, u32 i, bool keep) const {
    if (MASK == kMaskBool) {
      if (i < static_cast<u32>(V)) static_cast<unsigned char*>(mask_out)[row * V + i] = keep ? 1 : 0;
    } else if (MASK == kMaskBits) {
      const int lane = threadIdx.x & 31;
      const u32 word = __ballot_sync(0xFFFFFFFFu, keep);
      const u32 first = i - static_cast<u32>(lane);
      if (lane == 0 && first < static_cast<u32>(V)) {
        constexpr long long kWords = (static_cast<long long>(V) + 31) / 32;
        static_cast<u32*>(mask_out)[row * kWords + first / 32] = word;
      }
    }
  }
};

}  // namespace sj
