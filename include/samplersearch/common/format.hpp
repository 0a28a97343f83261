#pragma once
// The one number formatter for text people read (tables, logs, status, reports).
#include <string>
#include <string_view>

namespace samplersearch {

// How format_number writes a finite value: `digits` significant digits (printf %.{digits}g) or
// `digits` digits after the point (printf %.{digits}f).
enum class Notation { significant, fixed };

struct NumberFormat {
  int digits = 6;
  Notation notation = Notation::significant;
  std::string_view nan = "nan";  // what stands for NaN (a value not measured)
};

// v as text: finite values per `format`, ±∞ as "inf" / "-inf", NaN as format.nan.
std::string format_number(double v, const NumberFormat& format = {});

}  // namespace samplersearch
