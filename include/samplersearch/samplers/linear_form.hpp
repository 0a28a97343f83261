#pragma once
// Linear forms over (y_0 … y_{N−1}, ε_0 … ε_N): the values a classic sampler computes when it is
// run symbolically. Every classic sampler is linear in the y's and ε's once its times are fixed,
// so running it on linear forms yields its exact Natural Inference matrices (docs/equations.md §4).
#include <cstddef>
#include <vector>

namespace samplersearch {

// Σ_j y[j]·y_j + Σ_j eps[j]·ε_j, with + − and scalar × as for vectors.
class LinearForm {
 public:
  LinearForm() = default;
  // The form y_k.
  static LinearForm signal(std::size_t k);
  // The form ε_k.
  static LinearForm noise(std::size_t k);

  const std::vector<double>& y() const { return y_; }
  const std::vector<double>& eps() const { return eps_; }
  // Coefficient of y_k (0 beyond the stored length).
  double y(std::size_t k) const { return k < y_.size() ? y_[k] : 0.0; }
  // Coefficient of ε_k (0 beyond the stored length).
  double eps(std::size_t k) const { return k < eps_.size() ? eps_[k] : 0.0; }

  LinearForm& operator+=(const LinearForm& o);
  LinearForm& operator-=(const LinearForm& o);
  LinearForm& operator*=(double s);

  friend LinearForm operator+(LinearForm a, const LinearForm& b) { return a += b; }
  friend LinearForm operator-(LinearForm a, const LinearForm& b) { return a -= b; }
  friend LinearForm operator-(LinearForm a) { return a *= -1.0; }
  friend LinearForm operator*(LinearForm a, double s) { return a *= s; }
  friend LinearForm operator*(double s, LinearForm a) { return a *= s; }
  friend LinearForm operator/(LinearForm a, double s) { return a *= 1.0 / s; }

 private:
  std::vector<double> y_;
  std::vector<double> eps_;
};

}  // namespace samplersearch
