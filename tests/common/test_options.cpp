// The option reader: values, defaults, bounds, and the exact messages of wrong and unknown keys.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "samplersearch/common/error.hpp"
#include "samplersearch/common/options.hpp"

namespace samplersearch {
namespace {

using nlohmann::json;

// The message of the ConfigError `f` throws ("" when it throws none).
template <class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(OptionReader, ReadsValuesAndDefaults) {
  const json o = {{"beta_max", 20},      {"kind", "b"}, {"on", true},       {"ks", {1, 2.5}},
                  {"names", {"x", "y"}}, {"n", 7},      {"raw", {{"a", 1}}}};
  OptionReader r(o, "schedule.params");
  EXPECT_EQ(r.number("beta_max", 0.0, {.min = 0}), 20.0);
  EXPECT_EQ(r.number("beta_min", 0.1), 0.1);
  EXPECT_EQ(r.integer("n", 3, {.min = 1, .max = 10}), 7);
  EXPECT_EQ(r.integer("m", 3), 3);
  EXPECT_EQ(r.choice("kind", "a", {"a", "b"}), "b");
  EXPECT_EQ(r.string("label", "none"), "none");
  EXPECT_TRUE(r.flag("on"));
  EXPECT_FALSE(r.flag("off"));
  EXPECT_EQ(r.list("ks", {}), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(r.strings("names", {}), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.value("raw"), (json{{"a", 1}}));
  EXPECT_TRUE(r.value("absent").is_null());
  EXPECT_NO_THROW(r.finish());
  EXPECT_EQ(r.valid(), "beta_max, beta_min, n, m, kind, label, on, off, ks, names, raw, absent");
}

TEST(OptionReader, NullIsEmptyAndOtherValuesAreRejected) {
  OptionReader r(json(), "metric.params");
  EXPECT_EQ(r.number("x", 1.5), 1.5);
  EXPECT_NO_THROW(r.finish());
  EXPECT_EQ(message_of([] { OptionReader(json::array({1}), "metric.params"); }),
            "metric.params: must be a JSON object");
}

// The valid-key list is what was asked for, in order, and not the object's keys.
TEST(OptionReader, FinishNamesTheUnknownKeyAndTheKeysRead) {
  OptionReader r(json{{"tail", 2}, {"tial", 3}}, "space");
  r.integer("tail", 3, {.min = 1, .max = 1000});
  r.number("low", -2.0);
  r.flag("stochastic");
  r.accept("times");
  EXPECT_EQ(message_of([&] { r.finish(); }),
            "space.tial: unknown field (valid here: tail, low, stochastic, times)");
  OptionReader none(json{{"x", 1}}, "trajectory_mse");
  EXPECT_EQ(message_of([&] { none.finish(); }),
            "trajectory_mse.x: unknown field (valid here: none)");
}

TEST(OptionReader, WrongTypesAndRangesNameTheFieldAndTheBounds) {
  const json o = {{"a", "x"}, {"b", -1},  {"c", 2.5}, {"d", 1},   {"e", "yes"}, {"f", {1, "2"}},
                  {"g", 0},   {"h", 1.0}, {"i", 3},   {"j", "z"}, {"k", {1}}};
  OptionReader r(o, "o");
  EXPECT_EQ(message_of([&] { r.number("a", 0); }), "o.a: must be a number");
  EXPECT_EQ(message_of([&] { r.number("b", 0, {.min = 0}); }), "o.b: must be a number >= 0");
  EXPECT_EQ(message_of([&] { r.integer("c", 0); }), "o.c: must be an integer");
  EXPECT_EQ(message_of([&] { r.integer("b", 0, {.min = 2}); }), "o.b: must be an integer >= 2");
  EXPECT_EQ(message_of([&] { r.string("d", ""); }), "o.d: must be a string");
  EXPECT_EQ(message_of([&] { r.flag("e"); }), "o.e: must be true or false");
  EXPECT_EQ(message_of([&] { r.list("f", {}); }), "o.f: must be a list of numbers");
  EXPECT_EQ(message_of([&] {
              r.number("g", 0.5, {.min = 0, .max = 1, .open_min = true, .open_max = true});
            }),
            "o.g: must be a number in (0, 1)");
  EXPECT_EQ(message_of([&] { r.number("h", 0.5, {.min = 0, .max = 1, .open_max = true}); }),
            "o.h: must be a number in [0, 1)");
  EXPECT_EQ(message_of([&] { r.number("i", 0, {.max = 2.5}); }), "o.i: must be a number <= 2.5");
  EXPECT_EQ(message_of([&] { r.number("g", 1, {.min = 0, .open_min = true}); }),
            "o.g: must be a number > 0");
  EXPECT_EQ(message_of([&] {
              r.choice("j", "a", {"a", "b"});
            }),
            "o.j: unknown name 'z' (valid: a, b)");
  EXPECT_EQ(message_of([&] { r.strings("k", {}); }), "o.k: must be a list of strings");
  EXPECT_EQ(message_of([&] { r.list("k", {}, {.min = 2, .max = 3}); }),
            "o.k: must be a list of numbers in [2, 3]");
  // Bounds that hold are not an error; an integer is a number.
  EXPECT_EQ(r.number("i", 0, {.min = 3, .max = 3}), 3.0);
  EXPECT_EQ(message_of([&] { r.fail("i", "is odd"); }), "o.i: is odd");
}

}  // namespace
}  // namespace samplersearch
