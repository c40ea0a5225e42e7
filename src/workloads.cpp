#include "workloads.hpp"

#include "samplejit/reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace samplejit::work {

std::string_view to_string(RowKind k) {
  switch (k) {
    case RowKind::Normal: return "normal";
    case RowKind::Peaked: return "peaked";
    case RowKind::Ties: return "ties";
    case RowKind::Grammar: return "grammar";
    case RowKind::AllMasked: return "all-masked";
    case RowKind::PosInf: return "posinf";
    case RowKind::Specials: return "specials";
    case RowKind::MassEdges: return "mass-edges";
  }
  return "?";
}

namespace {

std::uint16_t to_bf16(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;  // NaN stays NaN
  b += 0x7FFFu + ((b >> 16) & 1u);
  return static_cast<std::uint16_t>(b >> 16);
}

std::uint16_t to_f16(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  const std::uint16_t sign = static_cast<std::uint16_t>((b >> 16) & 0x8000u);
  const std::uint32_t mag = b & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);
  if (mag >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to inf
  if (mag < 0x38800000u) {                                                     // subnormal or zero
    if (mag < 0x33000000u) return sign;
    const std::uint32_t exp = mag >> 23, mant = (mag & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126 - exp;  // 14 + (112 - (exp - 127)) ... value = mant * 2^(exp-150)
    std::uint32_t h = mant >> (shift - 1 + 1);
    const std::uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = ((mag - 0x38000000u) >> 13);
  const std::uint32_t rem = mag & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

}  // namespace

void store(DType d, void* base, std::int64_t i, float v) {
  switch (d) {
    case DType::F32: static_cast<float*>(base)[i] = v; break;
    case DType::BF16: static_cast<std::uint16_t*>(base)[i] = to_bf16(v); break;
    case DType::F16: static_cast<std::uint16_t*>(base)[i] = to_f16(v); break;
  }
}

namespace {

// Order-preserving keys of a dtype's values (not NaN): a negative value flips every bit, a
// positive one only the sign bit (the kernels' to_key, select.cuh).
std::uint32_t key_sign(DType d) { return d == DType::F32 ? 0x80000000u : 0x8000u; }
std::uint32_t key_all(DType d) { return d == DType::F32 ? 0xFFFFFFFFu : 0xFFFFu; }

float value_of_key(DType d, std::uint32_t key) {
  const std::uint32_t bits = (key & key_sign(d)) ? key ^ key_sign(d) : ~key & key_all(d);
  if (d == DType::F32) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  const auto h = static_cast<std::uint16_t>(bits);
  return static_cast<float>(ref::load_logit(d, &h, 0));
}

std::uint32_t key_of_value(DType d, float v) {
  std::uint32_t bits = 0;
  store(d, &bits, 0, v);  // exact for a value of the dtype
  if (d != DType::F32) bits &= 0xFFFFu;
  return (bits & key_sign(d)) ? ~bits & key_all(d) : bits | key_sign(d);
}

// The mass-window bin of value x under the max xmax, computed in float as the kernels do
// (select.cuh: kFracBits, kMassSpan, mass_bin; temperature 1).
std::uint32_t mass_bin(std::int64_t vocab, float x, float xmax) {
  int log2 = 0;
  while ((std::int64_t{1} << log2) < vocab + 1) ++log2;
  const float span = static_cast<float>(63 - log2 + 2) * 0.6931471805599453f;
  const float d = -(x - xmax) * (1024.0f / span);
  return d < 1024.0f ? static_cast<std::uint32_t>(d) : 1024u;
}

}  // namespace

void fill_row(DType d, RowKind kind, std::int64_t vocab, std::mt19937_64& rng, void* row) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::normal_distribution<float> body(0.0f, 2.0f);
  std::uniform_int_distribution<std::int64_t> pick(0, vocab - 1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  // fp16 overflows above 65504; keep every kind's finite values well inside all dtypes.
  auto peaked = [&] {
    for (std::int64_t i = 0; i < vocab; ++i) store(d, row, i, body(rng) - 4.0f);
    const int strong = 1 + static_cast<int>(rng() % 8);
    for (int s = 0; s < strong; ++s) store(d, row, pick(rng), 8.0f + 6.0f * unit(rng));
  };
  switch (kind) {
    case RowKind::Normal:
      for (std::int64_t i = 0; i < vocab; ++i) store(d, row, i, body(rng));
      break;
    case RowKind::Peaked: peaked(); break;
    case RowKind::Ties: {
      // Zero comes with either sign: -0 and +0 tie, and a kept -0 must stay -0 (the cluster
      // kernels' final pass rebuilds kept elements from their keys, which do not hold the sign).
      const int levels = 1 + static_cast<int>(rng() % 6);
      for (std::int64_t i = 0; i < vocab; ++i) {
        const std::uint64_t r = rng();
        const float v = 0.5f * static_cast<float>(r % static_cast<std::uint64_t>(levels));
        store(d, row, i, v == 0.0f && ((r >> 40) & 1u) ? -0.0f : v);
      }
      break;
    }
    case RowKind::Grammar:
      peaked();
      for (std::int64_t i = 0; i < vocab; ++i) {
        const float u = unit(rng);
        if (u < 0.9f) store(d, row, i, -inf);
        else if (u < 0.92f) store(d, row, i, nan);
      }
      break;
    case RowKind::AllMasked:
      for (std::int64_t i = 0; i < vocab; ++i) store(d, row, i, (rng() & 7) ? -inf : nan);
      break;
    case RowKind::PosInf:
      peaked();
      store(d, row, pick(rng), inf);
      store(d, row, pick(rng), inf);
      break;
    case RowKind::Specials: {
      // The values where comparisons of keys and of floats could part: zeros of both signs,
      // subnormals, the edges of first-digit bins (quarter octaves in every dtype) and the values
      // one bf16 step either side, NaN of both signs, -inf, and rarely +inf. Spread over the whole
      // row, so that they also fall past a first segment that fixes a threshold.
      peaked();
      const float denorm = d == DType::F32    ? std::numeric_limits<float>::denorm_min()
                           : d == DType::BF16 ? std::ldexp(1.0f, -133)
                                              : std::ldexp(1.0f, -24);
      const float edges[] = {1.0f, 1.25f, 1.5f, 1.75f};
      for (std::int64_t i = 0; i < vocab; ++i) {
        const std::uint64_t r = rng();
        if (r % 100 != 0) continue;
        const std::uint64_t s = r >> 8;
        const float sign = (s >> 4) & 1u ? -1.0f : 1.0f;
        switch (s % 8) {
          case 0: store(d, row, i, sign * 0.0f); break;
          case 1: store(d, row, i, sign * denorm * static_cast<float>(1 + (s >> 5) % 7)); break;
          case 2:
          case 3:
          case 4: {
            const int octave = static_cast<int>((s >> 7) % 5) - 1;
            const float edge = std::ldexp(edges[(s >> 5) % 4], octave);
            const float step = static_cast<float>(static_cast<int>(s % 8) - 3) * std::ldexp(1.0f, octave - 7);
            store(d, row, i, sign * (edge + step));
            break;
          }
          case 5: store(d, row, i, -inf); break;
          case 6:
            store(d, row, i, nan);
            if (sign < 0) {  // store() makes a positive NaN; set the sign bit
              if (d == DType::F32) {
                static_cast<std::uint32_t*>(row)[i] |= 0x80000000u;
              } else {
                static_cast<std::uint16_t*>(row)[i] |= 0x8000u;
              }
            }
            break;
          default: store(d, row, i, (s >> 5) % 64 == 0 ? inf : -1.0f); break;
        }
      }
      break;
    }
    case RowKind::MassEdges: {
      // Top-p alone lists the tokens of the bins down to the cut's by comparing values with the
      // lowest value of a bin (select.cuh, mass_bin_low_key); here a tenth of the row sits exactly
      // at that value or one dtype step below it, in the top 300 of the 1024 bins, where the cut
      // falls. The max is 10, above a body of N(-4, 2) capped at 9.
      const float xmax = 10.0f;
      const std::uint32_t lowest = key_of_value(d, d == DType::F32    ? -std::numeric_limits<float>::max()
                                                   : d == DType::BF16 ? -3.3895313892515355e38f
                                                                      : -65504.0f);
      const std::uint32_t max_key = key_of_value(d, xmax);
      auto lowest_of_bin = [&](std::uint32_t b) {  // the least key whose bin is b or above
        std::uint32_t lo = lowest, hi = max_key;
        while (lo < hi) {
          const std::uint32_t mid = lo + (hi - lo) / 2;
          if (mass_bin(vocab, value_of_key(d, mid), xmax) <= b)
            hi = mid;
          else
            lo = mid + 1;
        }
        return lo;
      };
      std::vector<std::uint32_t> edge(300);
      for (std::uint32_t b = 0; b < edge.size(); ++b) edge[b] = lowest_of_bin(b);
      for (std::int64_t i = 0; i < vocab; ++i) store(d, row, i, std::min(body(rng) - 4.0f, 9.0f));
      for (std::int64_t i = 0; i < vocab; ++i) {
        const std::uint64_t r = rng();
        if (r % 10 != 0) continue;
        const std::uint32_t key = edge[(r >> 8) % edge.size()];
        store(d, row, i, value_of_key(d, (r >> 20) & 1u ? key - 1u : key));
      }
      store(d, row, pick(rng), xmax);
      break;
    }
  }
}

Params make_params(std::int64_t batch, std::int64_t vocab, std::mt19937_64& rng, bool edges) {
  Params p;
  p.top_k.resize(static_cast<std::size_t>(batch));
  p.top_p.resize(static_cast<std::size_t>(batch));
  const std::int64_t v = vocab;
  const std::int32_t ks[] = {-1, 0, 1, 2, 50, static_cast<std::int32_t>(v - 1), static_cast<std::int32_t>(v),
                             static_cast<std::int32_t>(std::min<std::int64_t>(v + 1, INT32_MAX))};
  const float ps[] = {std::numeric_limits<float>::quiet_NaN(), -1.0f, 0.0f, 1e-7f, 0.5f, 0.9f, 0.999f, 1.0f, 1.5f};
  std::uniform_int_distribution<std::int32_t> rk(1, 1024);
  std::uniform_real_distribution<float> rp(0.5f, 1.0f);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto i = static_cast<std::size_t>(b);
    if (edges && rng() % 2 == 0) {
      p.top_k[i] = ks[rng() % std::size(ks)];
      p.top_p[i] = ps[rng() % std::size(ps)];
    } else {
      p.top_k[i] = rk(rng);
      p.top_p[i] = rp(rng);
    }
  }
  return p;
}

Params fixed_params(std::int64_t batch, std::int32_t k, float p) {
  return {std::vector<std::int32_t>(static_cast<std::size_t>(batch), k),
          std::vector<float>(static_cast<std::size_t>(batch), p)};
}

Params random_params(std::int64_t batch, std::mt19937_64& rng, std::int32_t k_lo, std::int32_t k_hi, float p_lo,
                     float p_hi) {
  Params p;
  p.top_k.resize(static_cast<std::size_t>(batch));
  p.top_p.resize(static_cast<std::size_t>(batch));
  std::uniform_int_distribution<std::int32_t> rk(k_lo, k_hi);
  std::uniform_real_distribution<float> rp(p_lo, p_hi);
  // uniform_real_distribution<float> can round up to p_hi itself; p = 1 would turn top-p off.
  const float below = std::nextafter(p_hi, p_lo);
  for (std::size_t i = 0; i < p.top_k.size(); ++i) {
    p.top_k[i] = rk(rng);
    p.top_p[i] = std::min(rp(rng), below);
  }
  return p;
}

}  // namespace samplejit::work
