// SPDX-License-Identifier: Apache-2.0
// The TOML config loader (ParseConfig, what LoadConfig and --check-config
// run) on arbitrary text. Every input must either load or fail with a
// ConfigError of one line that names the file; nothing else may escape. A
// config that loads must hold only values inside the limits the parser
// promises, and, written back out as TOML, load again to the same value:
// what --check-config accepts, a reload accepts too.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/net.h"
#include "config/config.h"
#include "fuzz_check.h"

namespace synwatch {
namespace {

constexpr char kFile[] = "fuzz.toml";

// A fixed set, so that what loads does not depend on the machine.
bool FakeInterfaceExists(const std::string& name) {
  return name == "lo" || name == "eth0" || name == "eth1" || name == "ens3" ||
         name == "veth-sw0";
}

// A TOML basic string holding exactly text.
std::string TomlString(std::string_view text) {
  std::string out = "\"";
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

std::string TomlBool(bool b) { return b ? "true" : "false"; }

std::string TomlStrings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ", ";
    out += TomlString(item);
  }
  return out + "]";
}

std::string TomlCidrs(const std::vector<Cidr>& cidrs) {
  std::vector<std::string> texts;
  for (const Cidr& c : cidrs) texts.push_back(FormatCidr(c));
  return TomlStrings(texts);
}

// Every field, so that the re-read cannot fall back on a default.
std::string ToToml(const Config& c) {
  std::string t;
  const auto line = [&t](std::string_view key, const std::string& value) {
    t.append(key).append(" = ").append(value).append("\n");
  };
  const auto name = [](std::string_view n) { return TomlString(n); };
  t += "[web]\n";
  line("listen_address", TomlString(c.web.listen_address.text));
  line("metrics_path", TomlString(c.web.metrics_path));
  line("config_file", TomlString(c.web.config_file));
  t += "[xdp]\n";
  line("interfaces", TomlStrings(c.xdp.interfaces));
  line("mode", name(ToString(c.xdp.mode)));
  line("pin_path", TomlString(c.xdp.pin_path));
  t += "[peers]\n";
  line("max_entries", std::to_string(c.peers.max_entries));
  line("ipv4_prefix_length", std::to_string(c.peers.ipv4_prefix_length));
  line("ipv6_prefix_length", std::to_string(c.peers.ipv6_prefix_length));
  t += "[rules]\n";
  line("default_action", name(ToString(c.rules.default_action)));
  line("dry_run", TomlBool(c.rules.dry_run));
  line("allow", TomlCidrs(c.rules.allow));
  line("deny", TomlCidrs(c.rules.deny));
  t += "[port_scan]\n";
  line("enabled", TomlBool(c.port_scan.enabled));
  line("max_ports", std::to_string(c.port_scan.max_ports));
  line("window", TomlString(FormatDuration(c.port_scan.window)));
  line("block_duration",
       TomlString(FormatDuration(c.port_scan.block_duration)));
  line("max_tracked_peers", std::to_string(c.port_scan.max_tracked_peers));
  line("max_blocked_peers", std::to_string(c.port_scan.max_blocked_peers));
  t += "[log]\n";
  line("level", name(ToString(c.log.level)));
  line("format", name(ToString(c.log.format)));
  line("connections", TomlBool(c.log.connections));
  line("connections_per_second", std::to_string(c.log.connections_per_second));
  return t;
}

void CheckCidrs(const std::vector<Cidr>& cidrs) {
  Require(cidrs.size() <= kMaxRulesPerList, "rule list over its limit");
  for (const Cidr& c : cidrs) {
    const std::string text = FormatCidr(c);
    Require(c.prefix_len <= MaxPrefixLen(c.family), "prefix too long", text);
    std::array<uint8_t, 16> masked = c.addr;
    MaskAddress(masked, c.family, c.prefix_len);
    Require(masked == c.addr, "rule with host bits set", text);
    std::string error;
    const std::optional<Cidr> again = ParseCidr(text, &error);
    Require(again.has_value() && *again == c, "rule does not round-trip",
            text + ": " + error);
  }
}

void CheckLimits(const Config& c) {
  ListenAddress listen;
  std::string error;
  Require(ParseListenAddress(c.web.listen_address.text, &listen, &error),
          "listen_address that does not parse", c.web.listen_address.text);
  Require(!c.web.metrics_path.empty() && c.web.metrics_path[0] == '/' &&
              c.web.metrics_path != "/",
          "bad metrics_path", c.web.metrics_path);
  Require(ValidateInterfaces(c.xdp.interfaces, FakeInterfaceExists, &error),
          "interfaces that do not validate", error);
  Require(c.xdp.pin_path.empty() || c.xdp.pin_path[0] == '/',
          "relative pin_path", c.xdp.pin_path);
  Require(c.peers.max_entries >= 1 && c.peers.max_entries <= kMaxPeerEntries,
          "peers.max_entries out of range");
  Require(c.peers.ipv4_prefix_length <= 32, "ipv4_prefix_length > 32");
  Require(c.peers.ipv6_prefix_length <= 128, "ipv6_prefix_length > 128");
  CheckCidrs(c.rules.allow);
  CheckCidrs(c.rules.deny);
  Require(c.port_scan.max_ports >= 1 && c.port_scan.max_ports <= kMaxScanPorts,
          "port_scan.max_ports out of range");
  Require(c.port_scan.window.count() > 0, "port_scan.window not positive");
  Require(c.port_scan.block_duration.count() >= 0,
          "port_scan.block_duration negative");
  Require(
      c.port_scan.max_tracked_peers >= 1 && c.port_scan.max_blocked_peers >= 1,
      "port_scan table of size 0");
  Require(c.log.connections_per_second >= 1 &&
              c.log.connections_per_second <= kMaxConnectionsPerSecond,
          "log.connections_per_second out of range");
}

}  // namespace
}  // namespace synwatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using synwatch::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  synwatch::Config config;
  try {
    config = synwatch::ParseConfig(text, synwatch::kFile,
                                   synwatch::FakeInterfaceExists);
  } catch (const synwatch::ConfigError& e) {
    const std::string_view what = e.what();
    Require(what.starts_with(std::string(synwatch::kFile) + ":"),
            "error does not name the file", what);
    Require(std::none_of(what.begin(), what.end(),
                         [](char c) {
                           const auto u = static_cast<unsigned char>(c);
                           return u < 0x20 || u == 0x7f;
                         }),
            "error is not one line of text", what);
    return 0;
  }
  synwatch::CheckLimits(config);

  const std::string again_text = synwatch::ToToml(config);
  synwatch::Config again;
  try {
    again = synwatch::ParseConfig(again_text, "again.toml",
                                  synwatch::FakeInterfaceExists);
  } catch (const synwatch::ConfigError& e) {
    synwatch::Fail("a loaded config written back does not load",
                   std::string(e.what()) + "\n" + again_text);
  }
  Require(again == config, "a loaded config written back loads differently",
          again_text);
  return 0;
}
