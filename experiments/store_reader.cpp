// Decoding a trial store into StoreContents, as a SWMR reader sees it (works while a writer is
// active and after it was killed; experiments/store_schema.hpp).
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "samplersearch/common/error.hpp"
#include "store_schema.hpp"

namespace samplersearch::store_detail {

using nlohmann::json;

namespace {

// Matrices i of a group from its flat columns; nullopt when the options span is empty.
std::optional<Matrices> matrices_at(size_t i, int steps, const std::vector<double>& times,
                                    const std::vector<double>& C, const std::vector<double>& B,
                                    const std::string& solver, const std::string& options,
                                    const std::shared_ptr<const Schedule>& schedule) {
  if (options.empty()) return std::nullopt;
  const auto n = static_cast<size_t>(steps);
  Matrices m;
  m.schedule = schedule;
  m.times.assign(times.begin() + static_cast<long>(i * (n + 1)),
                 times.begin() + static_cast<long>((i + 1) * (n + 1)));
  m.signal = Eigen::Map<const RowMatrix>(C.data() + i * (n + 1) * n, static_cast<long>(n + 1),
                                         static_cast<long>(n));
  m.noise = Eigen::Map<const RowMatrix>(B.data() + i * (n + 1) * (n + 1), static_cast<long>(n + 1),
                                        static_cast<long>(n + 1));
  m.solver = solver;
  try {
    m.options = json::parse(options);
  } catch (const json::exception& e) {
    throw NotAStore(std::string("damaged trial store: matrix options are not JSON: ") + e.what());
  }
  return m;
}

}  // namespace

// Reads the whole store from an open file.
StoreContents read_contents(hid_t file, Header* header_out) {
  Header h = read_header(file);
  Columns c = open_columns(file, h);
  StoreContents out;
  out.experiment = h.experiment;
  out.experiment_hash = h.experiment_hash;
  out.steps = h.steps;
  out.sample_counts = h.sample_counts;
  const size_t f = h.sample_counts.size();
  {
    const BaselineColumns& b = c.b;
    const hsize_t m = c.n_baselines;
    const auto value = get_rows<double>(b.value, m, H5T_NATIVE_DOUBLE);
    const auto validation = get_rows<double>(b.validation, m, H5T_NATIVE_DOUBLE);
    const auto times = get_rows<double>(b.timesteps, m, H5T_NATIVE_DOUBLE);
    const auto C = get_rows<double>(b.C, m, H5T_NATIVE_DOUBLE);
    const auto B = get_rows<double>(b.B, m, H5T_NATIVE_DOUBLE);
    const auto label = get_rows<int64_t>(b.label, m, H5T_NATIVE_INT64);
    const auto solver = get_rows<int64_t>(b.solver, m, H5T_NATIVE_INT64);
    const auto options = get_rows<int64_t>(b.options, m, H5T_NATIVE_INT64);
    const std::string heap = read_heap(b.text);
    for (size_t i = 0; i < m; ++i) {
      Baseline bl;
      bl.label = span_text(label, i, heap, "/baselines/label");
      bl.value = value[i];
      bl.validation = validation[i];
      auto mat =
          matrices_at(i, h.steps, times, C, B, span_text(solver, i, heap, "/baselines/solver"),
                      span_text(options, i, heap, "/baselines/options"), h.schedule);
      if (mat) bl.matrices = std::move(*mat);
      out.baselines.push_back(std::move(bl));
    }
  }
  {
    const TrialColumns& t = c.t;
    const hsize_t m = c.n_trials;
    const auto number = get_rows<int64_t>(t.number, m, H5T_NATIVE_INT64);
    Handle st = state_type(H5T_NATIVE_INT8);
    const auto state = get_rows<int8_t>(t.state, m, st);
    const auto value = get_rows<double>(t.value, m, H5T_NATIVE_DOUBLE);
    const auto inter = get_rows<double>(t.intermediate, m, H5T_NATIVE_DOUBLE);
    const auto started = get_rows<double>(t.started, m, H5T_NATIVE_DOUBLE);
    const auto seconds = get_rows<double>(t.seconds, m, H5T_NATIVE_DOUBLE);
    const auto times = get_rows<double>(t.timesteps, m, H5T_NATIVE_DOUBLE);
    const auto C = get_rows<double>(t.C, m, H5T_NATIVE_DOUBLE);
    const auto B = get_rows<double>(t.B, m, H5T_NATIVE_DOUBLE);
    const auto params = get_rows<int64_t>(t.params, m, H5T_NATIVE_INT64);
    const auto device = get_rows<int64_t>(t.device, m, H5T_NATIVE_INT64);
    const auto reason = get_rows<int64_t>(t.reason, m, H5T_NATIVE_INT64);
    const auto warm = get_rows<int64_t>(t.warm_start, m, H5T_NATIVE_INT64);
    const auto solver = get_rows<int64_t>(t.solver, m, H5T_NATIVE_INT64);
    const auto options = get_rows<int64_t>(t.options, m, H5T_NATIVE_INT64);
    const std::string heap = read_heap(t.text);
    for (size_t i = 0; i < m; ++i) {
      TrialRecord r;
      r.number = static_cast<int>(number[i]);
      if (state[i] < 0 || state[i] > static_cast<int8_t>(TrialState::waiting))
        throw NotAStore("damaged trial store: trial state code " + std::to_string(state[i]));
      r.state = static_cast<TrialState>(state[i]);
      const std::string ptext = span_text(params, i, heap, "/trials/params");
      try {
        r.params = json::parse(ptext);
      } catch (const json::exception& e) {
        throw NotAStore("damaged trial store: params of trial " + std::to_string(r.number) +
                        " are not JSON: " + e.what());
      }
      r.matrices =
          matrices_at(i, h.steps, times, C, B, span_text(solver, i, heap, "/trials/solver"),
                      span_text(options, i, heap, "/trials/options"), h.schedule);
      for (size_t k = 0; k < f; ++k)
        if (!std::isnan(inter[i * f + k]))
          r.intermediate.emplace_back(h.sample_counts[k], inter[i * f + k]);
      if (!std::isnan(value[i])) r.value = value[i];
      r.started = started[i];
      r.seconds = seconds[i];
      r.device = span_text(device, i, heap, "/trials/device");
      r.reason = span_text(reason, i, heap, "/trials/reason");
      r.warm_start = span_text(warm, i, heap, "/trials/warm_start");
      out.trials.push_back(std::move(r));
    }
  }
  {
    const auto trial = get_rows<int64_t>(c.v.trial, c.n_validations, H5T_NATIVE_INT64);
    const auto value = get_rows<double>(c.v.value, c.n_validations, H5T_NATIVE_DOUBLE);
    for (size_t i = 0; i < trial.size(); ++i)
      out.validations[static_cast<int>(trial[i])] = value[i];
  }
  if (header_out) *header_out = std::move(h);
  return out;
}

Handle open_for_reading(const std::string& path) {
  Handle fapl = file_access();
  h5(H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
  if (f >= 0) return Handle(f);
  const std::string swmr_error = hdf5_error();
  f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  if (f >= 0) return Handle(f);
  throw Hdf5Failure("cannot open for reading: " + swmr_error);
}

// FileError for a path that does not exist or is not an HDF5 file, before HDF5 opens it.
void check_is_hdf5(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw FileError(path, "does not exist");
  if (std::filesystem::is_directory(path, ec)) throw FileError(path, "is a directory");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw FileError(path, "is not an HDF5 file");
  }
}

// The store's contents and schedule as a SWMR reader sees them.
StoreContents read_locked(const std::string& path, Header* header) {
  Hdf5Lock lock;
  check_is_hdf5(path);
  Handle file;
  try {
    file = open_for_reading(path);
  } catch (const Hdf5Failure& e) {
    throw FileError(path, e.what());
  }
  try {
    return read_contents(file, header);
  } catch (const Hdf5Failure& e) {
    throw FileError(path, std::string("damaged trial store: ") + e.what());
  } catch (const NotAStore& e) {
    throw FileError(path, e.what());
  }
}

}  // namespace samplersearch::store_detail
