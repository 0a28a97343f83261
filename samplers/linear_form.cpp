#include "samplersearch/samplers/linear_form.hpp"

#include <algorithm>

namespace samplersearch {
namespace {

// a += s·b, growing a to b's length.
void axpy(std::vector<double>& a, const std::vector<double>& b, double s) {
  if (a.size() < b.size()) a.resize(b.size(), 0.0);
  for (std::size_t i = 0; i < b.size(); ++i) a[i] += s * b[i];
}

}  // namespace

LinearForm LinearForm::signal(std::size_t k) {
  LinearForm f;
  f.y_.assign(k + 1, 0.0);
  f.y_[k] = 1.0;
  return f;
}

LinearForm LinearForm::noise(std::size_t k) {
  LinearForm f;
  f.eps_.assign(k + 1, 0.0);
  f.eps_[k] = 1.0;
  return f;
}

LinearForm& LinearForm::operator+=(const LinearForm& o) {
  axpy(y_, o.y_, 1.0);
  axpy(eps_, o.eps_, 1.0);
  return *this;
}

LinearForm& LinearForm::operator-=(const LinearForm& o) {
  axpy(y_, o.y_, -1.0);
  axpy(eps_, o.eps_, -1.0);
  return *this;
}

LinearForm& LinearForm::operator*=(double s) {
  for (double& v : y_) v *= s;
  for (double& v : eps_) v *= s;
  return *this;
}

}  // namespace samplersearch
