// CPU check of Row::div_by_temperature (templates/select.cuh): a / T from r = RN(1 / T) by a product
// and two residual corrections, each residual exact by FMA, must give the correctly rounded
// quotient, bit for bit what IEEE division gives, wherever the template takes that path (|a| and
// |a * r| and r in [2^-96, 2^96]; elsewhere it divides). The kernels compile with --fmad=false, so
// the product and the FMAs round as written here. Build and run (no GPU):
//   g++ -std=c++20 -O2 -march=native -ffp-contract=off -o div_check tools/probe/div_check.cpp
//   ./div_check        # about 15 s on one core
// It checks every a in [-2^8, -2^-30] for 15 temperatures, then 2e8 pairs of random bit patterns
// and 2e8 pairs in the range of logit differences and temperatures, and prints the mismatches.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

namespace {

float from_bits(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}
std::uint32_t bits(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

// The template's fast path and its guard.
bool fast_path(float a, float q0, float r) {
  const float aa = std::fabs(a), qa = std::fabs(q0);
  return aa >= 0x1p-96f && aa <= 0x1p96f && qa >= 0x1p-96f && qa <= 0x1p96f && r <= 0x1p96f && r >= 0x1p-96f;
}
float divide(float a, float t, float r) {
  const float q0 = a * r;
  if (!fast_path(a, q0, r)) return a / t;
  const float q1 = std::fma(std::fma(-t, q0, a), r, q0);
  return std::fma(std::fma(-t, q1, a), r, q1);
}

}  // namespace

int main() {
  std::uint64_t tested = 0, fast = 0, bad = 0;
  auto check = [&](float a, float t) {
    const float r = 1.0f / t, q = divide(a, t, r), want = a / t;
    ++tested;
    fast += fast_path(a, a * r, r);
    if (bits(q) != bits(want) && !(std::isnan(q) && std::isnan(want))) {
      if (bad < 10) std::printf("mismatch: a = %a, T = %a: %a, IEEE %a\n", a, t, q, want);
      ++bad;
    }
  };
  const float temperatures[] = {0.8f,  0.7f, 1.3f,  0.1f, 2.0f, 0.55f, 0.999999f, 1.0000001f,
                                3.0f, 0.3333333f, 1e-3f, 1e3f, 0.9f, 0.6f, 1.5f};
  for (float t : temperatures)
    for (std::uint32_t b = bits(-0x1p-30f); b <= bits(-0x1p8f); ++b) check(from_bits(b), t);
  std::mt19937 g(1);
  for (int i = 0; i < 200000000; ++i) {
    const float t = from_bits(g() & 0x7FFFFFFFu), a = -from_bits(g() & 0x7FFFFFFFu);
    if (t > 0.0f && std::isfinite(t) && std::isfinite(a)) check(a, t);
  }
  for (int i = 0; i < 200000000; ++i) {
    const float t = std::ldexp(1.0f + static_cast<float>(g() & 0x7FFFFF) * 0x1p-23f, static_cast<int>(g() % 6) - 3);
    const float a = -std::ldexp(1.0f + static_cast<float>(g() & 0x7FFFFF) * 0x1p-23f, static_cast<int>(g() % 40) - 20);
    check(a, t);
  }
  std::printf("%llu quotients, %llu on the fast path, %llu mismatches\n", static_cast<unsigned long long>(tested),
              static_cast<unsigned long long>(fast), static_cast<unsigned long long>(bad));
  return bad == 0 ? 0 : 1;
}
