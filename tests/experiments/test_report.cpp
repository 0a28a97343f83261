// The HTML report and its PNG grids: the PNG bytes decoded by an independent Python decoder
// (struct + zlib by hand, and PIL), the page rendered by headless Chromium (images load with their
// natural sizes, SVG heat maps and history present, a non-blank screenshot), escaping, error paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "cli_runner.hpp"
#include "samplersearch/common/error.hpp"
#include "samplersearch/experiments/report.hpp"
#include "samplersearch/samplers/discretization.hpp"
#include "samplersearch/samplers/solver.hpp"

namespace samplersearch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("ss_report_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

using Shell = test::CliRun;
using test::python;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Decodes a PNG by hand (signature, chunk CRCs, IHDR, concatenated IDAT, the five row filters) and,
// as a second decoder, with PIL; prints the header, chunk names and samples as JSON.
constexpr const char* kDecoder = R"PY(
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, chunks, idat = 8, [], b""
while pos < len(data):
    (length,) = struct.unpack(">I", data[pos:pos + 4])
    kind = data[pos + 4:pos + 8]
    body = data[pos + 8:pos + 8 + length]
    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert crc == zlib.crc32(kind + body) & 0xffffffff, "bad CRC in " + kind.decode()
    chunks.append(kind.decode())
    if kind == b"IHDR":
        w, h, depth, ctype, comp, filt, inter = struct.unpack(">IIBBBBB", body)
    if kind == b"IDAT":
        idat += body
    pos += 12 + length
assert pos == len(data), "trailing bytes"
channels = {0: 1, 2: 3}[ctype]
raw = zlib.decompress(idat)
stride = w * channels
assert len(raw) == h * (stride + 1), "IDAT size"
# Undo each row's filter (PNG specification, 2nd ed., section 9.2: None, Sub, Up, Average, Paeth).
bpp, prev, rows, filters = channels, bytearray(stride), [], set()
for y in range(h):
    f = raw[y * (stride + 1)]
    filters.add(f)
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 0:
            p = 0
        elif f == 1:
            p = a
        elif f == 2:
            p = b
        elif f == 3:
            p = (a + b) // 2
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        else:
            raise AssertionError("filter type %d" % f)
        line[i] = (line[i] + p) & 0xff
    rows.append(bytes(line))
    prev = line
filters = sorted(filters)
pixels = b"".join(rows)
out = dict(width=w, height=h, depth=depth, colour_type=ctype, compression=comp, filter=filt,
           interlace=inter, chunks=chunks, filters=filters, pixels=list(pixels))
try:
    from PIL import Image
    im = Image.open(sys.argv[1])
    im.load()
    out["pil_mode"] = im.mode
    out["pil_equal"] = im.tobytes() == pixels
except ImportError:
    out["pil_mode"] = None
print(json.dumps(out))
)PY";

json decode_png(const fs::path& png, const fs::path& dir) {
  const fs::path script = dir / "decode_png.py";
  std::ofstream(script) << kDecoder;
  const Shell r =
      test::run_shell("'" + python() + "' '" + script.string() + "' '" + png.string() + "' 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  return r.status == 0 ? json::parse(r.out) : json::object();
}

// The byte the grid should hold for a sample x: round((x + 1)·127.5) clamped (halves up).
int expected_byte(float x) {
  const double v = std::floor((static_cast<double>(x) + 1.0) * 127.5 + 0.5);
  return static_cast<int>(std::min(255.0, std::max(0.0, v)));
}

TEST(PngGrid, ByteMappingByHand) {
  EXPECT_EQ(expected_byte(-1.f), 0);
  EXPECT_EQ(expected_byte(1.f), 255);
  EXPECT_EQ(expected_byte(0.f), 128);   // 127.5 rounds up
  EXPECT_EQ(expected_byte(-0.5f), 64);  // 63.75
  EXPECT_EQ(expected_byte(2.f), 255);
  EXPECT_EQ(expected_byte(-3.f), 0);
}

TEST(PngGrid, GreyGridDecodesToTheExpectedSamplesAndWhiteGaps) {
  TempDir dir("grey");
  at::manual_seed(11);
  // 5 images of 3×4 in a 2-column grid: 3 rows, the 6th cell empty; values outside [-1, 1] too.
  at::Tensor images = at::rand({5, 1, 3, 4}) * 2.6f - 1.3f;
  images[0][0][0][0] = -1.f;
  images[0][0][0][1] = 1.f;
  images[0][0][0][2] = 0.f;
  images[4][0][2][3] = -0.5f;
  const fs::path png = dir.path / "grey.png";
  write_png_grid(images, 2, png.string());
  const json d = decode_png(png, dir.path);
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d["width"], 2 * 4 + 1);
  EXPECT_EQ(d["height"], 3 * 3 + 2);
  EXPECT_EQ(d["depth"], 8);
  EXPECT_EQ(d["colour_type"], 0);
  EXPECT_EQ(d["interlace"], 0);
  // libpng adds an sRGB chunk and picks a row filter per row; the decoder undoes any of the five.
  ASSERT_GE(d["chunks"].size(), 3u);
  EXPECT_EQ(d["chunks"].front(), "IHDR");
  EXPECT_EQ(d["chunks"].back(), "IEND");
  EXPECT_NE(std::find(d["chunks"].begin(), d["chunks"].end(), "IDAT"), d["chunks"].end());
  for (const json& f : d["filters"]) EXPECT_LE(f.get<int>(), 4);
  if (!d["pil_mode"].is_null()) {
    EXPECT_EQ(d["pil_mode"], "L");
    EXPECT_TRUE(d["pil_equal"].get<bool>());
  }
  const int width = 9, height = 11;
  std::vector<int> want(width * height, 255);
  for (int i = 0; i < 5; ++i)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x)
        want[((i / 2) * 4 + y) * width + (i % 2) * 5 + x] =
            expected_byte(images[i][0][y][x].item<float>());
  const std::vector<int> got = d["pixels"].get<std::vector<int>>();
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got, want);
  EXPECT_EQ(got[0], 0);
  EXPECT_EQ(got[1], 255);
  EXPECT_EQ(got[2], 128);
  EXPECT_EQ(got[4], 255);          // the gap column
  EXPECT_EQ(got[3 * width], 255);  // the gap row
  EXPECT_EQ(got[(8 + 2) * width + 3], 64);
  EXPECT_EQ(got[(8 + 2) * width + 5 + 3], 255);  // the empty 6th cell
}

TEST(PngGrid, RgbGridInterleavesChannels) {
  TempDir dir("rgb");
  at::manual_seed(12);
  const at::Tensor images = at::rand({3, 3, 2, 5}, at::kDouble) * 2 - 1;
  const fs::path png = dir.path / "rgb.png";
  write_png_grid(images, 3, png.string());
  const json d = decode_png(png, dir.path);
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d["width"], 3 * 5 + 2);
  EXPECT_EQ(d["height"], 2);
  EXPECT_EQ(d["colour_type"], 2);
  if (!d["pil_mode"].is_null()) {
    EXPECT_EQ(d["pil_mode"], "RGB");
    EXPECT_TRUE(d["pil_equal"].get<bool>());
  }
  const int width = 17;
  std::vector<int> want(width * 2 * 3, 255);
  for (int i = 0; i < 3; ++i)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 5; ++x)
        for (int c = 0; c < 3; ++c)
          want[(y * width + i * 6 + x) * 3 + c] =
              expected_byte(static_cast<float>(images[i][c][y][x].item<double>()));
  EXPECT_EQ(d["pixels"].get<std::vector<int>>(), want);
}

TEST(PngGrid, RejectsBadShapesAndUnwritablePaths) {
  try {
    write_png_grid(at::zeros({2, 2, 4, 4}), 2, "/tmp/unused.png");
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "images: expected a tensor [n, c, h, w] with n >= 1 and c = 1 or 3, got "
                 "[2, 2, 4, 4]");
  }
  try {
    write_png_grid(at::zeros({2, 1, 4, 4}), 0, "/tmp/unused.png");
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "columns: must be >= 1, got 0");
  }
  TempDir dir("pngerr");
  std::ofstream(dir.path / "file") << "x";
  const std::string bad = (dir.path / "file" / "g.png").string();
  try {
    write_png_grid(at::zeros({1, 1, 2, 2}), 1, bad);
    FAIL() << "no throw";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), bad);
    EXPECT_EQ(std::string(e.what()), bad + ": cannot write: Not a directory");
  }
}

// ---- The page ---------------------------------------------------------------------------------

constexpr int kSteps = 5;

// Random lower-triangular matrices on vp-linear (time-quadratic times), newest entries near α.
Matrices random_matrices(std::mt19937& rng) {
  Matrices m;
  m.schedule = make_schedule("vp-linear");
  m.times = make_timesteps("time-quadratic", *m.schedule, kSteps, {1.0, 1e-3});
  m.signal = RowMatrix::Zero(kSteps + 1, kSteps);
  m.noise = RowMatrix::Zero(kSteps + 1, kSteps + 1);
  std::normal_distribution<double> normal(0, 0.3);
  for (int k = 0; k <= kSteps; ++k) {
    m.noise(k, 0) = m.schedule->sigma(m.times[static_cast<size_t>(k)]);
    for (int j = 0; j < k; ++j) m.signal(k, j) = normal(rng);
    if (k > 0) m.signal(k, k - 1) = m.schedule->alpha(m.times[static_cast<size_t>(k)]) + 0.2;
  }
  m.solver = "searched";
  return m;
}

struct Synthetic {
  std::vector<TrialRecord> trials;
  Matrices classic;
  ReportInput input;
};

// ~30 trials of mixed states with values over two decades, three baselines, two 16-image grids.
std::unique_ptr<Synthetic> synthetic(bool log_values) {
  auto s = std::make_unique<Synthetic>();
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> u(0, 1);
  for (int n = 0; n < 31; ++n) {
    TrialRecord t;
    t.number = n;
    t.params = {{"c", n}};
    if (n == 30) {
      t.state = TrialState::running;
    } else if (n % 7 == 3) {
      t.state = TrialState::fail;
      t.reason = "NaN in x_3 <at> step & \"3\"";
    } else if (n % 4 == 1) {
      t.state = TrialState::pruned;
      t.intermediate = {{250, log_values ? 20.0 + n : 3.5}, {500, log_values ? 18.0 + n : 3.2}};
      t.reason = "pruned at 500";
    } else {
      t.state = TrialState::complete;
      t.value = log_values ? std::pow(10.0, 2.0 * u(rng) - 0.3) : 2 + u(rng);
      t.matrices = random_matrices(rng);
      t.intermediate = {{250, *t.value * 1.1}, {500, *t.value}};
    }
    s->trials.push_back(t);
  }
  s->classic = solver_matrices(
      "dpmsolver++",
      SolverPlan{make_schedule("vp-linear"), TimeGrid("time-quadratic", {1.0, 1e-3}), kSteps, [] {
                   SolverOptions o;
                   o.order = 2;
                   o.method = "multistep";
                   return o;
                 }()});
  ReportInput& in = s->input;
  in.title = "fmnist <nfe 5> & \"friends\"";
  in.experiment = "{\"name\": \"x</pre><script>alert(1)</script>\", \"nfe\": 5}";
  in.metric = "excess FD (classifier), 1000 samples";
  in.trials = s->trials;
  const std::pair<const char*, double> baselines[] = {{"ddim", log_values ? 30.0 : 3.5},
                                                      {"dpmsolver++(2M)", log_values ? 5.0 : 2.8},
                                                      {"unipc(3)", log_values ? 4.0 : 2.7}};
  for (const auto& [label, value] : baselines) {
    Baseline b;
    b.label = label;
    b.value = value;
    in.baselines.push_back(b);
  }
  const TrialRecord* best = nullptr;
  for (const TrialRecord& t : in.trials)
    if (t.state == TrialState::complete && (!best || *t.value < *best->value)) best = &t;
  in.best = best;
  in.classic = &s->classic;
  in.classic_label = "dpmsolver++(2M)";
  at::manual_seed(7);
  in.best_grid = at::rand({16, 1, 28, 28}) * 2 - 1;
  in.classic_grid = at::rand({16, 1, 28, 28}) * 2 - 1;
  in.classic_grid_label = "dpmsolver++(2M), same noise";
  return s;
}

TEST(Report, UnwritableDirectoryIsAFileErrorNamingIt) {
  TempDir dir("unwritable");
  std::ofstream(dir.path / "plain") << "x";
  const auto s = synthetic(true);
  const std::string bad = (dir.path / "plain" / "report").string();
  try {
    write_report(s->input, bad);
    FAIL() << "no throw";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), bad);
    EXPECT_EQ(std::string(e.what()).rfind(bad + ": cannot create the report directory: ", 0), 0u)
        << e.what();
  }
  const std::string file = (dir.path / "plain").string();  // exists, but is a file
  try {
    write_report(s->input, file);
    FAIL() << "no throw";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), file);
  }
}

// A page without a best trial, classic matrices or samples still renders, saying what is missing;
// a grid of the wrong shape is a ConfigError naming the field.
TEST(Report, MissingPartsAndBadGrids) {
  TempDir dir("empty");
  ReportInput in;
  in.title = "empty";
  in.metric = "fd";
  const std::string html = slurp(write_report(in, (dir.path / "r").string()));
  EXPECT_NE(html.find("no COMPLETE trial yet"), std::string::npos);
  EXPECT_EQ(count(html, "<p class=\"missing\">no samples</p>"), 2u);
  EXPECT_EQ(count(html, "<rect class=\"cell\""), 0u);
  EXPECT_FALSE(fs::exists(dir.path / "r" / "best.png"));
  EXPECT_NE(html.find("ratio to DPM-Solver++(2M) (not measured)"), std::string::npos);
  in.best_grid = at::zeros({4, 2, 8, 8});
  try {
    write_report(in, (dir.path / "r").string());
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "best_grid: expected samples [n, c, h, w] with n >= 1 and c = 1 or 3");
  }
}

// The value axis is logarithmic only for positive values over more than a decade; the running
// best steps down once per improvement.
TEST(Report, HistoryScaleAndRunningBest) {
  for (const bool log_values : {true, false}) {
    TempDir dir(log_values ? "log" : "lin");
    const auto s = synthetic(log_values);
    const std::string html = slurp(write_report(s->input, dir.path.string()));
    EXPECT_EQ(html.find("(log scale)") != std::string::npos, log_values);
    int improvements = 0, complete = 0, pruned = 0, failed = 0;
    double best = INFINITY;
    for (const TrialRecord& t : s->trials) {
      complete += t.state == TrialState::complete;
      pruned += t.state == TrialState::pruned;
      failed += t.state == TrialState::fail;
      if (t.state != TrialState::complete) continue;
      if (std::isfinite(best) && *t.value < best) ++improvements;
      best = std::min(best, *t.value);
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_search(html, m, std::regex("class=\"running-best\" d=\"([^\"]*)\"")));
    EXPECT_EQ(static_cast<int>(count(m[1].str(), "V")), improvements);
    EXPECT_EQ(count(html, "<circle class=\"complete"), static_cast<size_t>(complete));
    EXPECT_EQ(count(html, "<circle class=\"pruned\""), static_cast<size_t>(pruned));
    EXPECT_EQ(count(html, "<path class=\"fail\""), static_cast<size_t>(failed));
    EXPECT_EQ(count(html, "<line class=\"baseline\""), 3u);
    // Summary: counts by state and the ratio to DPM-Solver++(2M).
    EXPECT_NE(html.find(std::to_string(complete) + " COMPLETE, " + std::to_string(pruned) +
                        " PRUNED, " + std::to_string(failed) + " FAIL, 1 RUNNING"),
              std::string::npos);
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.4g", best / (log_values ? 5.0 : 2.8));
    EXPECT_NE(html.find(std::string("<td class=\"num\">") + ratio + "</td>"), std::string::npos)
        << ratio;
    if (log_values) {
      EXPECT_NE(html.find("<td>ddim</td><td class=\"num\">30</td><td class=\"num\">6</td>"),
                std::string::npos);
    }
  }
}

// Chromium's --dump-dom output and a screenshot of the report.
struct Rendered {
  int status;
  std::string dom, log;
  fs::path screenshot;
  double seconds;
};

Rendered render(const fs::path& html, const fs::path& work) {
  const fs::path profile = work / "chromium-profile", shot = work / "screenshot.png",
                 log = work / "chromium.log";
  const std::string cmd =
      "timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic "
      "--no-first-run --disable-background-networking --disable-component-update --disable-sync "
      "--user-data-dir='" +
      profile.string() +
      "' --virtual-time-budget=5000 "
      "--window-size=1200,2400 --screenshot='" +
      shot.string() + "' --dump-dom 'file://" + html.string() + "' 2>'" + log.string() + "'";
  const auto t0 = std::chrono::steady_clock::now();
  const Shell r = test::run_shell(cmd);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {r.status, r.out, slurp(log), shot, seconds};
}

// Size, distinct colours, non-white and strongly coloured pixels of a PNG (via PIL and numpy).
constexpr const char* kScreenshotStats = R"PY(
import json, sys
import numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert("RGB")).astype(int)
flat = a.reshape(-1, 3)
print(json.dumps(dict(width=a.shape[1], height=a.shape[0],
    colours=int(len(np.unique(flat[:, 0] * 65536 + flat[:, 1] * 256 + flat[:, 2]))),
    non_white=float((flat.min(axis=1) < 240).mean()),
    saturated=int(((flat.max(axis=1) - flat.min(axis=1)) > 80).sum()))))
)PY";

TEST(Report, RendersInHeadlessChromiumWithImagesAndHeatMaps) {
  if (!fs::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "/usr/bin/chromium is not installed (Debian package 'chromium'; "
                    "scripts/setup installs it)";
  TempDir dir("chromium");
  const auto s = synthetic(true);
  const fs::path out = dir.path / "report";
  const std::string index = write_report(s->input, out.string());
  EXPECT_EQ(index, (out / "index.html").string());
  EXPECT_TRUE(fs::exists(out / "best.png"));
  EXPECT_TRUE(fs::exists(out / "classic.png"));

  // Self-contained: nothing fetched from the network (the SVG namespace is a name, not a fetch).
  const std::string html = slurp(index);
  EXPECT_EQ(count(html, "http"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("x&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("<title>fmnist &lt;nfe 5&gt; &amp; &quot;friends&quot;"), std::string::npos);

  const Rendered r = render(index, dir.path);
  std::printf("chromium: %.2f s\n", r.seconds);
  ASSERT_EQ(r.status, 0) << r.log;
  const std::string& dom = r.dom;
  ASSERT_NE(dom.find("</html>"), std::string::npos) << dom.substr(0, 2000) << r.log;
  // Both PNGs loaded with their natural sizes: 4 columns of 28 plus 3 gaps = 115 pixels.
  EXPECT_NE(dom.find("data-images-loaded=\"2\""), std::string::npos) << dom.substr(0, 3000);
  EXPECT_NE(dom.find("data-images-total=\"2\""), std::string::npos);
  EXPECT_NE(dom.find("best.png:115x115"), std::string::npos);
  EXPECT_NE(dom.find("classic.png:115x115"), std::string::npos);
  // The SVGs: history, two heat maps, the colour bar; N(N+1)/2 coloured cells per map.
  EXPECT_EQ(count(dom, "<svg"), 4u);
  EXPECT_EQ(count(dom, "<svg class=\"heatmap\""), 2u);
  EXPECT_EQ(count(dom, "<rect class=\"cell\""), static_cast<size_t>(kSteps * (kSteps + 1)));
  EXPECT_EQ(count(dom, "<rect class=\"na\""), static_cast<size_t>(kSteps * (kSteps - 1)));
  // The escaped experiment is text in the DOM, not a script element.
  EXPECT_EQ(dom.find("<script>alert"), std::string::npos);
  EXPECT_NE(dom.find("x&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  // A tooltip: the best trial's C[2][0] divided by C[2][1], and α(t_2) from the schedule.
  const Matrices& b = *s->input.best->matrices;
  char want[160];
  std::snprintf(want, sizeof want,
                "C[2][0] / C[2][1] = %.5g   (C = %.6g)\nmarginal \u03b1(t_2) = %.5g",
                b.signal(2, 0) / b.signal(2, 1), b.signal(2, 0), b.schedule->alpha(b.times[2]));
  EXPECT_NE(dom.find(want), std::string::npos) << want;
  // And DPM-Solver++(2M)'s C[3][1] / C[3][2].
  const Matrices& c = s->classic;
  std::snprintf(want, sizeof want, "C[3][1] / C[3][2] = %.5g   (C = %.6g)",
                c.signal(3, 1) / c.signal(3, 2), c.signal(3, 1));
  EXPECT_NE(dom.find(want), std::string::npos) << want;

  // The screenshot: a real page, with colour (heat maps, marks), not a blank window.
  ASSERT_TRUE(fs::exists(r.screenshot)) << r.log;
  const fs::path script = dir.path / "stats.py";
  std::ofstream(script) << kScreenshotStats;
  const Shell st = test::run_shell("'" + python() + "' '" + script.string() + "' '" +
                                   r.screenshot.string() + "' 2>&1");
  ASSERT_EQ(st.status, 0) << st.out;
  const json stats = json::parse(st.out);
  EXPECT_EQ(stats["width"], 1200);
  EXPECT_EQ(stats["height"], 2400);
  EXPECT_GT(stats["colours"].get<int>(), 100) << st.out;
  EXPECT_GT(stats["non_white"].get<double>(), 0.03) << st.out;
  EXPECT_GT(stats["saturated"].get<int>(), 2000) << st.out;
  std::printf("screenshot: %s\n", st.out.c_str());
  if (const char* keep = std::getenv("SAMPLERSEARCH_KEEP_REPORT")) {  // to look at it by eye
    fs::copy(dir.path, keep, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace samplersearch
