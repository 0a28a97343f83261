#pragma once
// Shards of one experiment searched by several processes on one shared Optuna study
// (docs/cluster.md): each process writes its own HDF5 trial store, <dir>/<host>-<pid>.h5, and
// status, export, report and resume read the set as one experiment merged by trial number.
#include <string>
#include <vector>

#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

namespace samplersearch {

// The directory of a shared experiment's shards: its output without the .h5 extension.
std::string shard_directory(const std::string& output);
// This process's shard name: <host>-<pid> (host reduced to [A-Za-z0-9._-]); two hosts or two
// processes never share one.
std::string shard_name();
// The shard name of a shard file (its stem).
std::string shard_of(const std::string& path);
// True when the shard's store <directory>/<shard>.h5 exists and no process holds its writer lock
// (common/files.hpp; the kernel drops it when the writer dies, and a resume takes it again): its
// trials still RUNNING are orphans, whatever their heartbeats say (journal storage has none).
bool shard_writer_gone(const std::string& directory, const std::string& shard);

// The store files of command-line arguments: a directory stands for every *.h5 in it (sorted), a
// file for itself. FileError for a missing path or a directory without stores.
std::vector<std::string> store_files(const std::vector<std::string>& arguments);

// The stores merged into one experiment: trials by number (each with `host` = its shard), every
// baseline and validation once. FileError naming the file whose experiment differs from the
// first's. One file reads as read_store does (hosts left empty).
StoreContents read_stores(const std::vector<std::string>& files);

// Trials of the study whose shard's process stopped sending heartbeats, or whose shard has no
// writer any more (shard_writer_gone): one its shard stored is
// told to Optuna as stored (it is not run again or counted twice), the others become FAIL
// "interrupted" and their budget is asked again. Trials of `own` are left to the caller. Returns
// the messages to log.
std::vector<std::string> settle_stale_trials(OptunaBridge& study, const std::string& directory,
                                             const std::string& own);

}  // namespace samplersearch
