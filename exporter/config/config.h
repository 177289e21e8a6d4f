// SPDX-License-Identifier: Apache-2.0
// The synwatch config: a plain struct whose member initialisers are the
// defaults of image/synwatch.toml, parsed and validated in one place
// (config.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/logging.h"
#include "base/net.h"
#include "base/text.h"

namespace synwatch {

enum class XdpMode { kAuto, kNative, kGeneric };
// Alone on the interface, or in libxdp's multi-program dispatcher.
enum class XdpAttach { kDirect, kDispatcher };
enum class Action { kPass, kDrop };

// Limits the parser enforces, so a config that passes --check-config also
// loads. The first two are the kernel side's (bpf/synwatch.h; config.cc
// static_asserts that they agree).
inline constexpr uint32_t kMaxRulesPerList = 16384;  // SW_MAX_RULES
inline constexpr uint32_t kMaxInterfaces = 256;      // SW_IF_SLOTS
// The XDP program tracks at most this many distinct ports per peer.
inline constexpr uint32_t kMaxScanPorts = 64;
inline constexpr uint32_t kMaxPeerEntries = 1u << 24;
inline constexpr uint32_t kMaxFloodNewPeersPerSecond = 10'000'000;
inline constexpr uint32_t kMaxConnectionsPerSecond = 1000000;
inline constexpr uint32_t kMaxRunPriority = 1000;

struct WebConfig {
  ListenAddress listen_address{"", 9632, ":9632"};
  std::string metrics_path = "/metrics";
  std::string config_file;  // exporter-toolkit web config (YAML), "" = none

  bool operator==(const WebConfig&) const = default;
};

struct XdpConfig {
  std::vector<std::string> interfaces = {"auto"};
  XdpMode mode = XdpMode::kAuto;
  std::string pin_path = "/sys/fs/bpf/synwatch";  // "" = no pinning
  XdpAttach attach = XdpAttach::kDirect;
  uint32_t run_priority = 10;  // in the dispatcher's chain, lower first

  bool operator==(const XdpConfig&) const = default;
};

struct PeersConfig {
  uint32_t max_entries = 65536;
  uint8_t ipv4_prefix_length = 32;
  uint8_t ipv6_prefix_length = 64;
  // New peers per second on one CPU above which that CPU admits peers
  // through the doorkeeper (a spoofed-source flood); 0 = never.
  uint32_t flood_new_peers_per_second = 25000;

  bool operator==(const PeersConfig&) const = default;
};

struct RulesConfig {
  Action default_action = Action::kPass;
  bool dry_run = true;
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;

  bool operator==(const RulesConfig&) const = default;
};

struct PortScanConfig {
  bool enabled = true;
  uint32_t max_ports = 3;
  std::chrono::nanoseconds window = std::chrono::seconds(60);
  std::chrono::nanoseconds block_duration = std::chrono::minutes(10);
  // Fixed sizes of the kernel's tables (LRU: the oldest entry goes first).
  // A tracked peer costs about 600 bytes of kernel memory, a blocked one 64.
  uint32_t max_tracked_peers = 8192;
  uint32_t max_blocked_peers = 16384;

  bool operator==(const PortScanConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  bool connections = false;
  uint32_t connections_per_second = 100;

  bool operator==(const LogConfig&) const = default;
};

// The CrowdSec remediation component (bouncer): fleet decisions from a
// CrowdSec Local API, enforced in XDP as the outcome "banned".
inline constexpr uint32_t kMaxDecisionEntries = 1u << 24;
inline constexpr uint32_t kMaxReportQueue = 1u << 16;
struct CrowdsecConfig {
  bool enabled = false;
  std::string lapi_url = "http://127.0.0.1:8080/";
  // The bouncer's API key (X-Api-Key), inline or read from a file at start;
  // or TLS client authentication with cert_file and key_file.
  std::string api_key;
  std::string api_key_file;
  std::string cert_file;
  std::string key_file;
  std::string ca_file;  // "" = the system's CAs
  std::chrono::nanoseconds update_interval = std::chrono::seconds(10);
  // A full answer (startup=true) this often, which heals what the delta
  // stream missed; 0 = only at start.
  std::chrono::nanoseconds resync_interval = std::chrono::hours(1);
  std::vector<std::string> origins;  // empty = every origin
  std::vector<std::string> scopes = {"ip", "range"};
  uint32_t max_decisions = 131072;  // prefixes in the kernel's table
  // The reporter: port scans detected in XDP sent to the LAPI as alerts
  // (scenario synwatch/port-scan) by a watcher (machine) login. Independent
  // of enabled (the bouncer).
  bool report = false;
  std::string machine_id;
  std::string machine_password_file;  // the password, read at start; 0600
  uint32_t report_queue_size = 1024;  // alerts waiting; more are dropped
  bool operator==(const CrowdsecConfig&) const = default;
};

struct Config {
  WebConfig web;
  XdpConfig xdp;
  PeersConfig peers;
  RulesConfig rules;
  PortScanConfig port_scan;
  LogConfig log;
  CrowdsecConfig crowdsec;

  bool operator==(const Config&) const = default;
};

// Tells whether a network interface of that name exists. Injected so that
// parsing is testable without touching the machine.
using InterfaceExists = std::function<bool(const std::string& name)>;
bool SystemInterfaceExists(const std::string& name);

// Parses and validates TOML text; name is used in error messages.
Config ParseConfig(std::string_view text, const std::string& name,
                   const InterfaceExists& exists = SystemInterfaceExists);

// Reads and parses a file. Throws ConfigError (also for an unreadable file).
Config LoadConfig(const std::string& path,
                  const InterfaceExists& exists = SystemInterfaceExists);

// Parses "60s", "10m", "1h30m", "500ms", "0s" (Prometheus/Go style units:
// ms, s, m, h, d). Returns false on anything else.
bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out);
std::string FormatDuration(std::chrono::nanoseconds d);

std::string_view ToString(XdpMode mode);
std::string_view ToString(XdpAttach attach);
std::string_view ToString(Action action);
std::string_view ToString(LogLevel level);
std::string_view ToString(LogFormat format);

// Parses a log level name ("trace" ... "error"); false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);
bool ParseLogFormat(std::string_view text, LogFormat* out);
bool ParseXdpMode(std::string_view text, XdpMode* out);
bool ParseAction(std::string_view text, Action* out);

// Checks an interface list the way xdp.interfaces is checked (non-empty,
// "auto" alone, valid names, no duplicates, each one existing). On failure
// returns false and sets *error to a short reason naming the interface;
// meant for the --interface flags.
bool ValidateInterfaces(const std::vector<std::string>& names,
                        const InterfaceExists& exists, std::string* error);

// The commented default config (image/synwatch.toml), embedded at build time.
extern const char kDefaultConfigText[];

}  // namespace synwatch
