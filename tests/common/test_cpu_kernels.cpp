// The start-up choice of BLAS kernels as pure functions: the CPUID decision table, the
// environment handling (user value kept, off respected, the restart loop guard) and the GEMM
// check's tolerances.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "samplersearch/common/cpu_kernels.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

CpuFeatures avx2_cpu() {
  CpuFeatures c;
  c.avx = c.fma = c.avx2 = c.os_ymm_state = true;
  return c;
}
CpuFeatures avx512_cpu() {
  CpuFeatures c = avx2_cpu();
  c.avx512f = c.avx512vl = c.avx512bw = c.avx512dq = c.os_zmm_state = true;
  return c;
}

struct TierCase {
  const char* name;
  CpuFeatures cpu;
  KernelTier tier;
  const char* core;
};

TEST(CpuKernels, DecisionTableOverFeatureFlags) {
  std::vector<TierCase> cases;
  cases.push_back({"nothing", CpuFeatures{}, KernelTier::baseline, ""});
  cases.push_back({"avx2+fma with ymm state", avx2_cpu(), KernelTier::avx2, "Haswell"});
  CpuFeatures c = avx2_cpu();
  c.os_ymm_state = false;
  cases.push_back({"avx2 but the OS saves no ymm state", c, KernelTier::baseline, ""});
  c = avx2_cpu();
  c.fma = false;
  cases.push_back({"avx2 without fma", c, KernelTier::baseline, ""});
  c = avx2_cpu();
  c.avx = false;
  cases.push_back({"avx2 bit without avx", c, KernelTier::baseline, ""});
  cases.push_back(
      {"avx-512 f/vl/bw/dq with zmm state", avx512_cpu(), KernelTier::avx512, "SkylakeX"});
  c = avx512_cpu();
  c.os_zmm_state = false;
  cases.push_back({"avx-512 but the OS saves no zmm state", c, KernelTier::avx2, "Haswell"});
  c = avx512_cpu();
  c.avx512dq = false;
  cases.push_back({"avx-512 without dq", c, KernelTier::avx2, "Haswell"});
  c = avx512_cpu();
  c.avx512vl = false;
  cases.push_back({"avx-512 without vl", c, KernelTier::avx2, "Haswell"});
  c = avx512_cpu();
  c.avx512bw = false;
  cases.push_back({"avx-512 without bw", c, KernelTier::avx2, "Haswell"});
  c = avx512_cpu();
  c.os_ymm_state = false;
  cases.push_back({"avx-512 without ymm state", c, KernelTier::baseline, ""});
  for (const TierCase& t : cases) {
    EXPECT_EQ(best_kernel_tier(t.cpu), t.tier) << t.name;
    EXPECT_EQ(core_for_tier(best_kernel_tier(t.cpu)), t.core) << t.name;
  }
}

// The kernel's /proc/cpuinfo flags come from the same CPUID bits, masked by the XSAVE state it
// enables: an independent reading of this machine.
TEST(CpuKernels, FeaturesMatchProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  if (!in) GTEST_SKIP() << "no /proc/cpuinfo";
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;) flags.insert(w);
      break;
    }
  if (flags.empty()) GTEST_SKIP() << "no x86 flags line";
  const CpuFeatures cpu = read_cpu_features();
  EXPECT_EQ(cpu.avx, flags.count("avx") == 1);
  EXPECT_EQ(cpu.fma, flags.count("fma") == 1);
  EXPECT_EQ(cpu.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(cpu.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(cpu.avx512vl, flags.count("avx512vl") == 1);
  EXPECT_EQ(cpu.avx512bw, flags.count("avx512bw") == 1);
  EXPECT_EQ(cpu.avx512dq, flags.count("avx512dq") == 1);
  // Linux lists avx/avx512f only when it saves their register state.
  EXPECT_TRUE(!cpu.avx || cpu.os_ymm_state);
  EXPECT_TRUE(!cpu.avx512f || cpu.os_zmm_state);
}

TEST(CpuKernels, CoreTableIsCaseInsensitiveAndRanked) {
  ASSERT_NE(find_openblas_core("skylakex"), nullptr);
  EXPECT_EQ(find_openblas_core("skylakex")->name, "SkylakeX");
  EXPECT_EQ(find_openblas_core("PRESCOTT")->tier, KernelTier::baseline);
  EXPECT_EQ(find_openblas_core("Zen")->tier, KernelTier::avx2);
  EXPECT_EQ(find_openblas_core("Cooperlake")->tier, KernelTier::avx512);
  EXPECT_EQ(find_openblas_core("POWER9"), nullptr);
  // The cores the decision can choose are in the table at their own tier.
  for (KernelTier t : {KernelTier::avx2, KernelTier::avx512})
    EXPECT_EQ(find_openblas_core(core_for_tier(t))->tier, t);
}

const std::string kMarker = kBlasRestartMarker;
const std::string kChoice = kBlasChoiceVariable;

std::optional<std::string> change(const StartupPlan& p, const std::string& name) {
  for (const auto& [n, v] : p.env_changes)
    if (n == name) return v.value_or("<unset>");
  return std::nullopt;
}

struct EnvCase {
  const char* name;
  EnvMap env;
  const char* running;
  KernelTier best;
  bool bounded_spin;  // start_with_fast_kernels' bounded_omp_spin
  bool restart;
  std::optional<std::string> coretype;  // OPENBLAS_CORETYPE change
  std::optional<std::string> marker;    // marker change
  std::string note_part;                // substring of the note
  bool check_override = false;
};

TEST(CpuKernels, EnvironmentHandling) {
  const std::vector<EnvCase> cases = {
      {"Prescott fallback on AVX-512",
       {},
       "Prescott",
       KernelTier::avx512,
       false,
       true,
       "SkylakeX",
       "set SkylakeX Prescott",
       ""},
      {"Haswell detected on an AVX-512 CPU",
       {},
       "Haswell",
       KernelTier::avx512,
       false,
       true,
       "SkylakeX",
       "set SkylakeX Haswell",
       ""},
      {"Prescott fallback on AVX2",
       {},
       "Prescott",
       KernelTier::avx2,
       false,
       true,
       "Haswell",
       "set Haswell Prescott",
       ""},
      {"already the best",
       {},
       "SkylakeX",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "best for this CPU (AVX-512)"},
      {"Cooperlake is AVX-512 too",
       {},
       "Cooperlake",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "best for this CPU"},
      {"user's OPENBLAS_CORETYPE kept",
       {{"OPENBLAS_CORETYPE", "Prescott"}},
       "Prescott",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "OPENBLAS_CORETYPE=Prescott set by the user, left as is; unset it for SkylakeX (AVX-512)"},
      {"user's best core kept without a hint",
       {{"OPENBLAS_CORETYPE", "Cooperlake"}},
       "Cooperlake",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "left as is"},
      {"user's empty OPENBLAS_CORETYPE kept",
       {{"OPENBLAS_CORETYPE", ""}},
       "Cooperlake",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "set by the user"},
      {"off respected",
       {{kChoice, "off"}},
       "Prescott",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "as detected; SAMPLERSEARCH_BLAS_CORETYPE=off"},
      {"a core name, any case",
       {{kChoice, "haswell"}},
       "Prescott",
       KernelTier::avx512,
       false,
       true,
       "Haswell",
       "set Haswell Prescott",
       ""},
      {"a core the CPU cannot run",
       {{kChoice, "SkylakeX"}},
       "Prescott",
       KernelTier::avx2,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "needs AVX-512, which this CPU or its OS lacks"},
      {"after the restart: check the override",
       {{kMarker, "set SkylakeX Prescott"}, {"OPENBLAS_CORETYPE", "SkylakeX"}},
       "SkylakeX",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "detected Prescott; AVX-512; SAMPLERSEARCH_BLAS_CORETYPE=off to keep Prescott",
       true},
      {"loop guard: marker without the variable",
       {{kMarker, "set SkylakeX Prescott"}},
       "Prescott",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "not restarted again"},
      {"loop guard: a restart already happened for the spin count",
       {{kMarker, "kept - Prescott"}, {"GOMP_SPINCOUNT", kOmpSpinCount}},
       "Prescott",
       KernelTier::avx512,
       true,
       false,
       std::nullopt,
       std::nullopt,
       "not restarted again"},
      {"rejected core stays rejected",
       {{kMarker, "rejected SkylakeX Prescott start-up GEMM raised SIGILL"}},
       "Prescott",
       KernelTier::avx512,
       true,
       false,
       std::nullopt,
       std::nullopt,
       "as detected; SkylakeX rejected: start-up GEMM raised SIGILL"},
      {"spin count alone restarts once",
       {},
       "SkylakeX",
       KernelTier::avx512,
       true,
       true,
       std::nullopt,
       "kept - SkylakeX",
       "best for this CPU"},
      {"spin count and core in one restart",
       {},
       "Prescott",
       KernelTier::avx512,
       true,
       true,
       "SkylakeX",
       "set SkylakeX Prescott",
       ""},
      {"wait policy already set",
       {{"OMP_WAIT_POLICY", "ACTIVE"}},
       "SkylakeX",
       KernelTier::avx512,
       true,
       false,
       std::nullopt,
       std::nullopt,
       ""},
      {"spin count already set",
       {{"GOMP_SPINCOUNT", "500"}},
       "SkylakeX",
       KernelTier::avx512,
       true,
       false,
       std::nullopt,
       std::nullopt,
       ""},
      {"not OpenBLAS", {}, "", KernelTier::avx512, false, false, std::nullopt, std::nullopt, ""},
      {"a core this program does not rank",
       {},
       "POWER9",
       KernelTier::avx512,
       false,
       false,
       std::nullopt,
       std::nullopt,
       "not an x86-64 core this program ranks"},
  };
  for (const EnvCase& c : cases) {
    const StartupPlan p = plan_blas_startup(c.env, c.running, c.best, c.bounded_spin);
    EXPECT_EQ(p.restart, c.restart) << c.name;
    EXPECT_EQ(change(p, "OPENBLAS_CORETYPE"), c.coretype) << c.name;
    EXPECT_EQ(change(p, kMarker), c.marker) << c.name;
    EXPECT_EQ(p.check_override, c.check_override) << c.name;
    EXPECT_NE(p.note.find(c.note_part), std::string::npos) << c.name << ": " << p.note;
    const bool sets_spin = change(p, "GOMP_SPINCOUNT") == std::string(kOmpSpinCount);
    EXPECT_EQ(sets_spin, c.bounded_spin && !c.env.count("OMP_WAIT_POLICY") &&
                             !c.env.count("GOMP_SPINCOUNT") && !c.env.count(kMarker))
        << c.name;
    EXPECT_FALSE(change(p, "OMP_WAIT_POLICY").has_value()) << c.name << ": the user's to set";
    // Every restart carries the marker: no path can restart forever.
    EXPECT_TRUE(!p.restart || change(p, kMarker).has_value()) << c.name;
  }
}

TEST(CpuKernels, BadChoiceIsAConfigError) {
  try {
    plan_blas_startup({{kChoice, "fastest"}}, "Prescott", KernelTier::avx512, false);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("SAMPLERSEARCH_BLAS_CORETYPE: 'fastest' is not auto, off or an OpenBLAS "
                        "core name (Katmai, Coppermine,",
                        0),
              0u)
        << msg;
    EXPECT_NE(msg.find("Haswell, Zen, SkylakeX, Cooperlake)"), std::string::npos) << msg;
  }
}

TEST(CpuKernels, FailedCheckRestartsWithoutTheOverride) {
  const EnvMap env = {{kMarker, "set SkylakeX Prescott"}, {"OPENBLAS_CORETYPE", "SkylakeX"}};
  GemmCheck good;
  good.float_error = kFloatGemmTolerance;
  good.double_error = kDoubleGemmTolerance;
  EXPECT_TRUE(good.passed());
  EXPECT_FALSE(plan_after_gemm_check(env, good).restart);

  GemmCheck bad = good;
  bad.float_error = 0.25;
  const StartupPlan p = plan_after_gemm_check(env, bad);
  EXPECT_TRUE(p.restart);
  EXPECT_EQ(change(p, "OPENBLAS_CORETYPE"), "<unset>");
  EXPECT_EQ(change(p, kMarker),
            "rejected SkylakeX Prescott start-up GEMM off by 2.5e-01 (float, limit 7.6e-06) and "
            "1.4e-14 (double, limit 1.4e-14)");

  // The restarted process runs the detected core and says why.
  EnvMap after = env;
  after.erase("OPENBLAS_CORETYPE");
  after[kMarker] = *change(p, kMarker);
  const StartupPlan next = plan_blas_startup(after, "Prescott", KernelTier::avx512, true);
  EXPECT_FALSE(next.restart);
  EXPECT_EQ(blas_choice_line("OpenBLAS core Prescott", next.note),
            "blas: OpenBLAS core Prescott (as detected; SkylakeX rejected: start-up GEMM off by "
            "2.5e-01 (float, limit 7.6e-06) and 1.4e-14 (double, limit 1.4e-14))");

  GemmCheck sigill;
  sigill.crashed = true;
  EXPECT_FALSE(sigill.passed());
  EXPECT_EQ(change(plan_after_gemm_check(env, sigill), kMarker),
            "rejected SkylakeX Prescott start-up GEMM raised SIGILL");
}

// Tolerances: 2 k u for k = 64 with u = 2^-24 (float) and 2^-53 (double).
TEST(CpuKernels, GemmToleranceValues) {
  EXPECT_DOUBLE_EQ(kFloatGemmTolerance, 128.0 / 16777216.0);
  EXPECT_DOUBLE_EQ(kDoubleGemmTolerance, 128.0 / 9007199254740992.0);
}

// The check on this machine's running kernels: inside the bound, and not trivially zero (the
// float product really is compared with a more precise reference).
TEST(CpuKernels, StartupGemmPassesHere) {
  const GemmCheck c = run_startup_gemm_check();
  EXPECT_TRUE(c.passed()) << c.float_error << " " << c.double_error;
  EXPECT_GT(c.float_error, 1e-9);
  EXPECT_LE(c.float_error, kFloatGemmTolerance);
  EXPECT_LE(c.double_error, kDoubleGemmTolerance);
  EXPECT_LT(c.double_error, c.float_error);
}

}  // namespace
}  // namespace samplersearch
