// Neumaier-compensated running sum, shared by the float64 references: it keeps them far inside
// 1e-12 of the exact value even for large vocabularies, so they judge more sharply than the
// tolerances they enforce.
#pragma once

#include <cmath>

namespace samplejit::ref {

struct CompensatedSum {
  double sum = 0.0, carry = 0.0;
  void add(double v) {
    const double t = sum + v;
    if (std::fabs(sum) >= std::fabs(v))
      carry += (sum - t) + v;
    else
      carry += (v - t) + sum;
    sum = t;
  }
  double value() const { return sum + carry; }
};

}  // namespace samplejit::ref
