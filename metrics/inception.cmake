target_sources(samplersearch_metrics PRIVATE
  inception.cpp
  inception_weights.cpp
  inception_io.cpp
)
