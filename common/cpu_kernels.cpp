#include "samplersearch/common/cpu_kernels.hpp"

#include <ATen/ATen.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/registry.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

extern char** environ;

namespace samplersearch {
namespace {

// OpenBLAS 0.3.21 driver/others/dynamic.c, x86-64 core names; tiers from the kernels each
// builds (kernel/x86_64/KERNEL.<core>).
constexpr std::array<OpenblasCore, 25> kOpenblasCores{{
    {"Katmai", "Pentium III", KernelTier::baseline},
    {"Coppermine", "Pentium III", KernelTier::baseline},
    {"Northwood", "Pentium 4", KernelTier::baseline},
    {"Prescott", "Pentium 4 SSE3: the generic fallback", KernelTier::baseline},
    {"Banias", "Pentium M", KernelTier::baseline},
    {"Atom", "Atom", KernelTier::baseline},
    {"Core2", "Core 2", KernelTier::baseline},
    {"Penryn", "Core 2 SSE4.1", KernelTier::baseline},
    {"Dunnington", "Xeon 7400", KernelTier::baseline},
    {"Nehalem", "Core i7 SSE4.2", KernelTier::baseline},
    {"Athlon", "Athlon", KernelTier::baseline},
    {"Opteron", "Opteron", KernelTier::baseline},
    {"Opteron_SSE3", "Opteron SSE3", KernelTier::baseline},
    {"Barcelona", "AMD family 10h", KernelTier::baseline},
    {"Nano", "VIA Nano", KernelTier::baseline},
    {"Sandybridge", "AVX without FMA", KernelTier::baseline},
    {"Bobcat", "AMD Bobcat", KernelTier::baseline},
    {"Bulldozer", "AMD Bulldozer", KernelTier::baseline},
    {"Piledriver", "AMD Piledriver", KernelTier::baseline},
    {"Steamroller", "AMD Steamroller", KernelTier::baseline},
    {"Excavator", "AMD Excavator (AVX2)", KernelTier::avx2},
    {"Haswell", "AVX2 + FMA", KernelTier::avx2},
    {"Zen", "AMD Zen (AVX2 + FMA)", KernelTier::avx2},
    {"SkylakeX", "AVX-512 F/VL/BW/DQ", KernelTier::avx512},
    {"Cooperlake", "AVX-512 with BF16", KernelTier::avx512},
}};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Each kernel tier's name in messages and the OpenBLAS core run at it ("": keep the detected one),
// indexed by the tier's value.
struct TierInfo {
  std::string_view name;
  std::string_view core;
};
constexpr std::array<TierInfo, 3> kTiers{{
    {"no AVX2", ""},          // KernelTier::baseline
    {"AVX2", "Haswell"},      // KernelTier::avx2
    {"AVX-512", "SkylakeX"},  // KernelTier::avx512
}};

const TierInfo& tier_info(KernelTier tier) { return kTiers.at(static_cast<size_t>(tier)); }

std::string_view tier_name(KernelTier tier) { return tier_info(tier).name; }

std::optional<std::string> lookup(const EnvMap& env, const std::string& name) {
  const auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  return it->second;
}

// The restart marker "<state> <core> <detected> [<detail>...]".
struct Marker {
  std::string state;
  std::string core;
  std::string detected;
  std::string detail;
};

std::optional<Marker> parse_marker(const EnvMap& env) {
  const auto value = lookup(env, kBlasRestartMarker);
  if (!value) return std::nullopt;
  std::istringstream in(*value);
  Marker m;
  in >> m.state >> m.core >> m.detected;
  std::getline(in >> std::ws, m.detail);
  return m;
}

std::string marker_value(std::string_view state, std::string_view core, std::string_view detected,
                         std::string_view detail = {}) {
  std::string out = std::string(state) + " " + std::string(core.empty() ? "-" : core) + " " +
                    std::string(detected.empty() ? "-" : detected);
  if (!detail.empty()) out += " " + std::string(detail);
  return out;
}

std::string format_error(double e) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1e", e);
  return buffer;
}

// Why the running core stays, when nothing set it.
std::string kept_note(std::string_view running, KernelTier best) {
  const OpenblasCore* core = find_openblas_core(running);
  if (core == nullptr) return "as detected; not an x86-64 core this program ranks";
  if (core->tier >= best)
    return "as detected; best for this CPU (" + std::string(tier_name(best)) + ")";
  return "as detected";
}

}  // namespace

std::span<const OpenblasCore> openblas_cores() { return kOpenblasCores; }

const OpenblasCore* find_openblas_core(std::string_view name) {
  for (const OpenblasCore& core : kOpenblasCores)
    if (equal_ignoring_case(core.name, name)) return &core;
  return nullptr;
}

CpuFeatures read_cpu_features() {
  CpuFeatures cpu;
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return cpu;
  const bool osxsave = (ecx >> 27) & 1u;
  cpu.fma = (ecx >> 12) & 1u;
  cpu.avx = (ecx >> 28) & 1u;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0) {
    cpu.avx2 = (ebx >> 5) & 1u;
    cpu.avx512f = (ebx >> 16) & 1u;
    cpu.avx512dq = (ebx >> 17) & 1u;
    cpu.avx512bw = (ebx >> 30) & 1u;
    cpu.avx512vl = (ebx >> 31) & 1u;
  }
  if (osxsave) {
    unsigned xcr0_low = 0, xcr0_high = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    cpu.os_ymm_state = (xcr0_low & 0x6u) == 0x6u;
    cpu.os_zmm_state = (xcr0_low & 0xE6u) == 0xE6u;
  }
#endif
  return cpu;
}

KernelTier best_kernel_tier(const CpuFeatures& cpu) {
  const bool avx2 = cpu.avx && cpu.avx2 && cpu.fma && cpu.os_ymm_state;
  if (avx2 && cpu.avx512f && cpu.avx512vl && cpu.avx512bw && cpu.avx512dq && cpu.os_zmm_state)
    return KernelTier::avx512;
  if (avx2) return KernelTier::avx2;
  return KernelTier::baseline;
}

std::string_view core_for_tier(KernelTier tier) { return tier_info(tier).core; }

bool GemmCheck::passed() const {
  return !crashed && float_error <= kFloatGemmTolerance && double_error <= kDoubleGemmTolerance;
}

StartupPlan plan_blas_startup(const EnvMap& env, std::string_view running_core, KernelTier best,
                              bool bounded_omp_spin) {
  StartupPlan plan;
  const std::string mode = lookup(env, kBlasChoiceVariable).value_or("auto");
  const OpenblasCore* asked = nullptr;
  if (mode != "auto" && mode != "off") {
    asked = find_openblas_core(mode);
    if (asked == nullptr)
      throw ConfigError(kBlasChoiceVariable, "'" + mode +
                                                 "' is not auto, off or an OpenBLAS core name (" +
                                                 registry_list(openblas_cores()) + ")");
  }
  const std::optional<Marker> marker = parse_marker(env);
  const std::optional<std::string> user_core = lookup(env, "OPENBLAS_CORETYPE");
  const bool openblas = !running_core.empty();

  // GOMP_SPINCOUNT rides on the same restart; the marker guards against a second one. A wait
  // policy or spin count the user set is theirs.
  if (bounded_omp_spin && !lookup(env, "OMP_WAIT_POLICY") && !lookup(env, "GOMP_SPINCOUNT") &&
      !marker) {
    plan.env_changes.emplace_back("GOMP_SPINCOUNT", kOmpSpinCount);
    plan.restart = true;
  }
  auto restart_marker = [&](std::string_view state, std::string_view core) {
    plan.env_changes.emplace_back(kBlasRestartMarker, marker_value(state, core, running_core));
  };

  if (!openblas) {
    if (plan.restart) restart_marker("kept", "");
    return plan;
  }
  if (marker && marker->state == "set" && user_core && *user_core == marker->core) {
    plan.check_override = true;
    const std::string reason = asked != nullptr ? std::string(kBlasChoiceVariable) + "=" + mode
                                                : std::string(tier_name(best));
    plan.note = "detected " + marker->detected + "; " + reason;
    if (!equal_ignoring_case(running_core, marker->core))
      plan.note += "; OpenBLAS ignored OPENBLAS_CORETYPE=" + marker->core;
    plan.note += "; " + std::string(kBlasChoiceVariable) + "=off to keep " + marker->detected;
    return plan;
  }
  if (marker && marker->state == "rejected") {
    plan.note = "as detected; " + marker->core + " rejected: " + marker->detail;
    return plan;
  }
  if (user_core) {
    plan.note = "OPENBLAS_CORETYPE=" + *user_core + " set by the user, left as is";
    const OpenblasCore* user = find_openblas_core(*user_core);
    if (user != nullptr && user->tier < best)
      plan.note += "; unset it for " + std::string(core_for_tier(best)) + " (" +
                   std::string(tier_name(best)) + ")";
    if (plan.restart) restart_marker("kept", "");
    return plan;
  }
  if (mode == "off") {
    plan.note = "as detected; " + std::string(kBlasChoiceVariable) + "=off";
    if (plan.restart) restart_marker("kept", "");
    return plan;
  }

  std::string_view target;
  if (asked != nullptr) {
    if (asked->tier > best) {
      plan.note = "as detected; " + std::string(kBlasChoiceVariable) + "=" + mode + " needs " +
                  std::string(tier_name(asked->tier)) + ", which this CPU or its OS lacks";
      if (plan.restart) restart_marker("kept", "");
      return plan;
    }
    target = asked->name;
  } else {
    const OpenblasCore* running = find_openblas_core(running_core);
    if (running != nullptr && running->tier < best) target = core_for_tier(best);
  }
  if (target.empty() || equal_ignoring_case(target, running_core)) {
    plan.note = asked != nullptr ? std::string(kBlasChoiceVariable) + "=" + mode
                                 : kept_note(running_core, best);
    if (plan.restart) restart_marker("kept", "");
    return plan;
  }
  if (marker) {  // restarted once already and the core is still not the target: never loop
    plan.note = "as detected; not restarted again (" + std::string(kBlasRestartMarker) + " is set)";
    return plan;
  }
  plan.env_changes.emplace_back("OPENBLAS_CORETYPE", std::string(target));
  restart_marker("set", target);
  plan.restart = true;
  return plan;
}

StartupPlan plan_after_gemm_check(const EnvMap& env, const GemmCheck& check) {
  StartupPlan plan;
  if (check.passed()) return plan;
  const std::optional<Marker> marker = parse_marker(env);
  const std::string core = marker ? marker->core : lookup(env, "OPENBLAS_CORETYPE").value_or("-");
  const std::string detected = marker ? marker->detected : "-";
  const std::string detail =
      check.crashed
          ? "start-up GEMM raised SIGILL"
          : "start-up GEMM off by " + format_error(check.float_error) + " (float, limit " +
                format_error(kFloatGemmTolerance) + ") and " + format_error(check.double_error) +
                " (double, limit " + format_error(kDoubleGemmTolerance) + ")";
  plan.env_changes.emplace_back("OPENBLAS_CORETYPE", std::nullopt);
  plan.env_changes.emplace_back(kBlasRestartMarker,
                                marker_value("rejected", core, detected, detail));
  plan.restart = true;
  return plan;
}

std::string blas_choice_line(std::string_view blas_name, std::string_view note) {
  std::string line = "blas: " + std::string(blas_name);
  if (!note.empty()) line += " (" + std::string(note) + ")";
  return line;
}

namespace {

// Deterministic entries in [-1, 1) (a 32-bit linear congruential generator, Numerical Recipes).
std::vector<double> test_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<double> out(static_cast<size_t>(rows * cols));
  for (double& v : out) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<double>(seed >> 8) / static_cast<double>(1u << 23) - 1.0;
  }
  return out;
}

// max_ij |C - A^op B|_ij / (|A^op| |B|)_ij with the reference in long double; A is stored
// [k, m] when transposed (C = A^T B), else [m, k].
template <class T>
double gemm_error(bool transpose_a) {
  constexpr int64_t m = 67, k = 64, n = 61;  // not multiples of the kernels' blocks
  const at::ScalarType type = std::is_same_v<T, float> ? at::kFloat : at::kDouble;
  const std::vector<double> a64 = test_matrix(m, k, 12345u), b64 = test_matrix(k, n, 678u);
  std::vector<T> a(a64.begin(), a64.end()), b(b64.begin(), b64.end());
  const at::Tensor ta =
      at::from_blob(a.data(), transpose_a ? at::IntArrayRef{k, m} : at::IntArrayRef{m, k}, type);
  const at::Tensor tb = at::from_blob(b.data(), {k, n}, type);
  const at::Tensor c = at::mm(transpose_a ? ta.t() : ta, tb).contiguous();
  const T* cp = c.data_ptr<T>();
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double exact = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        const long double x =
            transpose_a ? a[static_cast<size_t>(p * m + i)] : a[static_cast<size_t>(i * k + p)];
        const long double y = b[static_cast<size_t>(p * n + j)];
        exact += x * y;
        magnitude += std::abs(x * y);
      }
      const double err = static_cast<double>(std::abs(cp[i * n + j] - exact) / magnitude);
      worst = std::max(worst, std::isfinite(err) ? err : 1.0);
    }
  return worst;
}

// Environment and argv for the SIGILL handler's execve, built before the check runs.
std::vector<std::string> g_sigill_env_storage;
std::vector<char*> g_sigill_env;
char** g_sigill_argv = nullptr;

extern "C" void restart_after_sigill(int) {
  ::execve("/proc/self/exe", g_sigill_argv, g_sigill_env.data());
  ::_exit(128 + SIGILL);
}

void apply_env(const std::vector<std::pair<std::string, std::optional<std::string>>>& changes) {
  for (const auto& [name, value] : changes) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
}

EnvMap read_env() {
  EnvMap env;
  for (const char* name : {"OPENBLAS_CORETYPE", kBlasChoiceVariable, kBlasRestartMarker,
                           "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    if (const char* value = std::getenv(name)) env[name] = value;
  return env;
}

// "OpenBLAS core <name>", or the library that provides sgemm_ when it is not OpenBLAS.
std::string blas_name(std::string_view running_core) {
  if (!running_core.empty()) return "OpenBLAS core " + std::string(running_core);
  Dl_info info{};
  void* sgemm = ::dlsym(RTLD_DEFAULT, "sgemm_");
  if (sgemm != nullptr && ::dladdr(sgemm, &info) != 0 && info.dli_fname != nullptr)
    return std::string(info.dli_fname) + ", not OpenBLAS (no kernel choice made)";
  return "no BLAS library loaded, LibTorch's own GEMM (no kernel choice made)";
}

std::string running_openblas_core() {
  using CoreName = char* (*)();
  void* symbol = ::dlsym(RTLD_DEFAULT, "openblas_get_corename");
  if (symbol == nullptr) return "";
  const char* name = reinterpret_cast<CoreName>(symbol)();
  return name != nullptr ? name : "";
}

// Apply the plan's environment and execute /proc/self/exe; on failure, undo and return why.
std::string restart(const StartupPlan& plan, char** argv) {
  std::vector<std::pair<std::string, std::optional<std::string>>> undo;
  for (const auto& [name, value] : plan.env_changes) {
    const char* old = std::getenv(name.c_str());
    undo.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
  }
  apply_env(plan.env_changes);
  std::cerr.flush();
  ::execv("/proc/self/exe", argv);
  const std::string why = std::strerror(errno);
  apply_env(undo);
  return why;
}

}  // namespace

GemmCheck run_startup_gemm_check() {
  GemmCheck check;
  for (bool transpose : {false, true}) {
    check.float_error = std::max(check.float_error, gemm_error<float>(transpose));
    check.double_error = std::max(check.double_error, gemm_error<double>(transpose));
  }
  return check;
}

void start_with_fast_kernels(char** argv, bool bounded_omp_spin) {
  const EnvMap env = read_env();
  const std::string running = running_openblas_core();
  StartupPlan plan;
  try {
    plan = plan_blas_startup(env, running, best_kernel_tier(read_cpu_features()), bounded_omp_spin);
  } catch (const ConfigError& e) {
    const std::string program = argv[0] != nullptr ? argv[0] : "samplersearch";
    std::cerr << program.substr(program.find_last_of('/') + 1) << ": error: " << e.what()
              << std::endl;
    std::exit(2);
  }
  if (plan.restart) {
    const std::string why = restart(plan, argv);
    plan.note += (plan.note.empty() ? "" : "; ") + std::string("could not restart: ") + why;
  }
  if (plan.check_override) {
    // A kernel the CPU cannot run raises SIGILL: restart without the override from the handler.
    GemmCheck crashed;
    crashed.crashed = true;
    const StartupPlan on_sigill = plan_after_gemm_check(env, crashed);
    EnvMap sigill_env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto eq = entry.find('=');
      if (eq != std::string::npos) sigill_env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [name, value] : on_sigill.env_changes) {
      if (value)
        sigill_env[name] = *value;
      else
        sigill_env.erase(name);
    }
    for (const auto& [name, value] : sigill_env) g_sigill_env_storage.push_back(name + "=" + value);
    for (std::string& entry : g_sigill_env_storage) g_sigill_env.push_back(entry.data());
    g_sigill_env.push_back(nullptr);
    g_sigill_argv = argv;
    struct sigaction action {
    }, previous{};
    action.sa_handler = restart_after_sigill;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGILL, &action, &previous);
    const GemmCheck check = run_startup_gemm_check();
    ::sigaction(SIGILL, &previous, nullptr);

    const StartupPlan after = plan_after_gemm_check(env, check);
    if (after.restart) {
      const std::string why = restart(after, argv);
      plan.note += "; start-up GEMM failed and could not restart: " + why;
    } else {
      plan.note += "; start-up GEMM checked";
    }
  }
  std::cerr << blas_choice_line(blas_name(running), plan.note) << std::endl;
}

}  // namespace samplersearch
