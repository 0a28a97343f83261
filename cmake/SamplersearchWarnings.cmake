# samplersearch_set_warnings(target): the project's warning set, applied to every target we own.
# With SAMPLERSEARCH_WERROR (on in CI: scripts/setup passes it when CI=1) every warning is an
# error, except three that GCC 12 raises inside libstdc++ after inlining at -O2 and that no
# change of ours removes: -Wrestrict and -Wstringop-overflow on std::string concatenation (GCC
# bug 105329) and -Wmaybe-uninitialized on moved-from std::vector members (the GCC manual,
# "-Wmaybe-uninitialized": "GCC may not be able to determine when the code is correct"). They
# stay visible as warnings.
option(SAMPLERSEARCH_WERROR "Treat compiler warnings as errors (CI turns this on)" OFF)

function(samplersearch_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
      -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough>)
  if(SAMPLERSEARCH_WERROR)
    target_compile_options(${target} PRIVATE
      $<$<CXX_COMPILER_ID:GNU,Clang>:-Werror>
      $<$<CXX_COMPILER_ID:GNU>:-Wno-error=restrict -Wno-error=stringop-overflow
        -Wno-error=maybe-uninitialized>)
  endif()
endfunction()
