# Streaming statistics, statistics files and the Fréchet distance (LAPACK through LAPACKE + CBLAS).
target_sources(samplersearch_metrics PRIVATE
  statistics.cpp
  statistics_file.cpp
  frechet.cpp
)

# LAPACKE (the C interface to LAPACK) is a library and a header of its own on Debian
# (liblapacke-dev); FindLAPACK only finds the Fortran library. CBLAS comes with the BLAS
# that FindLAPACK found (OpenBLAS or the reference BLAS both export cblas_*).
find_path(SAMPLERSEARCH_LAPACKE_INCLUDE_DIR lapacke.h PATH_SUFFIXES lapacke openblas)
find_library(SAMPLERSEARCH_LAPACKE_LIBRARY NAMES lapacke openblas)
find_path(SAMPLERSEARCH_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
if(NOT SAMPLERSEARCH_LAPACKE_INCLUDE_DIR OR NOT SAMPLERSEARCH_LAPACKE_LIBRARY
   OR NOT SAMPLERSEARCH_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "LAPACKE or CBLAS not found: install liblapacke-dev and libopenblas-dev "
                      "(or set SAMPLERSEARCH_LAPACKE_LIBRARY / SAMPLERSEARCH_LAPACKE_INCLUDE_DIR)")
endif()
target_include_directories(samplersearch_metrics SYSTEM PRIVATE
  ${SAMPLERSEARCH_LAPACKE_INCLUDE_DIR} ${SAMPLERSEARCH_CBLAS_INCLUDE_DIR})
target_link_libraries(samplersearch_metrics PRIVATE ${SAMPLERSEARCH_LAPACKE_LIBRARY}
  ${LAPACK_LIBRARIES})
