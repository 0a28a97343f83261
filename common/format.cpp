#include "samplersearch/common/format.hpp"

#include <cmath>
#include <cstdio>

namespace samplersearch {

std::string format_number(double v, const NumberFormat& format) {
  if (std::isnan(v)) return std::string(format.nan);
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, format.notation == Notation::fixed ? "%.*f" : "%.*g",
                format.digits, v);
  return buf;
}

}  // namespace samplersearch
