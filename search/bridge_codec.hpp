#pragma once
// Private to search/: the pieces of the bridge's line protocol (search/README.md) shared by the
// protocol codec (bridge_protocol.cpp), the process channel (bridge_process.cpp) and the ops
// (optuna_bridge.cpp).
#include <nlohmann/json.hpp>
#include <string>

#include "samplersearch/search/optuna_bridge.hpp"

namespace samplersearch::bridge_detail {

// The protocol version both sides speak (the "hello" response carries it).
inline constexpr int kProtocol = 1;

// A failure of the channel (not of Python): the bridge is restarted and the request retried.
struct ChannelFailure {
  BridgeError::Kind kind;
  std::string message;
};

// JSON has no NaN/Inf: the protocol sends them as the strings NaN, Infinity, -Infinity.
nlohmann::json number_to_json(double x);
// Inverse of number_to_json; ChannelFailure (protocol) naming `field` for anything else.
double number_from_json(const nlohmann::json& j, const char* field);
// j[key] if it is a string, else "".
std::string string_field(const nlohmann::json& j, const char* key);
// True for a response {"ok": true, ...}.
bool is_ok(const nlohmann::json& resp);
// error.type / error.message of a failed response, "" where missing.
std::string error_field(const nlohmann::json& resp, const char* key);

// Runs `read` on an ok response; a missing or mistyped field is a protocol error of `op`.
template <class Read>
auto parsed(const std::string& op, Read&& read) {
  try {
    return read();
  } catch (const ChannelFailure& f) {
    throw BridgeError(f.kind, op, "", f.message);
  } catch (const nlohmann::json::exception& e) {
    throw BridgeError(BridgeError::Kind::protocol, op, "",
                      std::string("malformed response: ") + e.what());
  } catch (const ConfigError& e) {  // an unknown trial state
    throw BridgeError(BridgeError::Kind::protocol, op, "", e.what());
  }
}

}  // namespace samplersearch::bridge_detail
