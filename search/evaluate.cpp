#include "samplersearch/search/evaluate.hpp"

#include <ATen/ATen.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {

ReferenceSamples::ReferenceSamples(Matrices matrices, const X0Model& model, uint64_t seed,
                                   SampleLayout layout)
    : matrices_(std::move(matrices)), model_(model), seed_(seed), layout_(std::move(layout)) {}

at::Tensor ReferenceSamples::chunk(int64_t first, int64_t count, c10::Device device) {
  const auto key = std::make_pair(first, count);
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  SampleLayout layout = layout_;
  layout.device = device;
  at::Tensor samples = run_engine(matrices_, model_, seed_, first, count, layout).to(at::kCPU);
  std::lock_guard lock(mutex_);
  return cache_.emplace(key, samples).first->second;
}

namespace {

// body(c) for c in [0, n), in parallel: oneTBB's parallel_for. Under ThreadSanitizer, std::threads
// instead: libtbb.so is not instrumented, so TSan would see every hand-over between its threads as
// a race (in TBB's own header code as much as ours) and none of the synchronization; on threads it
// sees, the chunk bodies below are checked as they are.
template <class Body>
void parallel_chunks(size_t n, const Body& body) {
#if defined(__SANITIZE_THREAD__)
  const size_t workers = std::min<size_t>(n, std::max(2u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t c = next++; c < n; c = next++) body(c);
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
#else
  tbb::parallel_for(size_t{0}, n, body);
#endif
}

}  // namespace

Evaluation evaluate(const Matrices& m, const Objective& o, DevicePool& pool, const ReportFn& report,
                    const ProgressFn& progress) {
  SS_CHECK(o.model != nullptr && o.metric != nullptr && o.chunk > 0);
  if (o.sample_counts.empty()) throw ConfigError("objective.samples", "needs at least one count");
  for (size_t i = 0; i < o.sample_counts.size(); ++i)
    if (o.sample_counts[i] <= 0 || o.sample_counts[i] % o.chunk != 0 ||
        (i > 0 && o.sample_counts[i] <= o.sample_counts[i - 1]))
      throw ConfigError("objective.samples",
                        "sample counts must increase and be multiples of the chunk size " +
                            std::to_string(o.chunk));
  const bool needs_ref = o.metric->needs_reference_samples();
  if (needs_ref && o.reference == nullptr)
    throw ConfigError("objective.reference",
                      "metric '" + std::string(o.metric->name()) + "' needs a reference sampler");
  Evaluation result;
  std::unique_ptr<MetricState> total = o.metric->start();
  int64_t done = 0;
  std::atomic<int64_t> drawn{0};
  std::mutex progress_mutex;
  for (size_t level = 0; level < o.sample_counts.size(); ++level) {
    const int64_t target = o.sample_counts[level];
    const auto n_chunks = static_cast<size_t>((target - done) / o.chunk);
    std::vector<std::unique_ptr<MetricState>> states(n_chunks);
    std::vector<std::exception_ptr> errors(n_chunks);
    std::atomic<bool> failed{false};  // the first error skips the level's remaining chunks
    auto run_chunk = [&](size_t c) {  // every exception is caught: the chunk's error
      if (failed.load()) return;
      try {
        if (progress) {
          std::lock_guard lock(progress_mutex);
          progress(drawn.load(), o.sample_counts.back());  // may throw to cancel the trial
        }
        const int64_t first = done + static_cast<int64_t>(c) * o.chunk;
        DevicePool::Lease lease = pool.acquire();
        SampleLayout layout = o.layout;
        layout.device = lease.device();
        const at::Tensor samples =
            run_engine(m, *o.model, o.seed, first, o.chunk, layout, o.engine).to(at::kCPU);
        const at::Tensor ref =
            needs_ref ? o.reference->chunk(first, o.chunk, lease.device()) : at::Tensor();
        auto state = o.metric->start();
        state->add(samples, ref);
        states[c] = std::move(state);
        if (progress) {
          std::lock_guard lock(progress_mutex);
          progress(drawn += o.chunk, o.sample_counts.back());
        }
      } catch (...) {
        errors[c] = std::current_exception();
        failed.store(true);
      }
    };
    parallel_chunks(n_chunks, run_chunk);
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    for (const auto& s : states) total->merge(*s);  // chunk order: independent of the workers
    done = target;
    result.value = total->value();
    if (!std::isfinite(result.value))
      throw NumericalError("metric '" + std::string(o.metric->name()) + "' is not finite");
    result.intermediate.emplace_back(done, result.value);
    if (level + 1 < o.sample_counts.size() && report && report(done, result.value)) {
      result.pruned = true;
      return result;
    }
  }
  return result;
}

}  // namespace samplersearch
