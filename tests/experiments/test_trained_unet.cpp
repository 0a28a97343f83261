// The trained Fashion-MNIST UNet (experiments/models/fashion-mnist-unet.pt, scripts/train_unet):
// the committed file is the recorded one (SHA-256), its metadata describes it, and its denoising
// loss on held-out test images is the value recorded at training time. Its experiment files need
// only the path: the rest comes from the file, and a conflicting field is refused.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/experiment.hpp"
#include "samplersearch/experiments/trial_store.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "samplersearch/samplers/model_metadata.hpp"

namespace samplersearch {
namespace {

std::string source_dir() {
  const char* dir = std::getenv("SAMPLERSEARCH_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}
std::string model_path() { return source_dir() + "/experiments/models/fashion-mnist-unet.pt"; }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TrainedUnet, FileIsTheRecordedOne) {
  std::string recorded = read_all(model_path() + ".sha256");
  recorded = recorded.substr(0, recorded.find_first_of(" \n"));
  EXPECT_EQ(sha256_hex(read_all(model_path())), recorded);
}

TEST(TrainedUnet, MetadataDescribesTheNetwork) {
  const ExportedModel e = load_exported_model(model_path());
  EXPECT_EQ(e.metadata.parameterization, "eps");
  EXPECT_EQ(e.metadata.time_input, "t");
  EXPECT_EQ(e.metadata.schedule, "vp-linear");
  EXPECT_EQ(e.schedule->params(), make_schedule("vp-linear")->params());
  EXPECT_EQ(e.metadata.sample_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(e.metadata.value_low, -1.0);
  EXPECT_EQ(e.metadata.value_high, 1.0);
  EXPECT_GT(e.metadata.extra.at("steps").get<int64_t>(), 0);
}

// The held-out loss as scripts/train_unet's held_out_loss defines it: mean (ε̂ − ε)² over the
// first 1,000 test images, image i at t = 0.1·(1 + i / 100), ε from a CPU generator seeded 0;
// here ε̂ comes back through the loaded x0-model: ε̂ = (x_t − α x̂0)/σ.
TEST(TrainedUnet, HeldOutLossIsTheRecordedOne) {
  const ExportedModel e = load_exported_model(model_path());
  const double recorded = e.metadata.extra.at("test_loss").get<double>();
  const at::Tensor x0 = fashion_mnist_images("test", 1000);
  const at::Tensor eps =
      at::randn({1000, 1, 28, 28}, at::make_generator<at::CPUGeneratorImpl>(0), at::kFloat)
          .to(at::kDouble);
  double total = 0;
  for (int k = 0; k < 10; ++k) {
    const double t = 0.1 * (k + 1);
    const double a = e.schedule->alpha(t), s = e.schedule->sigma(t);
    const at::Tensor x = x0.slice(0, 100 * k, 100 * (k + 1));
    const at::Tensor n = eps.slice(0, 100 * k, 100 * (k + 1));
    const at::Tensor xt = a * x + s * n;
    const at::Tensor eps_hat = (xt - a * e.model->predict_x0(xt, t)) / s;
    total += (eps_hat - n).pow(2).sum().item<double>();
  }
  const double loss = total / static_cast<double>(eps.numel());
  std::cout << "[ measured ] held-out denoising loss " << loss << " (recorded " << recorded
            << ")\n";
  EXPECT_NEAR(loss, recorded, 1e-4 * recorded);
  // An untrained network predicts ε no better than 0 does: E ε² = 1.
  EXPECT_LT(loss, 0.2);
}

TEST(TrainedUnet, ExperimentNeedsOnlyThePath) {
  const std::string dir = source_dir();
  const std::string text = read_all(dir + "/experiments/fashion-mnist-unet-5.json");
  nlohmann::json doc = nlohmann::json::parse(text);
  doc["model"]["path"] = model_path();
  const Experiment e = make_experiment(doc, "fashion-mnist-unet-5.json");
  EXPECT_EQ(e.doc.at("model").at("parameterization"), "eps");
  EXPECT_EQ(e.doc.at("model").at("time_input"), "t");
  EXPECT_EQ(e.doc.at("model").at("shape"), nlohmann::json({1, 28, 28}));
  EXPECT_EQ(e.doc.at("schedule").at("name"), "vp-linear");
  EXPECT_EQ(e.doc.at("schedule").at("params").at("beta_max"), 20.0);

  doc["model"]["time_input"] = "999t";
  try {
    make_experiment(doc, "fashion-mnist-unet-5.json");
    ADD_FAILURE() << "a time input other than the file's was accepted";
  } catch (const ConfigError& err) {
    EXPECT_EQ(err.field(), "model.time_input");
    EXPECT_NE(std::string(err.what())
                  .find("\"999t\" given, but " + model_path() + " was exported with \"t\""),
              std::string::npos)
        << err.what();
  }
  doc["model"].erase("time_input");
  doc["schedule"] = {{"name", "vp-linear"}, {"params", {{"beta_max", 10.0}}}};
  try {
    make_experiment(doc, "fashion-mnist-unet-5.json");
    ADD_FAILURE() << "a schedule constant other than the file's was accepted";
  } catch (const ConfigError& err) {
    EXPECT_EQ(err.field(), "schedule.params.beta_max");
  }
}

}  // namespace
}  // namespace samplersearch
