// The resume policy of the driver (decide_resume, require_same_experiment) on a real store: an
// unchanged experiment continues from where the store is, a changed one is refused with its
// difference unless forced, a field that defines the stored trials never changes, and a forced
// change is saved beside the store for later commands.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/driver.hpp"
#include "samplersearch/samplers/schedule.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ResumePolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ss_driver_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The embedded default with a budget of 3 trials, stored as if started elsewhere.
    experiment_ = make_experiment(json{{"budget", {{"trials", 3}}}, {"output", "elsewhere/x.h5"}},
                                  "the test");
    store_ = (dir_ / "moved.h5").string();
    const json& s = experiment_.doc.at("schedule");
    TrialStore::create(
        store_, StoreLayout{experiment_.text(),
                            experiment_.hash(),
                            make_schedule(s.at("name").get<std::string>(), s.at("params")),
                            experiment_.doc.at("steps").get<int>(),
                            {experiment_.doc.at("metric").at("samples").back().get<int64_t>()}});
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // The ConfigError message of decide_resume (fails the test when it does not throw).
  std::string refusal(const std::vector<std::string>& sets, bool force) {
    try {
      decide_resume(store_, read_store(store_), std::nullopt, sets, force);
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.field(), "experiment");
      return e.what();
    }
    ADD_FAILURE() << "decide_resume accepted " << ::testing::PrintToString(sets);
    return "";
  }
  fs::path dir_;
  Experiment experiment_;
  std::string store_;
};

TEST_F(ResumePolicy, UnchangedContinuesFromWhereTheStoreIsNow) {
  const ResumeDecision d = decide_resume(store_, read_store(store_), std::nullopt, {}, false);
  EXPECT_EQ(d.changes, "");
  EXPECT_EQ(d.experiment.doc.at("output"), store_);
  EXPECT_EQ(d.experiment.doc.at("budget").at("trials"), 3);
  EXPECT_FALSE(fs::exists(store_ + ".experiment.json"));
  EXPECT_EQ(stored_experiment(store_, read_store(store_)).doc, d.experiment.doc);
}

TEST_F(ResumePolicy, AChangeIsRefusedWithItsDifferenceUnlessForced) {
  EXPECT_EQ(refusal({"budget.trials=5"}, false),
            "experiment: differs from the one stored in " + store_ +
                ":\n  budget.trials: 3 → 5\nresume with --force to continue with the changed one");
  EXPECT_FALSE(fs::exists(store_ + ".experiment.json"));

  const ResumeDecision d =
      decide_resume(store_, read_store(store_), std::nullopt, {"budget.trials=5"}, true);
  EXPECT_EQ(d.changes, "  budget.trials: 3 → 5\n");
  EXPECT_EQ(d.experiment.doc.at("budget").at("trials"), 5);
  // Saved beside the store: the next resume, status or report runs under the revision.
  ASSERT_TRUE(fs::exists(store_ + ".experiment.json"));
  const json current = json::parse(current_experiment(store_, read_store(store_)));
  EXPECT_EQ(current.at("budget").at("trials"), 5);
  EXPECT_EQ(current.at("output"), "elsewhere/x.h5");  // the revision keeps the experiment's own
  EXPECT_EQ(decide_resume(store_, read_store(store_), std::nullopt, {}, false).changes, "");
}

TEST_F(ResumePolicy, FieldsThatDefineTheStoredTrialsNeverChange) {
  const int steps = experiment_.doc.at("steps").get<int>();
  EXPECT_EQ(refusal({"steps=" + std::to_string(steps + 1)}, true),
            "experiment: differs from the one stored in " + store_ +
                ":\n  steps: " + std::to_string(steps) + " → " + std::to_string(steps + 1) +
                "\nsteps cannot change on resume (the stored trials were made with it); start a "
                "new experiment instead");
  EXPECT_NE(refusal({"seed=77"}, true).find("\nseed cannot change on resume"), std::string::npos);
  EXPECT_FALSE(fs::exists(store_ + ".experiment.json"));
}

TEST_F(ResumePolicy, AnExperimentFileIsComparedWithTheStoredOne) {
  const std::string file = (dir_ / "exp.json").string();
  json doc = experiment_.doc;
  doc["optuna"]["sigma0"] = 0.3;
  std::ofstream(file) << doc.dump();
  try {
    decide_resume(store_, read_store(store_), file, {}, false);
    ADD_FAILURE() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("  optuna.sigma0: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(" → 0.3\n"), std::string::npos) << e.what();
  }
}

TEST_F(ResumePolicy, ASearchIntoAnExistingStoreNeedsTheSameExperiment) {
  require_same_experiment(store_, read_store(store_), experiment_, "--seeds");
  json doc = experiment_.doc;
  doc["budget"]["trials"] = 4;
  try {
    require_same_experiment(store_, read_store(store_), make_experiment(doc, "t"), "--seeds");
    ADD_FAILURE() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--seeds: " + store_ +
                  " holds another experiment:\n  budget.trials: 3 → 4\nmove it away or continue "
                  "it with 'samplersearch resume " +
                  store_ + "'");
  }
}

}  // namespace
}  // namespace samplersearch
