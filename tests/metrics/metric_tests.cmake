# The metric registry (metrics/metric.cpp), the bias-aware estimators (metrics/bias.cpp) and the
# data set's classifier (metrics/classifier.cpp). Fashion-MNIST comes through samplers/datasets.
samplersearch_add_test(test_bias SOURCES test_bias.cpp LIBS samplersearch::metrics)
samplersearch_add_test(test_metric SOURCES test_metric.cpp
  LIBS samplersearch::metrics samplersearch::samplers)
samplersearch_add_test(test_classifier SOURCES test_classifier.cpp
  LIBS samplersearch::metrics samplersearch::samplers samplersearch_hdf5)
