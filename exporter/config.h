// SPDX-License-Identifier: Apache-2.0
// The synwatch config: a plain struct whose member initialisers are the
// defaults of DESIGN.md, parsed and validated in one place (config.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "net.h"

namespace synwatch {

enum class XdpMode { kAuto, kNative, kGeneric };
enum class Action { kPass, kDrop };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

struct WebConfig {
  std::string listen_address = ":9632";
  std::string metrics_path = "/metrics";
  std::string config_file;  // exporter-toolkit web config (YAML), "" = none
};

struct XdpConfig {
  std::vector<std::string> interfaces = {"auto"};
  XdpMode mode = XdpMode::kAuto;
  std::string pin_path = "/sys/fs/bpf/synwatch";  // "" = no pinning
};

struct PeersConfig {
  uint32_t max_entries = 65536;
  uint8_t ipv4_prefix_length = 32;
  uint8_t ipv6_prefix_length = 64;
};

struct RulesConfig {
  Action default_action = Action::kPass;
  bool dry_run = true;
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;
};

struct PortScanConfig {
  bool enabled = true;
  uint32_t max_ports = 3;
  std::chrono::nanoseconds window = std::chrono::seconds(60);
  std::chrono::nanoseconds block_duration = std::chrono::minutes(10);
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  bool connections = false;
  uint32_t connections_per_second = 100;
};

struct Config {
  WebConfig web;
  XdpConfig xdp;
  PeersConfig peers;
  RulesConfig rules;
  PortScanConfig port_scan;
  LogConfig log;
};

// A config that cannot be used. what() is one line that names the file, the
// line and the key: "/etc/synwatch/synwatch.toml:12: rules.deny[1]: bad CIDR
// "192.0.2.0/33": prefix length out of range".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
std::string_view ToString(Action action);
std::string_view ToString(LogLevel level);

// Parses a log level name ("trace" ... "error"); false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);

// The commented default config (image/synwatch.toml), embedded at build time.
extern const char kDefaultConfigText[];

}  // namespace synwatch
