// CPU check of the sampler's gather chunks at T != 1 (Row::gather_chunk<Quotient::kRecip>,
// templates/select.cuh): on rows where recip_chunk_exact() holds (T in [2^-20, 2^20] and
// 2^-70 <= |xmax| <= 2^127), z = a / T is taken from r = RN(1 / T) by a product and two residual
// corrections with no per-token range test, after clamping a = x - xmax at -2^102. That must give
// IEEE's quotient bit for bit for every nonzero difference such a row can have. The kernels compile
// with --fmad=false and -ftz=false, so the product and FMAs round as written here. Build and run
// (no GPU):
//   g++ -std=c++20 -O2 -march=native -ffp-contract=off -fopenmp -o recip_check tools/probe/recip_check.cpp
//   ./recip_check      # 16 temperatures exhaustively: about 70 s on two cores; ./recip_check 4 for fewer
// It checks
//   1. that a nonzero difference x - xmax is at least 2^-94 in magnitude once |xmax| >= 2^-70
//      (every x within a factor of four of xmax, for xmax at the bound's edges and both signs);
//   2. every a in [-2^102, -2^-94] for 16 temperatures (both bounds among them);
//   3. 4e8 random (a, T) pairs over those ranges,
// and prints the mismatches. Below -2^102 both quotients are under -2^82, whose exp is 0.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

float from_bits(std::uint32_t b) { return std::bit_cast<float>(b); }
std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

// The template's kRecip quotient.
float recip_quotient(float a, float t, float r) {
  const float c = std::fmax(a, -0x1p102f);
  const float q0 = c * r;
  const float q1 = std::fma(std::fma(-t, q0, c), r, q0);
  return std::fma(std::fma(-t, q1, c), r, q1);
}

// Smallest nonzero |x - xmax| over every x in [|xmax| / 4, 4 |xmax|] of xmax's sign.
float smallest_gap(float xmax) {
  const float m = std::fabs(xmax);
  float gap = INFINITY;
  for (std::uint32_t b = bits(m / 4); b <= bits(m * 4); ++b) {
    const float x = std::copysign(from_bits(b), xmax), d = std::fabs(x - xmax);
    if (d != 0.0f && d < gap) gap = d;
  }
  return gap;
}

}  // namespace

int main(int argc, char** argv) {
  const int n_temperatures = argc > 1 ? std::atoi(argv[1]) : 16;
  if (n_temperatures < 2 || n_temperatures > 64) {
    std::fprintf(stderr, "recip_check: the temperature count must be in [2, 64], got '%s'\n", argv[1]);
    return 2;
  }
  int failures = 0;

  for (float xmax : {0x1p-70f, 0x1.000002p-70f, 0x1.fffffep-70f, 0x1p127f, 0x1.fffffep126f, 1.0f, 0x1.8p-3f}) {
    for (float s : {1.0f, -1.0f}) {
      const float gap = smallest_gap(s * xmax);
      if (gap < 0x1p-94f) {
        std::printf("gap: xmax = %a has a nonzero difference %a < 2^-94\n", s * xmax, gap);
        ++failures;
      }
    }
  }

  std::mt19937 g(7);
  auto random_in = [&g](int lo_exp, int n_exps) {
    return std::ldexp(1.0f + static_cast<float>(g() & 0x7FFFFF) * 0x1p-23f, lo_exp + static_cast<int>(g() % n_exps));
  };
  std::vector<float> temperatures = {0x1p-20f, 0x1p20f, 0.8f, 0.7f, 1.3f, 0.1f, 2.0f, 0.55f, 0.999999f, 1.0000001f,
                                     3.0f,     0.3333333f};
  temperatures.resize(std::min<std::size_t>(temperatures.size(), n_temperatures));
  while (static_cast<int>(temperatures.size()) < n_temperatures) temperatures.push_back(random_in(-20, 40));

  const std::uint32_t lo = bits(-0x1p-94f), hi = bits(-0x1p102f);
  unsigned long long checked = 0, bad = 0;
  for (float t : temperatures) {
    const float r = 1.0f / t;
    unsigned long long bad_t = 0;
#pragma omp parallel for reduction(+ : bad_t) schedule(static)
    for (long long u = lo; u <= static_cast<long long>(hi); ++u) {
      const float a = from_bits(static_cast<std::uint32_t>(u));
      bad_t += bits(recip_quotient(a, t, r)) != bits(a / t);
    }
    checked += hi - lo + 1;
    bad += bad_t;
    std::printf("T = %a: %llu mismatches\n", t, bad_t);
    std::fflush(stdout);
  }

  unsigned long long bad_random = 0;
  for (long long i = 0; i < 400000000; ++i) {
    const float t = random_in(-20, 41), a = -random_in(-94, 196);
    if (bits(recip_quotient(a, t, 1.0f / t)) != bits(a / t) && bad_random++ < 5)
      std::printf("mismatch: a = %a, T = %a\n", a, t);
  }
  std::printf("exhaustive: %llu quotients, %llu mismatches; random pairs: 4e8, %llu mismatches; gap checks: %d failed\n",
              checked, bad, bad_random, failures);
  return bad == 0 && bad_random == 0 && failures == 0 ? 0 : 1;
}
