# Every dependency comes from a Debian package (see scripts/setup).
find_package(Torch REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS CXX)
find_package(TBB REQUIRED)
find_package(Eigen3 REQUIRED NO_MODULE)
find_package(nlohmann_json REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
find_package(CLI11 REQUIRED CONFIG)
find_package(LAPACK REQUIRED)
find_package(Threads REQUIRED)
# libzip through pkg-config: Debian's libzip CMake package also requires the zipcmp/zipmerge tools.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
# nettle (Debian nettle-dev) for SHA-256: a maintained, audited implementation of FIPS 180-4.
pkg_check_modules(NETTLE REQUIRED IMPORTED_TARGET nettle)
if(SAMPLERSEARCH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# LibTorch headers are marked as system headers so our warnings stay about our code.
add_library(samplersearch_torch INTERFACE)
target_link_libraries(samplersearch_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(samplersearch_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

add_library(samplersearch_hdf5 INTERFACE)
target_link_libraries(samplersearch_hdf5 INTERFACE ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
target_include_directories(samplersearch_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_compile_definitions(samplersearch_hdf5 INTERFACE ${HDF5_DEFINITIONS})
