// Optuna bridge responses (search/README.md): one line through parse_bridge_response (request
// id 7), then, when it is accepted, through every decoder of an ok response.
#include "fuzz_support.hpp"
#include "samplersearch/search/optuna_bridge.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace samplersearch;
  nlohmann::json resp;
  try {
    resp = parse_bridge_response(fuzz::as_text(data, size), 7, "fuzz");
  } catch (const BridgeError&) {
    return 0;
  }
  fuzz::expect_typed_errors([&] { frozen_trial_from_response(resp, "tell"); });
  fuzz::expect_typed_errors([&] { frozen_trials_from_response(resp, "trials"); });
  fuzz::expect_typed_errors([&] { study_info_from_response(resp, "study_info"); });
  return 0;
}
