// The data set's classifier: a small CNN (torch::nn), trained with Adam, cached in HDF5 by recipe.
#include "samplersearch/metrics/classifier.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "samplersearch/common/check.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/common/files.hpp"
#include "samplersearch/common/hdf5.hpp"
#include "samplersearch/common/options.hpp"
#include "samplersearch/metrics/features.hpp"

namespace samplersearch {
namespace {

// Bumped whenever the training code changes in a way the recipe fields do not show.
constexpr int kRecipeVersion = 1;
// Rows per inference forward pass.
constexpr int64_t kInferenceBatch = 1000;

// The input and output sizes a network is built for (from the data, stored in its cache file).
struct Architecture {
  int64_t in_channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t conv1 = 32;
  int64_t conv2 = 64;
  int64_t hidden = 128;
  int64_t classes = 10;
  std::vector<int64_t> as_vector() const {
    return {in_channels, height, width, conv1, conv2, hidden, classes};
  }
};

struct NetImpl : torch::nn::Module {
  explicit NetImpl(const Architecture& a)
      : conv1(register_module(
            "conv1",
            torch::nn::Conv2d(torch::nn::Conv2dOptions(a.in_channels, a.conv1, 3).padding(1)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(a.conv1))),
        conv2(register_module(
            "conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(a.conv1, a.conv2, 3).padding(1)))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(a.conv2))),
        fc1(register_module("fc1",
                            torch::nn::Linear(a.conv2 * (a.height / 4) * (a.width / 4), a.hidden))),
        fc2(register_module("fc2", torch::nn::Linear(a.hidden, a.classes))) {}

  // The penultimate layer: ReLU(fc1(…)).
  at::Tensor features(const at::Tensor& x) {
    at::Tensor h = at::max_pool2d(at::relu(bn1->forward(conv1->forward(x))), {2, 2});
    h = at::max_pool2d(at::relu(bn2->forward(conv2->forward(h))), {2, 2});
    return at::relu(fc1->forward(h.flatten(1)));
  }
  at::Tensor forward(const at::Tensor& x) { return fc2->forward(features(x)); }

  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Linear fc1;
  torch::nn::Linear fc2;
};
TORCH_MODULE(Net);

// PyTorch's default initialization of conv and linear layers, w, b ~ U(−1/√fan_in, 1/√fan_in),
// drawn from our own generator so the result depends on the recipe's seed only.
void initialize(Net& net, at::Generator& generator) {
  at::NoGradGuard no_grad;
  auto init = [&](const at::Tensor& weight, const at::Tensor& bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(weight.numel() / weight.size(0)));
    weight.uniform_(-bound, bound, generator);
    bias.uniform_(-bound, bound, generator);
  };
  init(net->conv1->weight, net->conv1->bias);
  init(net->conv2->weight, net->conv2->bias);
  init(net->fc1->weight, net->fc1->bias);
  init(net->fc2->weight, net->fc2->bias);
}

// Process CPU seconds (all threads).
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Sets the intra-op thread count for its lifetime.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : previous_(at::get_num_threads()) {
    if (threads > 0) at::set_num_threads(threads);
  }
  ~ThreadCount() { at::set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

std::string number_text(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

int64_t class_count(const at::Tensor& labels) {
  return labels.numel() == 0 ? 0 : labels.max().item<int64_t>() + 1;
}

void check_training_data(const at::Tensor& data, const at::Tensor& labels) {
  if (!data.defined() || data.dim() != 4 || data.size(0) < 2)
    throw ConfigError("classifier", "training data must be [N, C, H, W] with N >= 2");
  if (data.size(2) < 4 || data.size(3) < 4)
    throw ConfigError("classifier", "images must be at least 4x4");
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != data.size(0))
    throw ConfigError("classifier", "labels must be [N] with N = " + std::to_string(data.size(0)));
  if (labels.is_floating_point() || labels.min().item<int64_t>() < 0)
    throw ConfigError("classifier", "labels must be non-negative integers");
}

// A double attribute of the file, 0 when it is missing (files written before it was stored).
double read_double_attribute(hid_t file, const char* name) {
  return hdf5::has_attr(file, name) ? hdf5::read_attr_double(file, name) : 0.0;
}

// Every float tensor of the network (parameters and BatchNorm running statistics) by name.
std::vector<std::pair<std::string, at::Tensor>> float_tensors(const Net& net) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : net->named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : net->named_buffers())
    if (item.value().is_floating_point()) out.emplace_back(item.key(), item.value());
  return out;
}

}  // namespace

struct Classifier::Impl {
  Architecture architecture;
  Net net{nullptr};
  std::string recipe_text;
  ClassifierReport report;
};

ClassifierRecipe classifier_recipe_from_json(const nlohmann::json& object,
                                             const std::string& field) {
  OptionReader reader(object, field);
  ClassifierRecipe r;
  r.conv1_channels = reader.integer("conv1_channels", r.conv1_channels, {.min = 1});
  r.conv2_channels = reader.integer("conv2_channels", r.conv2_channels, {.min = 1});
  r.hidden = reader.integer("hidden", r.hidden, {.min = 1});
  r.epochs = reader.integer("epochs", r.epochs, {.min = 1});
  r.batch_size = reader.integer("batch_size", r.batch_size, {.min = 1});
  r.learning_rate = reader.number("learning_rate", r.learning_rate, {.min = 0, .open_min = true});
  r.seed = static_cast<uint64_t>(reader.integer("seed", static_cast<int64_t>(r.seed), {.min = 0}));
  r.train_size = reader.integer("train_size", r.train_size);
  if (r.train_size != -1 && r.train_size < 2)
    reader.fail("train_size", "must be -1 (all) or an integer >= 2");
  reader.finish();
  return r;
}

std::string classifier_recipe_text(const ClassifierRecipe& recipe, const at::Tensor& data,
                                   const at::Tensor& labels) {
  check_training_data(data, labels);
  std::ostringstream out;
  out << "samplersearch classifier v" << kRecipeVersion << "; conv3x3(" << data.size(1) << "->"
      << recipe.conv1_channels << ",pad1)+batchnorm+relu+maxpool2; conv3x3("
      << recipe.conv1_channels << "->" << recipe.conv2_channels
      << ",pad1)+batchnorm+relu+maxpool2; linear(->" << recipe.hidden << ")+relu; linear(->"
      << class_count(labels)
      << "); init uniform(+-1/sqrt(fan_in)); adam(lr=" << number_text(recipe.learning_rate)
      << " decayed linearly to 0) cross-entropy; epochs=" << recipe.epochs
      << "; batch=" << recipe.batch_size << "; seed=" << recipe.seed << "; data=[" << data.size(0)
      << "," << data.size(1) << "," << data.size(2) << "," << data.size(3)
      << "] fingerprint=" << hex64(tensor_fingerprint(data))
      << " labels=" << hex64(tensor_fingerprint(labels));
  return out.str();
}

Classifier::Classifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

Classifier Classifier::train(const ClassifierRecipe& recipe, const at::Tensor& data,
                             const at::Tensor& labels, const at::Tensor& test_data,
                             const at::Tensor& test_labels, int threads) {
  auto impl = std::make_unique<Impl>();
  impl->recipe_text = classifier_recipe_text(recipe, data, labels);
  Architecture& a = impl->architecture;
  a = {data.size(1),          data.size(2),  data.size(3),       recipe.conv1_channels,
       recipe.conv2_channels, recipe.hidden, class_count(labels)};

  const ThreadCount thread_count(threads);
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();

  at::Generator generator = at::detail::createCPUGenerator(recipe.seed);
  impl->net = Net(a);
  initialize(impl->net, generator);
  Net& net = impl->net;
  net->train();
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(recipe.learning_rate));
  const at::Tensor x = data.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor y = labels.to(at::kCPU, at::kLong).contiguous();
  const int64_t n = x.size(0);
  const int64_t batches = (n + recipe.batch_size - 1) / recipe.batch_size;
  const auto total_steps = static_cast<double>(recipe.epochs * batches);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < recipe.epochs; ++epoch) {
    const at::Tensor order = at::randperm(n, generator, at::kLong);
    for (int64_t start = 0; start < n; start += recipe.batch_size, ++step) {
      // lr_s = lr·(1 − s/S) for step s of S.
      for (auto& group : optimizer.param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options())
            .lr(recipe.learning_rate * (1.0 - static_cast<double>(step) / total_steps));
      const at::Tensor index = order.slice(0, start, start + recipe.batch_size);
      const at::Tensor loss = torch::nn::functional::cross_entropy(
          net->forward(x.index_select(0, index)), y.index_select(0, index));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
  }
  net->eval();
  for (const auto& p : net->parameters()) p.set_requires_grad(false);
  // Inference in float64 (from the float32 weights, exactly): features then do not depend on how
  // samples are batched beyond float64 rounding, so metrics are chunking-invariant.
  net->to(at::kDouble);

  Classifier classifier(std::move(impl));
  ClassifierReport& report = classifier.impl_->report;
  report.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  report.train_cpu_seconds = cpu_seconds() - cpu_start;
  if (test_data.defined() && test_labels.defined())
    report.test_accuracy = classifier.accuracy(test_data, test_labels);
  std::cerr << "classifier: trained on " << n << " images (" << recipe.epochs << " epochs, "
            << at::get_num_threads() << " thread(s)) in " << report.train_seconds << " s ("
            << report.train_cpu_seconds << " s CPU)";
  if (report.test_accuracy >= 0)
    std::cerr << ", test accuracy " << 100.0 * report.test_accuracy << " % on " << test_data.size(0)
              << " images";
  std::cerr << std::endl;
  return classifier;
}

void Classifier::save(const std::string& path) const {
  try {
    write_file_atomically(path, [&](const std::string& tmp) {
      const hdf5::Hdf5Lock lock;
      const hdf5::Handle file = hdf5::create_file(tmp);
      for (const auto& [name, tensor] : float_tensors(impl_->net)) {
        const at::Tensor c = tensor.detach().to(at::kFloat).contiguous();
        std::vector<hsize_t> dims;
        for (const int64_t s : c.sizes()) dims.push_back(static_cast<hsize_t>(s));
        hdf5::write_dataset(file, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims,
                            c.data_ptr<float>());
      }
      hdf5::write_ints_attr(file, "architecture", impl_->architecture.as_vector());
      hdf5::write_string_attr(file, "recipe", impl_->recipe_text, hdf5::Text::ascii);
      hdf5::write_double_attr(file, "test_accuracy", impl_->report.test_accuracy);
      hdf5::write_double_attr(file, "train_seconds", impl_->report.train_seconds);
      hdf5::write_double_attr(file, "train_cpu_seconds", impl_->report.train_cpu_seconds);
    });
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("cannot write the classifier: ") + e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    throw FileError(path, std::string("cannot write the classifier: ") + e.what());
  }
}

Classifier Classifier::load(const std::string& path, const std::string& recipe_text) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");
  const hdf5::Hdf5Lock lock;
  try {
    const hdf5::Handle file = hdf5::open_file_read(path);
    if (!hdf5::has_attr(file, "recipe") || !hdf5::has_attr(file, "architecture"))
      throw FileError(path, "not a classifier file (no 'recipe' or 'architecture' attribute)");
    const std::string stored = hdf5::read_attr_string(file, "recipe");
    if (stored != recipe_text) throw FileError(path, "trained by another recipe: '" + stored + "'");
    const std::vector<int64_t> arch = hdf5::read_attr_ints(file, "architecture");
    if (arch.size() != 7) throw FileError(path, "attribute 'architecture' must hold 7 integers");

    auto impl = std::make_unique<Impl>();
    impl->architecture = {arch[0], arch[1], arch[2], arch[3], arch[4], arch[5], arch[6]};
    impl->recipe_text = recipe_text;
    impl->net = Net(impl->architecture);
    at::NoGradGuard no_grad;
    for (const auto& [name, tensor] : float_tensors(impl->net)) {
      if (!hdf5::has_object(file, name)) throw FileError(path, "missing dataset '" + name + "'");
      const hdf5::Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "open dataset " + name);
      const std::vector<hsize_t> dims = hdf5::dataset_dims(ds);
      const std::vector<int64_t> shape(dims.begin(), dims.end());
      if (shape != tensor.sizes().vec())
        throw FileError(path, "dataset '" + name + "' has the wrong shape");
      at::Tensor values = at::empty(shape, at::kFloat);
      hdf5::read_dataset(ds, H5T_NATIVE_FLOAT, values.data_ptr<float>(), "dataset " + name);
      tensor.copy_(values);
    }
    impl->net->eval();
    for (const auto& p : impl->net->parameters()) p.set_requires_grad(false);
    impl->net->to(at::kDouble);
    impl->report.loaded = true;
    impl->report.path = path;
    impl->report.test_accuracy = read_double_attribute(file, "test_accuracy");
    impl->report.train_seconds = read_double_attribute(file, "train_seconds");
    impl->report.train_cpu_seconds = read_double_attribute(file, "train_cpu_seconds");
    return Classifier(std::move(impl));
  } catch (const hdf5::Hdf5Damaged& e) {
    throw FileError(path, e.what());
  } catch (const hdf5::Hdf5Failure& e) {
    throw FileError(path, std::string("truncated or unreadable classifier file: ") + e.what());
  }
}

at::Tensor Classifier::features(const at::Tensor& samples) const {
  if (!samples.defined() || samples.dim() != 4 ||
      samples.size(1) != impl_->architecture.in_channels ||
      samples.size(2) != impl_->architecture.height || samples.size(3) != impl_->architecture.width)
    throw ConfigError("samples", "the classifier takes [n, " +
                                     std::to_string(impl_->architecture.in_channels) + ", " +
                                     std::to_string(impl_->architecture.height) + ", " +
                                     std::to_string(impl_->architecture.width) + "] samples");
  const c10::InferenceMode guard;
  const at::Tensor x = samples.to(at::kCPU, at::kDouble).contiguous();
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += kInferenceBatch)
    parts.push_back(impl_->net->features(x.slice(0, i, i + kInferenceBatch)));
  if (parts.empty()) return at::empty({0, impl_->architecture.hidden}, at::kDouble);
  return parts.size() == 1 ? parts[0] : at::cat(parts, 0);
}

at::Tensor Classifier::logits(const at::Tensor& samples) const {
  const c10::InferenceMode guard;
  const at::Tensor x = samples.to(at::kCPU, at::kDouble).contiguous();
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += kInferenceBatch)
    parts.push_back(impl_->net->forward(x.slice(0, i, i + kInferenceBatch)));
  return at::cat(parts, 0);
}

double Classifier::accuracy(const at::Tensor& samples, const at::Tensor& labels) const {
  const at::Tensor predicted = logits(samples).argmax(1);
  return predicted.eq(labels.to(at::kLong)).to(at::kDouble).mean().item<double>();
}

int64_t Classifier::feature_dim() const { return impl_->architecture.hidden; }
const std::string& Classifier::recipe_text() const { return impl_->recipe_text; }
const ClassifierReport& Classifier::report() const { return impl_->report; }

std::string classifier_cache_path(const std::string& cache_dir, const std::string& recipe_text) {
  return (std::filesystem::path(cache_dir) /
          ("classifier_" + hex64(text_hash(recipe_text)) + ".h5"))
      .string();
}

std::shared_ptr<const Classifier> cached_classifier(const ClassifierRecipe& recipe,
                                                    const MetricResources& resources) {
  if (!resources.data.defined() || !resources.data_labels.defined())
    throw ConfigError("classifier",
                      "needs the data set's samples and labels "
                      "(MetricResources::data, data_labels)");
  at::Tensor data = resources.data;
  at::Tensor labels = resources.data_labels;
  if (recipe.train_size > 0 && recipe.train_size < data.size(0)) {
    data = data.slice(0, 0, recipe.train_size);
    labels = labels.slice(0, 0, recipe.train_size);
  }
  const std::string text = classifier_recipe_text(recipe, data, labels);
  std::string path;
  if (!resources.cache_dir.empty()) {
    path = classifier_cache_path(resources.cache_dir, text);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      try {
        return std::make_shared<const Classifier>(Classifier::load(path, text));
      } catch (const FileError& e) {
        std::cerr << "classifier: retraining (" << e.what() << ")" << std::endl;
      }
    }
  }
  auto classifier = std::make_shared<Classifier>(
      Classifier::train(recipe, data, labels, resources.test_data, resources.test_labels));
  if (!path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(resources.cache_dir, ec);
    classifier->save(path);
    classifier->impl_->report.path = path;
  }
  return classifier;
}

ClassifierFeatures::ClassifierFeatures(std::shared_ptr<const Classifier> classifier)
    : classifier_(std::move(classifier)) {}

int64_t ClassifierFeatures::dim() const { return classifier_->feature_dim(); }

at::Tensor ClassifierFeatures::features(const at::Tensor& samples) const {
  return classifier_->features(samples);
}

}  // namespace samplersearch
