#pragma once
// Start-up choice of the BLAS kernels. A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPUID
// model number when it is loaded; a release older than the CPU falls back to a slower core (e.g.
// OpenBLAS 0.3.21 runs "Prescott" on Intel family 6 model 207 and "Haswell" on AMD family 26,
// both AVX-512 machines). OpenBLAS reads OPENBLAS_CORETYPE only while it loads, so the program
// sets it and executes itself again once, then checks a small GEMM against a plain loop.
// docs: README.md, section "Fast BLAS kernels".
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace samplersearch {

// The instruction sets an OpenBLAS x86-64 core needs, from least to most demanding.
enum class KernelTier { baseline = 0, avx2 = 1, avx512 = 2 };

// One OpenBLAS core name (OpenBLAS driver/others/dynamic.c spelling) and the tier it needs.
struct OpenblasCore {
  std::string_view name;
  std::string_view summary;
  KernelTier tier;
};

// Every x86-64 core OPENBLAS_CORETYPE accepts, oldest first.
std::span<const OpenblasCore> openblas_cores();

// The core called `name` (case-insensitive, as OpenBLAS compares), or nullptr.
const OpenblasCore* find_openblas_core(std::string_view name);

// CPUID leaf 1 / leaf 7 feature bits and the XCR0 state the operating system saves (Intel SDM
// vol. 1, sections 13.3 and 15.2: AVX needs XCR0 bits 1-2, AVX-512 bits 1-2 and 5-7).
struct CpuFeatures {
  bool avx = false;
  bool fma = false;
  bool avx2 = false;
  bool avx512f = false;
  bool avx512vl = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool os_ymm_state = false;  // XGETBV(0) has SSE and AVX state enabled
  bool os_zmm_state = false;  // and opmask, ZMM_Hi256 and Hi16_ZMM state
};

// This CPU's features (all false on a non-x86 build).
CpuFeatures read_cpu_features();

// Best kernel tier usable here: AVX-512 F+VL+BW+DQ with ZMM state saved, else AVX+AVX2+FMA with
// YMM state saved, else baseline.
KernelTier best_kernel_tier(const CpuFeatures& cpu);

// The OpenBLAS core to run at `tier`: SkylakeX, Haswell, or "" (keep what OpenBLAS detects).
std::string_view core_for_tier(KernelTier tier);

// The environment variables the start-up reads, by name (absent = unset).
using EnvMap = std::map<std::string, std::string>;

// The variable a user sets to steer the choice: auto (default), off, or a core name.
inline constexpr const char* kBlasChoiceVariable = "SAMPLERSEARCH_BLAS_CORETYPE";
// Set by the program before it executes itself again: "<state> <core> <detected> [<detail>]"
// with state "set" or "rejected"; while it is present the program never restarts for the core.
inline constexpr const char* kBlasRestartMarker = "SAMPLERSEARCH_BLAS_RESTART";
// How long libgomp's threads spin at a barrier before they sleep (GOMP_SPINCOUNT, in iterations of
// its wait loop). libgomp's default, 300,000, lets a thread burn its time slice waiting for a
// partner the kernel has descheduled: beside two busy processes on 2 cores a 2048-d dsyevd took
// 9.3 s against 0.55 s idle. OMP_WAIT_POLICY=PASSIVE (no spin) avoids that but wakes the threads
// by futex at each of the thousands of BLAS calls in LAPACK's reductions: 0.75 s idle. 10,000
// spins: 0.56 s idle, and loaded as passive (1.3 s). bench/omp_spin.py; README.md, "Fast BLAS
// kernels".
inline constexpr const char* kOmpSpinCount = "10000";

// What to do before the program's real work starts.
struct StartupPlan {
  // Environment changes to make (nullopt = unset the variable), then execute /proc/self/exe.
  std::vector<std::pair<std::string, std::optional<std::string>>> env_changes;
  bool restart = false;
  // The start-up GEMM must run: the core was set by this program (a failure restarts without it).
  bool check_override = false;
  // The parenthesised part of the "blas:" line, when known before the GEMM check.
  std::string note;
};

// Decision before the GEMM check, over the environment, the core OpenBLAS runs ("" if the BLAS
// is not OpenBLAS) and the best tier of this CPU. Throws ConfigError naming
// SAMPLERSEARCH_BLAS_CORETYPE for a value that is not auto, off or a core name.
StartupPlan plan_blas_startup(const EnvMap& env, std::string_view running_core, KernelTier best,
                              bool bounded_omp_spin);

// Result of the start-up GEMM: worst |C - C_ref| / (|A| |B|) over the entries, per precision.
struct GemmCheck {
  double float_error = 0;
  double double_error = 0;
  bool crashed = false;  // the kernel raised SIGILL
  bool passed() const;
};

// Start-up GEMM tolerances in units of |A| |B|: 2 k u with u the unit roundoff and k = 64 the
// inner dimension, twice the first-order bound gamma_k of Higham (2002), "Accuracy and Stability
// of Numerical Algorithms", eq. (3.13).
inline constexpr double kFloatGemmTolerance = 2.0 * 64 * 5.9604644775390625e-08;
inline constexpr double kDoubleGemmTolerance = 2.0 * 64 * 1.1102230246251565e-16;

// After the GEMM check of a core this program set: restart without it if the check failed.
StartupPlan plan_after_gemm_check(const EnvMap& env, const GemmCheck& check);

// The one "blas: ..." line printed to stderr.
std::string blas_choice_line(std::string_view blas_name, std::string_view note);

// The same GEMM through LibTorch (at::mm), float and double, against a plain triple loop.
GemmCheck run_startup_gemm_check();

// First thing in main(): choose the kernels (restarting at most twice), check them, print the
// "blas:" line. With bounded_omp_spin, also set GOMP_SPINCOUNT=kOmpSpinCount when neither it nor
// OMP_WAIT_POLICY is set (the OpenMP runtime reads them at load time, so in the same restart). A
// bad SAMPLERSEARCH_BLAS_CORETYPE prints the ConfigError and exits with status 2.
void start_with_fast_kernels(char** argv, bool bounded_omp_spin);

}  // namespace samplersearch
