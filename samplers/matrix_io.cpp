#include "samplersearch/samplers/matrix_io.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/hdf5.hpp"
#include "samplersearch/samplers/naturaldiffusion.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;

// "origin: name", or just "name" when there is no origin.
std::string join(const std::string& origin, const std::string& name) {
  return origin.empty() ? name : origin + ": " + name;
}

std::string lower_ext(const std::string& path) {
  const auto dot = path.rfind('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

RowMatrix matrix_from_json(const json& j, const std::string& field, Eigen::Index rows,
                           Eigen::Index cols) {
  if (!j.is_array() || static_cast<Eigen::Index>(j.size()) != rows)
    throw ConfigError(field, "must be an array of " + std::to_string(rows) + " rows");
  RowMatrix m(rows, cols);
  for (Eigen::Index k = 0; k < rows; ++k) {
    const json& row = j[static_cast<size_t>(k)];
    if (!row.is_array() || static_cast<Eigen::Index>(row.size()) != cols)
      throw ConfigError(field + "[" + std::to_string(k) + "]",
                        "must be an array of " + std::to_string(cols) + " numbers");
    for (Eigen::Index c = 0; c < cols; ++c) {
      const json& v = row[static_cast<size_t>(c)];
      if (!v.is_number())
        throw ConfigError(field + "[" + std::to_string(k) + "][" + std::to_string(c) + "]",
                          "must be a number");
      m(k, c) = v.get<double>();
    }
  }
  return m;
}

json matrix_to_json(const RowMatrix& m) {
  json rows = json::array();
  for (Eigen::Index k = 0; k < m.rows(); ++k) {
    json row = json::array();
    for (Eigen::Index c = 0; c < m.cols(); ++c) row.push_back(m(k, c));
    rows.push_back(row);
  }
  return rows;
}

std::vector<std::string> split_cells(const std::string& line) {
  std::string clean = line;
  for (char& c : clean)
    if (c == '|' || c == '\t' || c == ',' || c == '&') c = ' ';
  std::istringstream in(clean);
  std::vector<std::string> cells;
  for (std::string cell; in >> cell;) cells.push_back(cell);
  return cells;
}

bool parse_number(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && std::isfinite(out);
}

// Writes a 1-D (cols == 0) or 2-D float64 dataset.
void write_dataset(hid_t f, const std::string& name, const double* data, hsize_t rows,
                   hsize_t cols) {
  const hsize_t dims[2] = {rows, cols};
  hdf5::write_dataset(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                      std::span<const hsize_t>(dims, cols == 0 ? 1 : 2), data);
}

std::string read_string_attr(hid_t f, const std::string& name, const std::string& path) {
  if (!hdf5::has_attr(f, name.c_str())) throw FileError(path, "missing attribute '" + name + "'");
  return hdf5::read_attr_string(f, name.c_str());
}

// The largest dataset a matrix file holds: B of 4095 steps, 4096×4096 values.
constexpr hsize_t kMaxDatasetValues = hsize_t{1} << 24;

std::vector<double> read_dataset(hid_t f, const std::string& name, const std::string& path,
                                 std::vector<hsize_t>& dims) {
  if (!hdf5::has_object(f, name)) throw FileError(path, "missing dataset '" + name + "'");
  const hdf5::Handle ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT), "open dataset " + name);
  dims = hdf5::dataset_dims(ds);
  // A corrupt or hostile file can claim any extent; refuse one larger than a matrix file can be
  // before allocating (found by tests/fuzz/fuzz_matrices_hdf5).
  hsize_t total = 1;
  for (hsize_t d : dims) {
    if (d != 0 && total > kMaxDatasetValues / d)
      throw FileError(path, "dataset '" + name + "' claims more than " +
                                std::to_string(kMaxDatasetValues) +
                                " values (at most 4095 steps); the file is damaged");
    total *= d;
  }
  std::vector<double> data(total);
  hdf5::read_dataset(ds, H5T_NATIVE_DOUBLE, data.data(), "dataset " + name);
  return data;
}

}  // namespace

json matrices_to_json(const Matrices& m) {
  json alpha = json::array(), sigma = json::array();
  for (double t : m.times) {
    alpha.push_back(m.schedule->alpha(t));
    sigma.push_back(m.schedule->sigma(t));
  }
  return {{"format_version", kFormatVersion},
          {"solver", m.solver},
          {"options", m.options.is_null() ? json::object() : m.options},
          {"schedule", std::string(m.schedule->name())},
          {"schedule_params", m.schedule->params()},
          {"timesteps", m.times},
          {"alpha", alpha},
          {"sigma", sigma},
          {"signal", matrix_to_json(m.signal)},
          {"noise", matrix_to_json(m.noise)}};
}

Matrices matrices_from_json(const json& j, const std::string& origin) {
  if (!j.is_object())
    throw ConfigError(origin.empty() ? "matrices" : origin, "must be a JSON object");
  auto field = [&](const char* name) -> const json& {
    if (!j.contains(name)) throw ConfigError(join(origin, name), "is missing");
    return j.at(name);
  };
  if (j.contains("format_version") && j["format_version"] != kFormatVersion)
    throw ConfigError(join(origin, "format_version"), "is " + j["format_version"].dump() +
                                                          ", this build reads " +
                                                          std::to_string(kFormatVersion));
  Matrices m;
  const json& sched = field("schedule");
  if (!sched.is_string()) throw ConfigError(join(origin, "schedule"), "must be a string");
  m.schedule = make_schedule(sched.get<std::string>(), j.value("schedule_params", json()));
  const json& ts = field("timesteps");
  if (!ts.is_array() || ts.size() < 2)
    throw ConfigError(join(origin, "timesteps"), "must be an array of N+1 >= 2 numbers");
  for (const json& t : ts) {
    if (!t.is_number()) throw ConfigError(join(origin, "timesteps"), "must hold numbers only");
    m.times.push_back(t.get<double>());
  }
  const auto n = static_cast<Eigen::Index>(m.times.size()) - 1;
  m.signal = matrix_from_json(field("signal"), join(origin, "signal"), n + 1, n);
  m.noise = matrix_from_json(field("noise"), join(origin, "noise"), n + 1, n + 1);
  m.solver = j.value("solver", "");
  m.options = j.value("options", json::object());
  m.validate(origin.empty() ? "matrices" : origin);
  // Row k ≥ 1 of C gives the sample at t_k its signal coefficient (α(t_k) for a consistent
  // sampler): a row summing to 0 would produce pure noise there.
  for (Eigen::Index k = 1; k <= n; ++k)
    if (m.signal.row(k).sum() == 0.0)
      throw ConfigError(join(origin, "signal"),
                        "row " + std::to_string(k) +
                            " sums to 0 (row k sums to the signal coefficient of the sample at "
                            "t_k, α(t_k) for a consistent sampler)");
  return m;
}

double table_row_scale(const Matrices& m, Eigen::Index k) {
  const double diag = m.signal(k, k - 1);
  const double sum = m.signal.row(k).sum();
  return std::abs(diag) > 1e-12 ? diag : (std::abs(sum) > 1e-12 ? sum : 1.0);
}

std::vector<std::vector<std::string>> matrices_table_cells(const Matrices& m, int digits) {
  const Eigen::Index n = m.signal.cols();
  auto fixed = [digits](double v) {
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(digits);
    out << v;
    return out.str();
  };
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"time"};
  for (Eigen::Index k = 1; k <= n; ++k) header.push_back(fixed(m.times[static_cast<size_t>(k)]));
  header.emplace_back("marginal coeff");
  rows.push_back(std::move(header));
  for (Eigen::Index k = 1; k <= n; ++k) {
    const double scale = table_row_scale(m, k);
    std::vector<std::string> row{fixed(m.times[static_cast<size_t>(k)])};
    for (Eigen::Index j = 0; j < n; ++j) {
      const double v = m.signal(k, j) / scale;
      row.push_back(fixed(std::abs(v) < 0.5 * std::pow(10.0, -digits) ? 0.0 : v));
    }
    row.push_back(fixed(m.schedule->alpha(m.times[static_cast<size_t>(k)])));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string matrices_to_table(const Matrices& m, int digits) {
  std::string out;
  for (const auto& row : matrices_table_cells(m, digits)) {
    for (size_t c = 0; c < row.size(); ++c) out += (c ? "\t" : "") + row[c];
    out += '\n';
  }
  return out;
}

Matrices matrices_from_table(std::string_view text, std::shared_ptr<const Schedule> schedule,
                             const std::vector<double>& times, const std::string& origin) {
  std::istringstream in{std::string(text)};
  std::vector<std::vector<double>> rows;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const auto cells = split_cells(line);
    if (cells.empty() || cells[0] == "time" || cells[0].find("---") != std::string::npos) continue;
    std::vector<double> row;
    for (const std::string& c : cells) {
      double v;
      if (!parse_number(c, v))
        throw ConfigError(join(origin, "line " + std::to_string(line_no)),
                          "'" + c + "' is not a number");
      row.push_back(v);
    }
    rows.push_back(row);
  }
  const auto n = static_cast<Eigen::Index>(rows.size());
  if (n < 1)
    throw ConfigError(origin.empty() ? "table" : origin,
                      "has no rows (expected: time, N coefficients, marginal coeff)");
  for (Eigen::Index k = 0; k < n; ++k)
    if (static_cast<Eigen::Index>(rows[static_cast<size_t>(k)].size()) != n + 2)
      throw ConfigError(join(origin, "row " + std::to_string(k + 1)),
                        "has " + std::to_string(rows[static_cast<size_t>(k)].size()) +
                            " cells, expected time + " + std::to_string(n) +
                            " coefficients + marginal coeff");
  Matrices m;
  m.schedule = schedule;
  if (static_cast<Eigen::Index>(times.size()) == n + 1) {
    m.times = times;
    for (Eigen::Index k = 1; k <= n; ++k) {
      const double tab = rows[static_cast<size_t>(k - 1)][0];
      if (std::abs(tab - times[static_cast<size_t>(k)]) > 5e-3 * std::max(1.0, std::abs(tab)))
        throw ConfigError(join(origin, "row " + std::to_string(k)),
                          "time " + std::to_string(tab) + " does not match t_" + std::to_string(k) +
                              " = " + std::to_string(times[static_cast<size_t>(k)]));
    }
  } else if (times.size() == 1) {
    m.times = {times[0]};
    for (const auto& r : rows) m.times.push_back(r[0]);
  } else {
    throw ConfigError(
        origin.empty() ? "table" : origin,
        "needs the N+1 = " + std::to_string(n + 1) + " times of its rows, or t_0 alone");
  }
  m.signal = RowMatrix::Zero(n + 1, n);
  m.noise = RowMatrix::Zero(n + 1, n + 1);
  m.noise(0, 0) = schedule->prior_std(m.times[0]);
  for (Eigen::Index k = 1; k <= n; ++k) {
    const auto& r = rows[static_cast<size_t>(k - 1)];
    const double t = m.times[static_cast<size_t>(k)];
    const double alpha = schedule->alpha(t);
    if (std::abs(r.back() - alpha) > 5e-3)
      throw ConfigError(join(origin, "row " + std::to_string(k)),
                        "marginal coeff " + std::to_string(r.back()) + " differs from α(" +
                            std::to_string(t) + ") = " + std::to_string(alpha) + " of " +
                            std::string(schedule->name()));
    double sum = 0;
    for (Eigen::Index j = 0; j < n; ++j) {
      const double v = r[static_cast<size_t>(j) + 1];
      if (j >= k && v != 0.0)
        throw ConfigError(join(origin, "row " + std::to_string(k)),
                          "column " + std::to_string(j + 1) + " is right of the diagonal");
      sum += v;
    }
    if (std::abs(sum) < 1e-12)
      throw ConfigError(join(origin, "row " + std::to_string(k)), "coefficients sum to 0");
    for (Eigen::Index j = 0; j < k; ++j)
      m.signal(k, j) = r[static_cast<size_t>(j) + 1] / sum * alpha;
    m.noise(k, 0) = schedule->sigma(t);
  }
  m.solver = "table";
  m.options = json::object();
  m.validate(origin.empty() ? "table" : origin);
  return m;
}

void write_matrices(const Matrices& m, const std::string& path) {
  const std::string ext = lower_ext(path);
  if (ext == "json") {
    std::ofstream out(path);
    if (!out) throw FileError(path, "cannot open for writing");
    out << matrices_to_json(m).dump(2) << '\n';
    if (!out) throw FileError(path, "write failed");
  } else if (ext == "h5" || ext == "hdf5") {
    try {
      const hdf5::Hdf5Lock lock;
      const hdf5::Handle f = hdf5::create_file(path);
      write_dataset(f, "timesteps", m.times.data(), m.times.size(), 0);
      std::vector<double> alpha, sigma;
      for (double t : m.times) {
        alpha.push_back(m.schedule->alpha(t));
        sigma.push_back(m.schedule->sigma(t));
      }
      write_dataset(f, "alpha", alpha.data(), alpha.size(), 0);
      write_dataset(f, "sigma", sigma.data(), sigma.size(), 0);
      write_dataset(f, "signal", m.signal.data(), static_cast<hsize_t>(m.signal.rows()),
                    static_cast<hsize_t>(m.signal.cols()));
      write_dataset(f, "noise", m.noise.data(), static_cast<hsize_t>(m.noise.rows()),
                    static_cast<hsize_t>(m.noise.cols()));
      const auto text = [&](const char* name, const std::string& value) {
        hdf5::write_string_attr(f, name, value, hdf5::Text::ascii_fixed);
      };
      text("solver", m.solver);
      text("schedule", std::string(m.schedule->name()));
      text("schedule_params", m.schedule->params().dump());
      text("options", (m.options.is_null() ? json::object() : m.options).dump());
      text("format_version", std::to_string(kFormatVersion));
    } catch (const hdf5::Hdf5Failure& e) {
      throw FileError(path, std::string("HDF5 write failed: ") + e.what());
    }
  } else if (ext == "npz") {
    const std::string bytes = npz_bytes(matrices_to_naturaldiffusion(m));
    std::ofstream out(path, std::ios::binary);
    if (!out) throw FileError(path, "cannot open for writing");
    out << bytes;
    if (!out.flush()) throw FileError(path, "write failed");
  } else if (ext == "txt" || ext == "tsv" || ext == "md") {
    std::ofstream out(path);
    if (!out) throw FileError(path, "cannot open for writing");
    out << matrices_to_table(m);
  } else {
    throw ConfigError(path, "unknown matrix file extension '." + ext +
                                "' (valid: .json, .h5, .hdf5, .npz, .txt, .tsv, .md)");
  }
}

Matrices read_matrices(const std::string& path, std::shared_ptr<const Schedule> schedule) {
  const std::string ext = lower_ext(path);
  if (ext == "npz") {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path, "cannot open");
    std::stringstream bytes;
    bytes << in.rdbuf();
    return matrices_from_naturaldiffusion(parse_npz(bytes.str(), path), schedule, path);
  }
  if (ext == "json") {
    std::ifstream in(path);
    if (!in) throw FileError(path, "cannot open");
    json j;
    try {
      in >> j;
    } catch (const json::exception& e) {
      throw FileError(path, std::string("not valid JSON: ") + e.what());
    }
    try {
      return matrices_from_json(j, "");
    } catch (const ConfigError& e) {
      throw FileError(path, e.what());
    }
  }
  if (ext == "h5" || ext == "hdf5") {
    try {
      const hdf5::Hdf5Lock lock;
      const hdf5::Handle f = hdf5::open_file_read(path);
      json j;
      std::vector<hsize_t> dims;
      j["timesteps"] = read_dataset(f, "timesteps", path, dims);
      const auto n = static_cast<hsize_t>(j["timesteps"].size()) - 1;
      auto mat = [&](const char* name, hsize_t cols) {
        const std::vector<double> d = read_dataset(f, name, path, dims);
        if (dims.size() != 2 || dims[0] != n + 1 || dims[1] != cols)
          throw FileError(path, std::string("dataset '") + name + "' must be " +
                                    std::to_string(n + 1) + "×" + std::to_string(cols));
        json rows = json::array();
        for (hsize_t k = 0; k <= n; ++k)
          rows.push_back(std::vector<double>(d.begin() + static_cast<long>(k * cols),
                                             d.begin() + static_cast<long>((k + 1) * cols)));
        return rows;
      };
      j["signal"] = mat("signal", n);
      j["noise"] = mat("noise", n + 1);
      j["solver"] = read_string_attr(f, "solver", path);
      j["schedule"] = read_string_attr(f, "schedule", path);
      j["schedule_params"] = json::parse(read_string_attr(f, "schedule_params", path));
      j["options"] = json::parse(read_string_attr(f, "options", path));
      return matrices_from_json(j, "");
    } catch (const hdf5::Hdf5Failure& e) {
      throw FileError(path, std::string("not a readable HDF5 matrix file: ") + e.what());
    } catch (const json::exception& e) {
      throw FileError(path, std::string("bad JSON attribute: ") + e.what());
    } catch (const ConfigError& e) {
      throw FileError(path, e.what());
    }
  }
  throw ConfigError(
      path, "unknown matrix file extension '." + ext + "' (valid: .json, .h5, .hdf5, .npz)");
}

}  // namespace samplersearch
