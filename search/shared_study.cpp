#include "samplersearch/search/shared_study.hpp"

#include <sys/vfs.h>

#include <filesystem>

#include "bridge_codec.hpp"
#include "samplersearch/common/error.hpp"

namespace samplersearch {
namespace {

using bridge_detail::parsed;
using nlohmann::json;

// statfs(2) f_type magic numbers of network file systems (linux/magic.h and the vendors' docs).
struct NetworkFs {
  long magic;
  const char* name;
};
constexpr NetworkFs kNetworkFs[] = {
    {0x6969, "nfs"},        {0xFF534D42, "cifs"}, {0xFE534D42, "smb2"}, {0x517B, "smb"},
    {0x0BD00BD0, "lustre"}, {0x47504653, "gpfs"}, {0x00C36400, "ceph"}, {0x19830326, "beegfs"},
    {0x013111A8, "ibrix"},  {0x61636673, "acfs"}, {0x5346414F, "afs"},
};

}  // namespace

bool is_shared_storage(std::string_view url) {
  const std::string_view kind = optuna_storage_kind(url);
  for (const StorageEntry& e : optuna_storage_registry())
    if (e.name == kind) return e.shared;
  return false;
}

std::string network_filesystem(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  struct statfs s {};
  if (statfs(p.c_str(), &s) != 0) return "";
  for (const NetworkFs& fs : kNetworkFs)
    if (static_cast<unsigned long>(s.f_type) == static_cast<unsigned long>(fs.magic))
      return fs.name;
  return "";
}

void check_storage_placement(const std::string& url) {
  if (optuna_storage_kind(url) != "sqlite") return;
  const std::string prefix = "sqlite:///";
  if (url.rfind(prefix, 0) != 0) return;
  const std::string path = "/" + url.substr(prefix.size());
  if (const std::string fs = network_filesystem(path); !fs.empty())
    throw ConfigError("optuna.storage",
                      url + " is on a network file system (" + fs +
                          "), where SQLite's file locks are unreliable and several processes "
                          "could corrupt the study; use postgresql://... (several hosts) or "
                          "journal:///PATH, or keep the SQLite file on a local disk");
}

std::optional<AskedTrial> ask_within_budget(OptunaBridge& study,
                                            const std::vector<Distribution>& distributions,
                                            int budget) {
  json dists = json::array();
  for (const Distribution& d : distributions) dists.push_back(d.to_json());
  const json resp = study.request({{"op", "ask"}, {"distributions", dists}, {"budget", budget}});
  return parsed("ask", [&]() -> std::optional<AskedTrial> {
    if (resp.value("exhausted", false)) return std::nullopt;
    return AskedTrial{resp.at("number").get<int>(), resp.at("params")};
  });
}

int counted_in_study(OptunaBridge& study) {
  const json resp = study.request({{"op", "counted"}});
  return parsed("counted", [&] { return resp.at("counted").get<int>(); });
}

std::vector<StaleTrial> stale_trials(OptunaBridge& study) {
  const json resp = study.request({{"op", "stale_trials"}});
  return parsed("stale_trials", [&] {
    std::vector<StaleTrial> out;
    for (const json& t : resp.at("trials")) {
      StaleTrial s;
      s.number = t.at("number").get<int>();
      if (t.at("shard").is_string()) s.shard = t.at("shard").get<std::string>();
      s.params = t.at("params");
      out.push_back(std::move(s));
    }
    return out;
  });
}

bool fail_trial(OptunaBridge& study, int number, const std::string& reason) {
  const json resp = study.request({{"op", "fail_trial"}, {"number", number}, {"reason", reason}});
  return parsed("fail_trial", [&] { return resp.at("failed").get<bool>(); });
}

std::string claim(OptunaBridge& study, const std::string& key, const std::string& owner) {
  const json resp = study.request({{"op", "claim"}, {"key", key}, {"owner", owner}});
  return parsed("claim", [&] { return resp.at("owner").get<std::string>(); });
}

}  // namespace samplersearch
