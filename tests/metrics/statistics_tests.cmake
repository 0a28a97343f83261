# Tests of metrics/statistics*.cpp and metrics/frechet.cpp, and of the `fd` command.
samplersearch_add_test(test_statistics SOURCES test_statistics.cpp LIBS samplersearch::metrics)
samplersearch_add_test(test_frechet SOURCES test_frechet.cpp LIBS samplersearch::metrics)
samplersearch_add_test(test_frechet_agreement SOURCES test_frechet_agreement.cpp
  LIBS samplersearch::metrics samplersearch_hdf5)
samplersearch_add_test(test_statistics_file SOURCES test_statistics_file.cpp
  LIBS samplersearch::metrics)
samplersearch_add_test(test_cmd_fd SOURCES test_cmd_fd.cpp LIBS samplersearch::metrics)
add_dependencies(test_cmd_fd samplersearch)
