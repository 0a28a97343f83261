#pragma once
// The one place that decides devices: a pool of named devices ("cpu", "cpu:N" for N CPU workers,
// "cuda:0", "cuda:1", …) that sampling chunks borrow one at a time.
#include <c10/core/Device.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace samplersearch {

class DevicePool {
 public:
  // Parses names: "cpu" (one worker), "cpu:N" (N CPU workers), "cuda:i"; ConfigError when a name is
  // unknown or CUDA is asked for but LibTorch has none.
  explicit DevicePool(const std::vector<std::string>& names);
  // Number of workers (devices that can run a chunk at the same time).
  int size() const { return static_cast<int>(devices_.size()); }
  const std::vector<c10::Device>& devices() const { return devices_; }
  // "cpu", "2 × cpu", "cuda:0, cuda:1": what a trial ran on.
  std::string describe() const;

  // Borrows a free device until the lease is destroyed.
  class Lease {
   public:
    Lease(DevicePool& pool, int index) : pool_(&pool), index_(index) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), index_(o.index_) { o.pool_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    c10::Device device() const { return pool_->devices_[static_cast<size_t>(index_)]; }
    int index() const { return index_; }

   private:
    DevicePool* pool_;
    int index_;
  };
  Lease acquire();

 private:
  std::vector<c10::Device> devices_;
  std::vector<bool> busy_;
  std::mutex mutex_;
  std::condition_variable freed_;
};

}  // namespace samplersearch
