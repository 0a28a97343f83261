#pragma once
// Data sets the exact models are built on: IDX files (MNIST's format) and Fashion-MNIST from
// Debian's dataset-fashion-mnist package.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace samplersearch {

// The uint8 images [N, rows, cols] of an IDX3 file (gzip-compressed or raw); at most `limit`
// images (all when limit < 0). FileError naming the file and the reason when malformed.
at::Tensor load_idx_images(const std::string& path, int64_t limit = -1);

// The uint8 labels [N] of an IDX1 file (gzip-compressed or raw).
at::Tensor load_idx_labels(const std::string& path, int64_t limit = -1);

// Where the Fashion-MNIST IDX files are: $SAMPLERSEARCH_FASHION_MNIST or
// /usr/share/datasets/fashion-mnist.
std::string fashion_mnist_dir();

// The first `limit` Fashion-MNIST images of `split` ("train": 60,000, "test": 10,000) as float64
// [N, 1, 28, 28] scaled to [−1, 1].
at::Tensor fashion_mnist_images(const std::string& split, int64_t limit = -1);

// The matching labels [N] (int64).
at::Tensor fashion_mnist_labels(const std::string& split, int64_t limit = -1);

}  // namespace samplersearch
