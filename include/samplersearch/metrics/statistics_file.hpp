#pragma once
// Statistics files (docs/equations.md §6): HDF5 with a float64 dataset `mu` (d) and a float64
// dataset `sigma` (d×d) at the root, and optional attributes `count` (int64, samples behind them)
// and `source` (string, what they were computed from). Feature files written by `samplersearch
// features` are statistics files too (they also hold `features`).
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

#include "samplersearch/metrics/statistics.hpp"

namespace samplersearch {

// Writes mu, sigma (as float64) and the count/source attributes to `path`, replacing it
// atomically (a temporary file in the same folder, then a rename). FileError if it cannot.
void write_statistics(const std::string& path, const Statistics& stats);

// Reads mu and sigma (any numeric HDF5 type, returned as float64) and the optional attributes.
// FileError naming the file and the missing or mis-shaped dataset.
Statistics read_statistics(const std::string& path);

// Statistics of a data set's features cached in `path`: reused when the file exists, reads
// cleanly and its `source` attribute equals `source`; otherwise features() [n, d] is called, its
// statistics computed and written to `path` (replacing a stale or unreadable file).
// `source` should name the data and the feature extractor (e.g. "fashion-mnist/train:pixels").
Statistics reference_statistics(const std::string& path, const std::string& source,
                                const std::function<at::Tensor()>& features);

}  // namespace samplersearch
