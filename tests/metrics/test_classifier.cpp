// The data set's classifier (metrics/classifier.cpp) on a small Fashion-MNIST subset: training
// works (accuracy far above chance after one short epoch), is deterministic, and the cache loads
// an unchanged recipe and retrains a changed one. The full-data ≥ 90 % check is bench_classifier.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/metrics/classifier.hpp"
#include "samplersearch/samplers/datasets.hpp"
#include "statistics_test_support.hpp"

namespace samplersearch {
namespace {

using testing_support::TempDir;

// 2,000 training images, one epoch: chance is 10 %; such a run reaches ~75 %.
constexpr int64_t kTrainImages = 2000;
constexpr int64_t kTestImages = 1000;
constexpr double kMinSubsetAccuracy = 0.6;

// A smaller network for the tests that only exercise determinism and caching.
ClassifierRecipe tiny_recipe() {
  ClassifierRecipe r;
  r.conv1_channels = 4;
  r.conv2_channels = 8;
  r.hidden = 16;
  r.epochs = 1;
  return r;
}

MetricResources subset_resources(int64_t train, const std::string& cache_dir) {
  MetricResources r;
  r.data = fashion_mnist_images("train", train);
  r.data_labels = fashion_mnist_labels("train", train);
  r.test_data = fashion_mnist_images("test", kTestImages);
  r.test_labels = fashion_mnist_labels("test", kTestImages);
  r.cache_dir = cache_dir;
  return r;
}

TEST(Classifier, OneEpochOnASubsetIsFarAboveChance) {
  ClassifierRecipe recipe;  // the default architecture
  recipe.epochs = 1;
  const MetricResources r = subset_resources(kTrainImages, "");
  const Classifier c = Classifier::train(recipe, r.data, r.data_labels, r.test_data, r.test_labels);
  EXPECT_GT(c.report().test_accuracy, kMinSubsetAccuracy);
  EXPECT_DOUBLE_EQ(c.accuracy(r.test_data, r.test_labels), c.report().test_accuracy);
  const at::Tensor f = c.features(r.test_data.slice(0, 0, 5));
  EXPECT_EQ(f.sizes(), (at::IntArrayRef{5, recipe.hidden}));
  EXPECT_EQ(f.scalar_type(), at::kDouble);
  EXPECT_GE(f.min().item<double>(), 0.0);  // after the ReLU
}

TEST(Classifier, SameRecipeTrainsTheSameNetwork) {
  const MetricResources r = subset_resources(500, "");
  const Classifier a = Classifier::train(tiny_recipe(), r.data, r.data_labels, {}, {});
  const Classifier b = Classifier::train(tiny_recipe(), r.data, r.data_labels, {}, {});
  const at::Tensor probe = r.test_data.slice(0, 0, 50);
  EXPECT_TRUE(at::equal(a.features(probe), b.features(probe)));
}

TEST(Classifier, CacheLoadsSameRecipeAndRetrainsChangedOne) {
  TempDir dir;
  const std::string cache = dir.file("cache");
  const MetricResources r = subset_resources(500, cache);
  const auto first = cached_classifier(tiny_recipe(), r);
  EXPECT_FALSE(first->report().loaded);
  ASSERT_FALSE(first->report().path.empty());
  EXPECT_TRUE(std::filesystem::exists(first->report().path));

  const auto second = cached_classifier(tiny_recipe(), r);
  EXPECT_TRUE(second->report().loaded);
  EXPECT_EQ(second->report().path, first->report().path);
  EXPECT_DOUBLE_EQ(second->report().test_accuracy, first->report().test_accuracy);
  const at::Tensor probe = r.test_data.slice(0, 0, 50);
  EXPECT_TRUE(at::equal(first->features(probe), second->features(probe)));

  ClassifierRecipe changed = tiny_recipe();
  changed.seed = 1;
  const auto third = cached_classifier(changed, r);
  EXPECT_FALSE(third->report().loaded);
  EXPECT_NE(third->report().path, first->report().path);
  EXPECT_NE(third->recipe_text(), first->recipe_text());

  // Other data (one image fewer) is another recipe too.
  ClassifierRecipe fewer = tiny_recipe();
  fewer.train_size = 499;
  const auto fourth = cached_classifier(fewer, r);
  EXPECT_FALSE(fourth->report().loaded);
  EXPECT_NE(fourth->report().path, first->report().path);
}

TEST(Classifier, LoadRejectsAnotherRecipe) {
  TempDir dir;
  const MetricResources r = subset_resources(200, dir.file("cache"));
  const auto trained = cached_classifier(tiny_recipe(), r);
  try {
    (void)Classifier::load(trained->report().path, trained->recipe_text() + " changed");
    FAIL() << "expected FileError";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), trained->report().path);
    EXPECT_NE(std::string(e.what()).find("another recipe"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)Classifier::load(dir.file("missing.h5"), "x"), FileError);
  // Not an HDF5 file: named, with the reason.
  const std::string garbage = dir.file("garbage.h5");
  std::ofstream(garbage) << "not hdf5";
  try {
    (void)Classifier::load(garbage, "x");
    FAIL() << "expected FileError";
  } catch (const FileError& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind(garbage + ": truncated or unreadable classifier file: ", 0), 0u)
        << e.what();
  }
}

TEST(Classifier, RecipeFromJson) {
  const ClassifierRecipe r = classifier_recipe_from_json(
      nlohmann::json{{"epochs", 3}, {"learning_rate", 0.002}, {"seed", 7}}, "fd.classifier");
  EXPECT_EQ(r.epochs, 3);
  EXPECT_DOUBLE_EQ(r.learning_rate, 0.002);
  EXPECT_EQ(r.seed, 7U);
  EXPECT_EQ(r.hidden, ClassifierRecipe{}.hidden);
  try {
    (void)classifier_recipe_from_json(nlohmann::json{{"epoch", 3}}, "fd.classifier");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "fd.classifier.epoch: unknown field (valid here: conv1_channels, conv2_channels, "
              "hidden, epochs, batch_size, learning_rate, seed, train_size)");
  }
  try {
    (void)classifier_recipe_from_json(nlohmann::json{{"batch_size", 0}}, "fd.classifier");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "fd.classifier.batch_size: must be an integer >= 1");
  }
}

}  // namespace
}  // namespace samplersearch
