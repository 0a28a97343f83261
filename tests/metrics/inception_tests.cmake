# The FID Inception: agreement with PyTorch (reference made by inception_reference.py through
# scripts/convert_inception_weights), weights-file errors, quantization, and the features command.
samplersearch_add_test(test_inception SOURCES test_inception.cpp
  LIBS samplersearch::metrics samplersearch_hdf5)
add_dependencies(test_inception samplersearch)
# Fallbacks for the environment samplersearch_add_test sets (used only when a variable is unset).
target_compile_definitions(test_inception PRIVATE
  SAMPLERSEARCH_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  SAMPLERSEARCH_TEST_CLI="$<TARGET_FILE:samplersearch>"
  SAMPLERSEARCH_TEST_PYTHON="${SAMPLERSEARCH_PYTHON}")
