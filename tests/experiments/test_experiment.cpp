// Experiment files: defaults, every validation error's message, durations, diffs, hashes, and the
// shipped files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/experiment.hpp"
#include "samplersearch/experiments/trial_store.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

std::string source_dir() {
  const char* dir = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  return dir ? dir : ".";
}

// The message of the ConfigError that parsing `text` throws ("" if none).
std::string error_of(const std::string& text) {
  try {
    parse_experiment(text, "exp.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Experiment, EmptyFileGetsEveryDefault) {
  const Experiment e = parse_experiment("{}", "exp.json");
  for (const ExperimentField& f : experiment_fields()) {
    const json* node = &e.doc;
    std::string path(f.path);
    for (size_t start = 0;;) {
      const size_t dot = path.find('.', start);
      const std::string key =
          path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      ASSERT_TRUE(node->contains(key)) << f.path;
      node = &node->at(key);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    EXPECT_EQ(*node, f.default_value) << f.path;
  }
  EXPECT_EQ(e.doc["steps"], 10);
  EXPECT_EQ(e.doc["metric"]["samples"], json::array({1000}));
  EXPECT_EQ(e.doc["metric"]["params"], (json{{"metric", "fd"}, {"features", "classifier"}}));
  EXPECT_EQ(e.doc["optuna"]["sampler"], "cmaes");
}

TEST(Experiment, ErrorsNameTheFieldAndTheReason) {
  struct Case {
    const char* text;
    const char* expected;  // substring of the message
  };
  const Case cases[] = {
      {"{", "exp.json: not valid JSON"},
      // A number beyond double (nlohmann's out_of_range 406, not a parse_error).
      {R"({"seed": 1e600})", "exp.json: not valid JSON"},
      {"[1, 2]", "exp.json: an experiment file is a JSON object"},
      {R"({"space": {"optoins": {}}})",
       "exp.json: space.optoins: unknown field (valid here: name, options, warm_starts)"},
      {R"({"stpes": 5})", "exp.json: stpes: unknown field"},
      {R"({"steps": "ten"})", "exp.json: steps: must be an integer, got \"ten\""},
      {R"({"steps": 0})", "exp.json: steps: is 0, outside [1.0, 1000.0]"},
      {R"({"steps": 2.5})", "exp.json: steps: must be an integer"},
      {R"({"schedule": {"name": "vp-linaer"}})",
       "exp.json: schedule.name: unknown name 'vp-linaer' (valid: vp-linear,"},
      {R"({"schedule": "vp-linear"})", "exp.json: schedule: must be an object"},
      {R"({"metric": {"name": "fid"}})", "exp.json: metric.name: unknown name 'fid' (valid: fd,"},
      {R"({"metric": {"samples": [1000, 600]}})",
       "metric.samples: sample counts must be whole multiples of metric.chunk = 250, got 600"},
      {R"({"metric": {"samples": [1000, 500]}})", "metric.samples: sample counts must increase"},
      {R"({"metric": {"samples": []}})", "metric.samples: needs at least one sample count"},
      {R"({"baselines": ["ddim", "dpm++"]})",
       "baselines: unknown name 'dpm++' (valid: ddpm, ddim,"},
      {R"({"optuna": {"sampler": "bayes"}})",
       "optuna.sampler: unknown name 'bayes' (valid: tpe, cmaes,"},
      {R"({"times": {"t_start": 0.001, "t_end": 1}})",
       "times.t_start: must be greater than times.t_end"},
      {R"({"steps": 3, "times": {"explicit": [1, 0.5, 0.1]}})",
       "times.explicit: needs steps + 1 = 4 times, got 3"},
      {R"({"steps": 2, "times": {"explicit": [1, 0.1, 0.5]}})",
       "times.explicit: times must decrease strictly"},
      {R"({"model": {"kind": "torchscript"}})",
       "model.path: is required for model.kind torchscript"},
      {R"({"model": {"kind": "torchscript", "path": "m.pt"}})", "model.path: 'm.pt' is not a file"},
      {R"({"model": {"kind": "torchscript", "path": "m.pt", "shape": [3, 32, 32]}})",
       "model.data: torchscript models need data samples"},
      {R"({"budget": {"timeout": "8 hours"}})", "budget.timeout: unknown unit ' ' in \"8 hours\""},
      {R"({"validation": {"seed": 0}})", "validation.seed: must differ from seed"},
      {R"({"space": {"name": "gdr", "warm_starts": ["ddim"]}})",
       "space.warm_starts: only the matrix space takes classic warm starts"},
      {R"({"devices": []})", "devices: needs at least one device"},
      {R"({"optuna": {"storage": "foo://bar"}})",
       "exp.json: optuna.storage: unknown storage URL 'foo://bar' (valid: \"\" for in-memory, "
       "sqlite:///PATH, postgresql://..., journal:///PATH)"},
  };
  for (const Case& c : cases) {
    const std::string message = error_of(c.text);
    EXPECT_NE(message.find(c.expected), std::string::npos)
        << "input " << c.text << "\n  message: " << message << "\n  expected: " << c.expected;
  }
}

TEST(Experiment, MissingFileIsAFileError) {
  try {
    load_experiment("/nonexistent/exp.json");
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/exp.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot be read"), std::string::npos) << e.what();
  }
}

TEST(Experiment, Durations) {
  EXPECT_EQ(parse_duration("8h", "t"), 28800);
  EXPECT_EQ(parse_duration("1h30m", "t"), 5400);
  EXPECT_EQ(parse_duration("90s", "t"), 90);
  EXPECT_EQ(parse_duration("1d", "t"), 86400);
  EXPECT_EQ(parse_duration("2.5m", "t"), 150);
  EXPECT_EQ(parse_duration(json(42), "t"), 42);
  EXPECT_EQ(parse_duration("3600", "t"), 3600);  // a plain number is seconds
  EXPECT_THROW(parse_duration("8x", "t"), ConfigError);
  EXPECT_THROW(parse_duration("inf", "t"), ConfigError);
  EXPECT_THROW(parse_duration(json(1e300), "t"), ConfigError);
  EXPECT_THROW(parse_duration("h", "t"), ConfigError);
  EXPECT_THROW(parse_duration(json(-1), "t"), ConfigError);
}

TEST(Experiment, HashIsOfTheCanonicalText) {
  const Experiment a = parse_experiment(R"({"steps": 5, "name": "x"})", "a");
  const Experiment b = parse_experiment(R"({"name": "x", "steps": 5, "seed": 0})", "b");
  EXPECT_EQ(a.text(), b.text());  // key order and spelled-out defaults do not matter
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.hash(), sha256_hex(a.text()));
  const Experiment c = parse_experiment(R"({"name": "x", "steps": 6})", "c");
  EXPECT_NE(a.hash(), c.hash());
  EXPECT_EQ(parse_experiment(a.text(), "again").hash(), a.hash());  // the text round-trips
}

TEST(Experiment, Sha256KnownVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Experiment, DiffListsChangedLeaves) {
  const Experiment a = parse_experiment(R"({"steps": 5})", "a");
  const Experiment b = parse_experiment(
      R"({"steps": 5, "budget": {"trials": 300}, "optuna": {"sigma0": 0.2}})", "b");
  const auto diff = experiment_diff(a.doc, b.doc);
  ASSERT_EQ(diff.size(), 2u);
  EXPECT_EQ(diff[0], "budget.trials: 100 → 300");
  EXPECT_EQ(diff[1], "optuna.sigma0: 0.1 → 0.2");
  EXPECT_TRUE(experiment_diff(a.doc, a.doc).empty());
  const auto added = experiment_diff(json{{"a", 1}}, json{{"a", 1}, {"b", {{"c", 2}}}});
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0], "b: (absent) → {\"c\":2}");
}

TEST(Experiment, MetricParamsDefaultFollowsTheMetric) {
  EXPECT_EQ(parse_experiment(R"({"metric": {"name": "fd"}})", "a").doc["metric"]["params"],
            json::object());
  EXPECT_EQ(parse_experiment(R"({"metric": {"name": "excess"}})", "a").doc["metric"]["params"],
            (json{{"metric", "fd"}, {"features", "classifier"}}));
}

TEST(Experiment, SetFieldCreatesThePath) {
  json doc = json::object();
  set_field(doc, "metric.reference.steps", 50);
  set_field(doc, "steps", 7);
  const Experiment e = make_experiment(doc, "flags");
  EXPECT_EQ(e.doc["metric"]["reference"]["steps"], 50);
  EXPECT_EQ(e.doc["metric"]["reference"]["sampler"], "dpmsolver++(3M)");
  EXPECT_EQ(e.doc["steps"], 7);
}

// The typed view carries every field of the document it was built from.
TEST(Experiment, SpecIsTheDocumentTyped) {
  const Experiment e = parse_experiment(R"({
    "name": "typed", "steps": 6, "seed": 3, "devices": ["cpu", "cpu:1"], "concurrency": 2,
    "model": {"data_size": 500},
    "schedule": {"name": "vp-cosine", "params": {"s": 0.01}},
    "times": {"discretization": "logsnr-uniform", "t_start": 0.9, "t_end": 0.002},
    "space": {"name": "gdr", "options": {"per_step": true}},
    "baselines": ["ddim"],
    "metric": {"name": "kid", "params": {"features": "pixels"}, "samples": [500, 1000],
               "chunk": 500, "reference": {"sampler": "ddim", "steps": 40}},
    "validation": {"seed": 9, "samples": 2000, "top": 2},
    "optuna": {"sampler": "tpe", "storage": "journal:///tmp/x.log", "heartbeat": 10},
    "budget": {"trials": 12, "timeout": "1h30m"}, "output": "runs/t.h5"})",
                                        "exp.json");
  const ExperimentSpec& s = e.spec;
  EXPECT_EQ(s.name, "typed");
  EXPECT_EQ(e.name(), "typed");
  EXPECT_EQ(s.steps, 6);
  EXPECT_EQ(s.seed, 3U);
  EXPECT_EQ(s.devices, (std::vector<std::string>{"cpu", "cpu:1"}));
  EXPECT_EQ(s.concurrency, 2);
  EXPECT_EQ(s.threads, 0);
  EXPECT_EQ(s.model.kind, "fashion-mnist");
  EXPECT_EQ(s.model.data_size, 500);
  EXPECT_EQ(s.model.sum_dtype, "float32");
  EXPECT_EQ(s.schedule.name, "vp-cosine");
  EXPECT_EQ(s.schedule.params, (json{{"s", 0.01}}));
  EXPECT_EQ(s.times.discretization, "logsnr-uniform");
  EXPECT_EQ(s.times.t_start, 0.9);
  EXPECT_EQ(s.times.t_end, 0.002);
  EXPECT_TRUE(s.times.explicit_times.empty());
  EXPECT_EQ(s.space.name, "gdr");
  EXPECT_EQ(s.space.options, (json{{"per_step", true}}));
  EXPECT_EQ(s.baselines, std::vector<std::string>{"ddim"});
  EXPECT_EQ(s.metric.name, "kid");
  EXPECT_EQ(s.metric.samples, (std::vector<int64_t>{500, 1000}));
  EXPECT_EQ(s.metric.chunk, 500);
  EXPECT_EQ(s.metric.reference_sampler, "ddim");
  EXPECT_EQ(s.metric.reference_steps, 40);
  EXPECT_EQ(s.metric.cache, ".samplersearch-cache");
  EXPECT_EQ(s.validation.seed, 9U);
  EXPECT_EQ(s.validation.samples, 2000);
  EXPECT_EQ(s.validation.top, 2);
  EXPECT_EQ(s.optuna.sampler, "tpe");
  EXPECT_EQ(s.optuna.sigma0, 0.1);
  EXPECT_EQ(s.optuna.storage, "journal:///tmp/x.log");
  EXPECT_EQ(s.optuna.heartbeat, 10);
  EXPECT_EQ(s.budget.trials, 12);
  EXPECT_EQ(s.budget.timeout, 5400.0);  // 1 h 30 min
  EXPECT_EQ(s.output, "runs/t.h5");
}

// A stored document that lacks a field (written before the field existed) reads its default.
TEST(Experiment, SpecOfAPartialDocumentReadsDefaults) {
  const ExperimentSpec s = experiment_spec(json{{"name", "old"}, {"budget", {{"trials", 7}}}});
  EXPECT_EQ(s.name, "old");
  EXPECT_EQ(s.budget.trials, 7);
  EXPECT_EQ(s.budget.timeout, 0.0);
  EXPECT_EQ(s.metric.name, "excess");
  EXPECT_EQ(s.metric.params, (json{{"metric", "fd"}, {"features", "classifier"}}));
  EXPECT_EQ(s.validation.top, 5);
}

TEST(Experiment, ShippedFilesValidate) {
  // Shipped experiments name their files relative to the repository root, where the
  // README runs them.
  const std::filesystem::path here = std::filesystem::current_path();
  std::filesystem::current_path(source_dir());
  struct Back {
    std::filesystem::path to;
    ~Back() { std::filesystem::current_path(to); }
  } back{here};
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/experiments")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const Experiment e = load_experiment(entry.path().string());
    EXPECT_EQ(e.name() + ".json", entry.path().filename().string());  // one name, one file
    ++n;
  }
  EXPECT_GE(n, 6);  // the default, one per space, CIFAR-10 at 5/10/15 steps
}

TEST(Experiment, ReadmeDocumentsEveryField) {
  std::ifstream in(source_dir() + "/experiments/README.md");
  ASSERT_TRUE(in) << "experiments/README.md";
  std::stringstream text;
  text << in.rdbuf();
  for (const ExperimentField& f : experiment_fields())
    EXPECT_NE(text.str().find("`" + std::string(f.path) + "`"), std::string::npos)
        << f.path << " is not documented in experiments/README.md";
}

}  // namespace
}  // namespace samplersearch
