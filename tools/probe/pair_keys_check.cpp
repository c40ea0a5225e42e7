// CPU check of the sampler's paired pass 1 over 16-bit rows (Row::pass1_pairs,
// templates/select.cuh): for every 32-bit word of two bf16 or two fp16 values, if the word's part
// of the chunk test is clear, the keys that one mask per word gives both halves must be the keys
// of the per-token path (to_key: the sign bit flipped, or every bit when negative; -0 ranks with
// +0; NaN and -inf have key 0), and nonzero, so that the chunk counts 8. The test must also be set
// exactly when a half is -0, an infinity or NaN, so that the fast path is taken whenever it can be.
// Build and run (no GPU):
//   g++ -std=c++20 -O2 -march=native -fopenmp -o pair_keys_check tools/probe/pair_keys_check.cpp
//   ./pair_keys_check  # every word, both dtypes: about 30 s
#include <cstdint>
#include <cstdio>

namespace {

struct Half16 {
  const char* name;
  std::uint32_t pos_inf;  // +inf's bits: the exponent mask
};

// The per-token key, written from the definition rather than from the kernel's expression.
std::uint32_t key_of(std::uint32_t b, const Half16& d) {
  const bool neg = (b & 0x8000u) != 0;
  const bool exp_ones = (b & d.pos_inf) == d.pos_inf;
  const bool nan = exp_ones && (b & ~(d.pos_inf | 0x8000u) & 0xFFFFu) != 0;
  if (nan || (neg && exp_ones)) return 0;  // NaN, -inf
  if (b == 0x8000u) return 0x8000u;        // -0 ranks with +0
  return neg ? (~b & 0xFFFFu) : (b | 0x8000u);
}

bool special(std::uint32_t b, const Half16& d) { return b == 0x8000u || (b & d.pos_inf) == d.pos_inf; }

// The kernel's expressions for one word.
std::uint32_t word_flags(std::uint32_t w, const Half16& d) {
  const std::uint32_t exp2 = d.pos_inf * 0x00010001u, exp_low2 = (d.pos_inf & (0u - d.pos_inf)) * 0x00010001u;
  const std::uint32_t z = w ^ 0x80008000u;
  return (((w & exp2) + exp_low2) | ((z - 0x00010001u) & ~z)) & 0x80008000u;
}
std::uint32_t word_keys(std::uint32_t w) {
  const std::uint32_t s = w & 0x80008000u;
  return w ^ ((s - (s >> 15)) | 0x80008000u);
}

}  // namespace

int main() {
  const Half16 dtypes[] = {{"bf16", 0x7F80u}, {"fp16", 0x7C00u}};
  int failed = 0;
  for (const Half16& d : dtypes) {
    unsigned long long wrong_key = 0, zero_key = 0, wrong_flag = 0, fast = 0;
#pragma omp parallel for reduction(+ : wrong_key, zero_key, wrong_flag, fast) schedule(static)
    for (long long u = 0; u <= 0xFFFFFFFFll; ++u) {
      const std::uint32_t w = static_cast<std::uint32_t>(u), lo = w & 0xFFFFu, hi = w >> 16;
      const bool flagged = word_flags(w, d) != 0;
      wrong_flag += flagged != (special(lo, d) || special(hi, d));
      if (flagged) continue;
      ++fast;
      const std::uint32_t k = word_keys(w), klo = k & 0xFFFFu, khi = k >> 16;
      wrong_key += klo != key_of(lo, d) || khi != key_of(hi, d);
      zero_key += klo == 0 || khi == 0;
    }
    std::printf("%s: %llu words on the fast path; %llu with a wrong key, %llu with a zero key, %llu flagged wrongly\n",
                d.name, fast, wrong_key, zero_key, wrong_flag);
    failed += wrong_key != 0 || zero_key != 0 || wrong_flag != 0;
  }
  return failed == 0 ? 0 : 1;
}
