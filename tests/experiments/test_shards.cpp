// Shards of a shared study: merged by trial number with their host, a trial settled in two shards
// kept once, shards of another experiment refused, directories expanded; SQLite refused on a
// network file system; trials of a shard without a writer settled with what the shard stored.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/shards.hpp"
#include "samplersearch/samplers/schedule.hpp"
#include "samplersearch/search/loop.hpp"
#include "samplersearch/search/optuna_bridge.hpp"
#include "samplersearch/search/shared_study.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;

StoreLayout layout(const std::string& experiment) {
  StoreLayout l;
  l.experiment = experiment;
  l.experiment_hash = sha256_hex(experiment);
  l.schedule = make_schedule("vp-linear");
  l.steps = 2;
  l.sample_counts = {100};
  return l;
}

TrialRecord trial(int number, TrialState state, double value, const std::string& device) {
  TrialRecord r;
  r.number = number;
  r.state = state;
  r.device = device;
  if (state == TrialState::complete) {
    r.value = value;
    r.intermediate = {{100, value}};
  }
  if (state == TrialState::fail) r.reason = kInterruptedReason;
  return r;
}

class Shards : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ss_shards_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "exp");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Shards, MergedByNumberWithHostsAndOneRecordPerTrial) {
  const std::string a = (dir_ / "exp" / "node1-10.h5").string();
  const std::string b = (dir_ / "exp" / "node2-20.h5").string();
  {
    auto s = TrialStore::create(a, layout("{\"name\": \"e\"}"));
    s->write(trial(0, TrialState::complete, 3.5, "cpu"));
    s->write(trial(2, TrialState::fail, 0, "cpu"));  // interrupted here, settled by node2
    s->write(trial(3, TrialState::complete, 1.25, "cpu"));
    auto t = TrialStore::create(b, layout("{\"name\": \"e\"}"));
    t->write(trial(1, TrialState::complete, 2.0, "cuda:0"));
    t->write(trial(2, TrialState::complete, 0.5, "cuda:1"));
  }
  const std::vector<std::string> files = store_files({(dir_ / "exp").string()});
  ASSERT_EQ(files, (std::vector<std::string>{a, b}));
  const StoreContents c = read_stores(files);
  ASSERT_EQ(c.trials.size(), 4u);
  const int numbers[] = {0, 1, 2, 3};
  const char* hosts[] = {"node1-10", "node2-20", "node2-20", "node1-10"};
  const double values[] = {3.5, 2.0, 0.5, 1.25};
  const char* devices[] = {"cpu", "cuda:0", "cuda:1", "cpu"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(c.trials[i].number, numbers[i]);
    EXPECT_EQ(c.trials[i].host, hosts[i]);
    EXPECT_EQ(c.trials[i].device, devices[i]);
    EXPECT_EQ(*c.trials[i].value, values[i]);
  }
}

TEST_F(Shards, AnotherExperimentIsRefusedNamingTheFile) {
  const std::string a = (dir_ / "a.h5").string(), b = (dir_ / "b.h5").string();
  TrialStore::create(a, layout("{\"name\": \"e\"}"));
  TrialStore::create(b, layout("{\"name\": \"f\"}"));
  try {
    read_stores({a, b});
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(b + ": holds another experiment than " + a, 0), 0u)
        << e.what();
  }
  try {
    store_files({(dir_ / "missing").string()});
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), (dir_ / "missing").string() + ": does not exist");
  }
  try {
    store_files({(dir_ / "exp").string()});
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir_ / "exp").string() + ": is a directory without trial stores (*.h5)");
  }
}

TEST_F(Shards, NamesAndDirectories) {
  EXPECT_EQ(shard_directory("runs/x.h5"), "runs/x");
  EXPECT_EQ(shard_directory("runs/x"), "runs/x");
  const std::string name = shard_name();
  EXPECT_EQ(name.substr(name.rfind('-') + 1), std::to_string(getpid()));
  EXPECT_EQ(shard_of("/a/b/node1-10.h5"), "node1-10");
}

// Two RUNNING trials of shard node2, whose process is gone (its store has no writer): the one it
// stored as FAIL is told FAIL with the stored fail_reason, the COMPLETE one with its value.
TEST_F(Shards, SettledTrialsCarryWhatTheirShardStored) {
  OptunaBridge study;
  StudyConfig config;
  config.sampler = "random";
  study.create_study(config);
  const std::vector<Distribution> space = {Distribution::floating("x", 0.0, 1.0, false)};
  const int failed = study.ask(space).number, completed = study.ask(space).number;
  for (const int n : {failed, completed}) study.set_user_attr(n, "shard", "node2");
  {
    auto store = TrialStore::create((dir_ / "node2.h5").string(), layout("{\"name\": \"e\"}"));
    TrialRecord f = trial(failed, TrialState::fail, 0, "cpu");
    f.reason = "NaN or Inf in the samples";
    store->write(f);
    store->write(trial(completed, TrialState::complete, 0.75, "cpu"));
  }  // closed: the shard has no writer any more
  const std::vector<std::string> log = settle_stale_trials(study, dir_.string(), "node1");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], "trial " + std::to_string(failed) +
                        " of node2: its shard has no writer any more; its shard had stored it, "
                        "told Optuna the stored result");
  const std::vector<FrozenTrial> trials = study.trials();
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::fail);
  EXPECT_EQ(trials[0].user_attrs.value("fail_reason", std::string()), "NaN or Inf in the samples");
  EXPECT_EQ(trials[1].state, TrialState::complete);
  ASSERT_EQ(trials[1].values.size(), 1u);
  EXPECT_EQ(trials[1].values[0], 0.75);
}

TEST(SharedStorage, KindsAndSqliteOnALocalDisk) {
  EXPECT_TRUE(is_shared_storage("postgresql://u@h/db"));
  EXPECT_TRUE(is_shared_storage("postgresql+psycopg2://u@h/db"));
  EXPECT_TRUE(is_shared_storage("journal:///shared/x.log"));
  EXPECT_FALSE(is_shared_storage("sqlite:///tmp/x.db"));
  EXPECT_FALSE(is_shared_storage(""));
  // /tmp and /proc are local: no error, and "" as their network file system.
  EXPECT_EQ(network_filesystem(fs::temp_directory_path().string()), "");
  EXPECT_EQ(network_filesystem("/proc/self"), "");
  EXPECT_NO_THROW(
      check_storage_placement("sqlite:///" + (fs::temp_directory_path() / "x.db").string()));
}

}  // namespace
}  // namespace samplersearch
