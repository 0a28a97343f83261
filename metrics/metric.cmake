# The metric registry (fd, kid, fd_inf, trajectory_mse, excess), the feature extractors (pixels,
# the data set's classifier, FID Inception) and the bias-aware estimators (KID, FD-infinity).
target_sources(samplersearch_metrics PRIVATE
  metric.cpp
  metric_distances.cpp
  metric_data.cpp
  features.cpp
  classifier.cpp
  bias.cpp
)
