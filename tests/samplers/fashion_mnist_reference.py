"""An independent read of the Fashion-MNIST IDX files with gzip + NumPy, for test_datasets.

Usage: fashion_mnist_reference.py DIR
Prints one JSON object: for each split, the image and label counts (from the headers), the
first image's 784 pixels, the first 10 labels, the sum of every pixel and of every label, and the
sum of the pixels of the first 100 images.
"""
import gzip
import json
import os
import sys

import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndims = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndims, offset=4).astype(np.int64)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def summary(directory, prefix):
    images = read_idx(os.path.join(directory, prefix + "-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, prefix + "-labels-idx1-ubyte.gz"))
    return {
        "count": int(images.shape[0]),
        "rows": int(images.shape[1]),
        "cols": int(images.shape[2]),
        "label_count": int(labels.shape[0]),
        "first_image": images[0].reshape(-1).astype(int).tolist(),
        "first_labels": labels[:10].astype(int).tolist(),
        "pixel_sum": int(images.sum(dtype=np.int64)),
        "first_100_sum": int(images[:100].sum(dtype=np.int64)),
        "label_sum": int(labels.sum(dtype=np.int64)),
    }


def main():
    directory = sys.argv[1]
    print(json.dumps({"train": summary(directory, "train"), "test": summary(directory, "t10k")}))


if __name__ == "__main__":
    main()
