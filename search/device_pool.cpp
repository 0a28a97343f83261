#include "samplersearch/search/device_pool.hpp"

#include <ATen/Context.h>

#include "samplersearch/common/error.hpp"

namespace samplersearch {

DevicePool::DevicePool(const std::vector<std::string>& names) {
  if (names.empty()) throw ConfigError("devices", "needs at least one device (e.g. cpu, cuda:0)");
  for (const std::string& name : names) {
    if (name == "cpu") {
      devices_.emplace_back(c10::kCPU);
    } else if (name.rfind("cpu:", 0) == 0) {
      const int n = std::atoi(name.c_str() + 4);
      if (n < 1 || n > 1024)
        throw ConfigError("devices", "'" + name + "': cpu:N needs 1 <= N <= 1024");
      for (int i = 0; i < n; ++i) devices_.emplace_back(c10::kCPU);
    } else if (name.rfind("cuda", 0) == 0) {
      if (!at::hasCUDA())
        throw ConfigError("devices",
                          "'" + name + "': this LibTorch build has no CUDA (use cpu or cpu:N)");
      try {
        devices_.emplace_back(name);
      } catch (const c10::Error&) {
        throw ConfigError("devices",
                          "'" + name + "' is not a device name (valid: cpu, cpu:N, cuda:I)");
      }
    } else {
      throw ConfigError("devices",
                        "'" + name + "' is not a device name (valid: cpu, cpu:N, cuda:I)");
    }
  }
  busy_.assign(devices_.size(), false);
}

DevicePool::Lease DevicePool::acquire() {
  std::unique_lock lock(mutex_);
  for (;;) {
    for (size_t i = 0; i < busy_.size(); ++i)
      if (!busy_[i]) {
        busy_[i] = true;
        return Lease(*this, static_cast<int>(i));
      }
    freed_.wait(lock);
  }
}

DevicePool::Lease::~Lease() {
  if (!pool_) return;
  {
    std::lock_guard lock(pool_->mutex_);
    pool_->busy_[static_cast<size_t>(index_)] = false;
  }
  pool_->freed_.notify_one();
}

std::string DevicePool::describe() const {
  bool same = true;
  for (const c10::Device& d : devices_) same = same && d == devices_.front();
  if (same)
    return devices_.size() == 1 ? devices_.front().str()
                                : std::to_string(devices_.size()) + " × " + devices_.front().str();
  std::string out;
  for (const c10::Device& d : devices_) out += (out.empty() ? "" : ", ") + d.str();
  return out;
}

}  // namespace samplersearch
