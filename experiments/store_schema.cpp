// The trial store's schema: header, layout and opening the columns (experiments/store_schema.hpp).
#include "store_schema.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/sha256.hpp"

namespace samplersearch::store_detail {

using nlohmann::json;

Handle state_type(hid_t base) {
  Handle t(H5Tenum_create(base), "H5Tenum_create");
  for (const TrialStateEntry& e : trial_state_table()) {
    const auto v = static_cast<int8_t>(e.state);
    h5(H5Tenum_insert(t, std::string(e.name).c_str(), &v), "H5Tenum_insert");
  }
  return t;
}

// Checks a layout before anything is created; fills in a missing hash.
StoreLayout checked_layout(StoreLayout layout) {
  if (layout.steps < 1)
    throw ConfigError("steps", "must be at least 1, got " + std::to_string(layout.steps));
  if (!layout.schedule) throw ConfigError("schedule", "is missing");
  for (size_t k = 0; k < layout.sample_counts.size(); ++k)
    if (layout.sample_counts[k] < 1 ||
        (k && layout.sample_counts[k] <= layout.sample_counts[k - 1]))
      throw ConfigError("sample_counts", "must be positive and increasing");
  const std::string hash = sha256_hex(layout.experiment);
  if (layout.experiment_hash.empty()) layout.experiment_hash = hash;
  if (layout.experiment_hash != hash)
    throw ConfigError("experiment_hash",
                      "is not the SHA-256 of the experiment text (expected " + hash + ")");
  return layout;
}

// Writes the fixed part of a new store and creates every column (before SWMR starts).
void write_layout(hid_t file, const StoreLayout& layout) {
  write_string_attr(file, "format", kFormat);
  write_int_attr(file, "format_version", kFormatVersion);
  write_string_attr(file, "experiment_hash", layout.experiment_hash);
  write_int_attr(file, "steps", layout.steps);
  write_string_attr(file, "schedule", std::string(layout.schedule->name()));
  write_string_attr(file, "schedule_params", layout.schedule->params().dump());
  {
    Handle type = utf8_string_type();
    Handle space(H5Screate(H5S_SCALAR), "H5Screate");
    Handle ds(H5Dcreate2(file, "experiment", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              "create dataset experiment");
    const char* p = layout.experiment.c_str();
    h5(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "write experiment");
  }
  const hsize_t counts[1] = {layout.sample_counts.size()};
  write_dataset(file, "sample_counts", H5T_STD_I64LE, H5T_NATIVE_INT64, counts,
                layout.sample_counts.data());
  const auto n = static_cast<hsize_t>(layout.steps);
  const hsize_t f = layout.sample_counts.size();
  const int64_t no_row = -1;
  const std::array<int64_t, 2> no_span{-1, -1};
  auto f64 = [&](hid_t g, const char* name, std::vector<hsize_t> inner) {
    create_column(g, name, H5T_IEEE_F64LE, inner, &kNaN, H5T_NATIVE_DOUBLE);
  };
  auto span = [&](hid_t g, const char* name) {
    create_column(g, name, H5T_STD_I64LE, {2}, no_span.data(), H5T_NATIVE_INT64);
  };
  {
    Handle g(H5Gcreate2(file, "trials", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /trials");
    Handle st = state_type(H5T_STD_I8LE);
    const int8_t fail = static_cast<int8_t>(TrialState::fail);
    Handle native_st = state_type(H5T_NATIVE_INT8);
    create_column(g, "state", st, {}, &fail, native_st);
    f64(g, "value", {});
    f64(g, "intermediate", {f});
    f64(g, "started", {});
    f64(g, "seconds", {});
    f64(g, "timesteps", {n + 1});
    f64(g, "C", {n + 1, n});
    f64(g, "B", {n + 1, n + 1});
    for (const char* s : {"params", "device", "reason", "warm_start", "solver", "options"})
      span(g, s);
    const uint8_t zero = 0;
    create_column(g, "text", H5T_STD_U8LE, {}, &zero, H5T_NATIVE_UINT8);
    create_column(g, "number", H5T_STD_I64LE, {}, &no_row, H5T_NATIVE_INT64);
  }
  {
    Handle g(H5Gcreate2(file, "baselines", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "create /baselines");
    f64(g, "value", {});
    f64(g, "validation", {});
    f64(g, "timesteps", {n + 1});
    f64(g, "C", {n + 1, n});
    f64(g, "B", {n + 1, n + 1});
    for (const char* s : {"solver", "options"}) span(g, s);
    const uint8_t zero = 0;
    create_column(g, "text", H5T_STD_U8LE, {}, &zero, H5T_NATIVE_UINT8);
    span(g, "label");
  }
  {
    Handle g(H5Gcreate2(file, "validations", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             "create /validations");
    f64(g, "value", {});
    create_column(g, "trial", H5T_STD_I64LE, {}, &no_row, H5T_NATIVE_INT64);
  }
}

Header read_header(hid_t file) {
  if (!has_attr(file, "format"))
    throw NotAStore("is an HDF5 file but not a samplersearch trial store (no 'format' attribute)");
  const std::string format = read_attr_string(file, "format");
  if (format != kFormat)
    throw NotAStore("is an HDF5 file but not a samplersearch trial store (format is '" + format +
                    "')");
  const int64_t version = read_attr_int(file, "format_version");
  if (version != kFormatVersion)
    throw NotAStore("trial store format_version is " + std::to_string(version) +
                    ", this build reads " + std::to_string(kFormatVersion));
  Header h;
  h.experiment_hash = read_attr_string(file, "experiment_hash");
  const int64_t steps = read_attr_int(file, "steps");
  if (steps < 1 || steps > 100000)
    throw NotAStore("damaged trial store: steps is " + std::to_string(steps));
  h.steps = static_cast<int>(steps);
  const std::string sched = read_attr_string(file, "schedule");
  const std::string sched_params = read_attr_string(file, "schedule_params");
  try {
    h.schedule = make_schedule(sched, json::parse(sched_params));
  } catch (const json::exception& e) {
    throw NotAStore(std::string("damaged trial store: schedule_params is not JSON: ") + e.what());
  } catch (const ConfigError& e) {
    throw NotAStore(std::string("trial store schedule: ") + e.what());
  }
  // A root dataset the header needs; NotAStore naming it when it is missing.
  const auto required = [&](const char* name) {
    if (!has_object(file, name))
      throw NotAStore(std::string("damaged trial store: dataset '/") + name + "' is missing");
    return Handle(H5Dopen2(file, name, H5P_DEFAULT), std::string("open /") + name);
  };
  h.experiment = read_string(required("experiment"), false, "dataset '/experiment'");
  if (sha256_hex(h.experiment) != h.experiment_hash)
    throw NotAStore("damaged trial store: experiment_hash does not match the stored experiment");
  {
    const Handle ds = required("sample_counts");
    const std::vector<hsize_t> dims = dataset_dims(ds);
    if (dims.size() != 1) throw NotAStore("damaged trial store: '/sample_counts' is not 1-D");
    h.sample_counts.resize(dims[0]);
    read_dataset(ds, H5T_NATIVE_INT64, h.sample_counts.data(), "/sample_counts");
  }
  return h;
}

Columns open_columns(hid_t file, const Header& h) {
  Columns c;
  const auto n = static_cast<hsize_t>(h.steps);
  const hsize_t f = h.sample_counts.size();
  for (const char* g : {"trials", "baselines", "validations"})
    if (!has_object(file, g))
      throw NotAStore(std::string("damaged trial store: group '/") + g + "' is missing");
  Handle tg(H5Gopen2(file, "trials", H5P_DEFAULT), "open /trials");
  Handle bg(H5Gopen2(file, "baselines", H5P_DEFAULT), "open /baselines");
  Handle vg(H5Gopen2(file, "validations", H5P_DEFAULT), "open /validations");
  std::vector<hsize_t> lengths;
  std::vector<hid_t> datasets;
  auto col = [&](hid_t g, const std::string& gname, const char* name, std::vector<hsize_t> inner) {
    hsize_t len = 0;
    Column c1 = open_column(g, gname, name, inner, len);
    lengths.push_back(len);
    datasets.push_back(c1.ds.get());
    return c1;
  };
  // Every column must reach the commit column. A SWMR reader can still hold an older view of a
  // column's extent (HDF5 caches metadata it read earlier, e.g. with the group); H5Drefresh
  // re-reads it. A column still short after that is damage.
  auto check_lengths = [&](hsize_t committed, const char* gname) {
    for (size_t i = 0; i < lengths.size(); ++i) {
      for (int attempt = 0; lengths[i] < committed && attempt < 100; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (H5Drefresh(datasets[i]) < 0) {
          H5Eclear2(H5E_DEFAULT);
          break;
        }
        Handle space(H5Dget_space(datasets[i]), "H5Dget_space");
        hsize_t dims[4] = {0, 0, 0, 0};
        H5Sget_simple_extent_dims(space, dims, nullptr);
        lengths[i] = dims[0];
      }
      if (lengths[i] < committed)
        throw NotAStore(std::string("damaged trial store: a column of /") + gname + " has " +
                        std::to_string(lengths[i]) + " rows, the commit column " +
                        std::to_string(committed));
    }
    lengths.clear();
    datasets.clear();
  };
  // Rows committed in a commit column: its length, cut at the first row still -1. The commit
  // column is opened FIRST: a SWMR reader sees each dataset as it is when it opens it, and every
  // other column was grown before the commit column, so opened later it is at least as long.
  auto committed_rows = [&](Column& commit, hid_t g, const std::string& gname, const char* name,
                            std::vector<hsize_t> inner) {
    hsize_t len = 0;
    commit = open_column(g, gname, name, inner, len);
    const auto v = get_rows<int64_t>(commit, len, H5T_NATIVE_INT64);
    const size_t stride = inner.empty() ? 1 : inner[0];
    hsize_t k = 0;
    while (k < len && v[k * stride] >= 0) ++k;
    return k;
  };
  TrialColumns& t = c.t;
  c.n_trials = committed_rows(t.number, tg, "trials", "number", {});
  t.state = col(tg, "trials", "state", {});
  t.value = col(tg, "trials", "value", {});
  t.intermediate = col(tg, "trials", "intermediate", {f});
  t.started = col(tg, "trials", "started", {});
  t.seconds = col(tg, "trials", "seconds", {});
  t.timesteps = col(tg, "trials", "timesteps", {n + 1});
  t.C = col(tg, "trials", "C", {n + 1, n});
  t.B = col(tg, "trials", "B", {n + 1, n + 1});
  t.params = col(tg, "trials", "params", {2});
  t.device = col(tg, "trials", "device", {2});
  t.reason = col(tg, "trials", "reason", {2});
  t.warm_start = col(tg, "trials", "warm_start", {2});
  t.solver = col(tg, "trials", "solver", {2});
  t.options = col(tg, "trials", "options", {2});
  t.text.heap = col(tg, "trials", "text", {});
  t.text.size = lengths.back();
  lengths.pop_back();
  datasets.pop_back();
  check_lengths(c.n_trials, "trials");
  BaselineColumns& b = c.b;
  c.n_baselines = committed_rows(b.label, bg, "baselines", "label", {2});
  b.value = col(bg, "baselines", "value", {});
  b.validation = col(bg, "baselines", "validation", {});
  b.timesteps = col(bg, "baselines", "timesteps", {n + 1});
  b.C = col(bg, "baselines", "C", {n + 1, n});
  b.B = col(bg, "baselines", "B", {n + 1, n + 1});
  b.solver = col(bg, "baselines", "solver", {2});
  b.options = col(bg, "baselines", "options", {2});
  b.text.heap = col(bg, "baselines", "text", {});
  b.text.size = lengths.back();
  lengths.pop_back();
  datasets.pop_back();
  check_lengths(c.n_baselines, "baselines");
  c.n_validations = committed_rows(c.v.trial, vg, "validations", "trial", {});
  c.v.value = col(vg, "validations", "value", {});
  check_lengths(c.n_validations, "validations");
  return c;
}

}  // namespace samplersearch::store_detail
