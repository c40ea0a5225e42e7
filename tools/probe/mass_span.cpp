// CPU estimate for a mass-window plan (docs/design.md, "What is next"): when the window's pass adds
// exact masses only for the strong tokens (a mass of 2^32 or more) and counts the others in their
// bins, how many bins can hold the top-p cut, and does the listing still fit? Each body token of
// bin b weighs between the masses of the bin's edges, so cumulative lower and upper bounds give
// the first and the last bin that can hold the cut. The rows and parameters are the benchmark's
// (bf16 peaked rows, seed 1; random p in [0.5, 1) or p = 0.9), in double precision: an estimate
// of the plan, not the kernels' arithmetic. Build from the repository root after the CMake build:
//   g++ -std=c++20 -O2 -I src -I include -o mass_span tools/probe/mass_span.cpp build/libsamplejit.a -ldl
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "workloads.hpp"

namespace {

constexpr int kWindow = 1024, kCap = 4096;

unsigned sort_span(unsigned n) {  // as the kernels' sort_candidates pads
  if (n <= 256) return n;
  unsigned p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

int main() {
  using namespace samplejit;
  for (int V : {32000, 151936, 262144})
    for (bool fixed : {false, true}) {
      const int B = 256;
      const int frac = 63 - static_cast<int>(std::ceil(std::log2(double(V) + 1)));
      const double w = (frac + 2) * std::log(2.0) / kWindow, scale = std::ldexp(1.0, frac);
      std::mt19937_64 rng(1), param_rng(1ull ^ 0x9E3779B97F4A7C15ull);
      const auto params = fixed ? work::fixed_params(B, 50, 0.9f) : work::random_params(B, param_rng);
      std::vector<unsigned short> bits(V);
      int fit_now = 0, fit_plan = 0;
      std::vector<int> widths, span_tokens;
      for (int r = 0; r < B; ++r) {
        work::fill_row(DType::BF16, work::RowKind::Peaked, V, rng, bits.data());
        std::vector<double> x(V);
        for (int i = 0; i < V; ++i) {
          const unsigned u = unsigned(bits[i]) << 16;
          float f;
          std::memcpy(&f, &u, 4);
          x[i] = f;
        }
        const double xmax = *std::max_element(x.begin(), x.end());
        std::vector<double> mass(kWindow + 1), strong(kWindow + 1);
        std::vector<long> count(kWindow + 1), strong_count(kWindow + 1);
        double total = 0;
        for (double v : x) {
          const double z = v - xmax, m = std::nearbyint(std::exp(z) * scale);
          const int b = std::min(kWindow, int(-z / w));
          total += m;
          mass[b] += m;
          ++count[b];
          if (m >= 4294967296.0) strong[b] += m, ++strong_count[b];
        }
        const double want = std::ceil(double(params.top_p[r]) * total);
        // Now: the cut's bin from exact masses; the listing holds it sorted and the bins above.
        double c = 0;
        long above = 0;
        for (int b = 0; b < kWindow; ++b) {
          if (c + mass[b] >= want) {
            fit_now += sort_span(unsigned(count[b])) + above <= kCap;
            break;
          }
          c += mass[b];
          above += count[b];
        }
        // The plan: bounds from the counts of the body's bins.
        double lo = 0, hi = 0;
        int first = -1, last = -1;
        for (int b = 0; b < kWindow && last < 0; ++b) {
          const double body = double(count[b] - strong_count[b]);
          lo += strong[b] + body * std::nearbyint(std::exp(-(b + 1) * w) * scale);
          hi += strong[b] + body * std::nearbyint(std::exp(-b * w) * scale);
          if (first < 0 && hi >= want) first = b;
          if (lo >= want) last = b;
        }
        if (first < 0 || last < 0) continue;
        long in_span = 0, above_span = 0;
        for (int b = 0; b < first; ++b) above_span += count[b];
        for (int b = first; b <= last; ++b) in_span += count[b];
        widths.push_back(last - first + 1);
        span_tokens.push_back(int(in_span));
        fit_plan += sort_span(unsigned(in_span)) + above_span <= kCap;
      }
      std::sort(widths.begin(), widths.end());
      std::sort(span_tokens.begin(), span_tokens.end());
      const size_t n = widths.size();
      if (n == 0) {
        std::printf("bf16 V=%d %s: no row with a cut in the window\n", V, fixed ? "p=0.9" : "random p");
        continue;
      }
      std::printf(
          "bf16 V=%d %s: listing fits %d/%d rows now, %d/%d with the plan; bins that can hold the cut: "
          "median %d, p90 %d; tokens in them: median %d, p90 %d\n",
          V, fixed ? "p=0.9" : "random p", fit_now, B, fit_plan, B, widths[n / 2], widths[n * 9 / 10],
          span_tokens[n / 2], span_tokens[n * 9 / 10]);
    }
  return 0;
}
