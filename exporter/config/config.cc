// SPDX-License-Identifier: Apache-2.0
#include "config/config.h"

#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <toml.hpp>
#include <utility>
#include <vector>

#include "base/abi.h"
#include "base/file.h"

namespace synwatch {

static_assert(kMaxRulesPerList == SW_MAX_RULES);
static_assert(kMaxInterfaces == SW_IF_SLOTS);

namespace {

using std::chrono::nanoseconds;

// A config file bigger than this is a mistake (--config /dev/zero), not a
// rule list: both lists at their limit fit in a few MiB.
constexpr size_t kMaxConfigBytes = 16 << 20;

template <typename E>
struct Named {
  std::string_view name;
  E value;
};

constexpr Named<XdpMode> kXdpModes[] = {{"auto", XdpMode::kAuto},
                                        {"native", XdpMode::kNative},
                                        {"generic", XdpMode::kGeneric}};
constexpr Named<XdpAttach> kXdpAttaches[] = {
    {"direct", XdpAttach::kDirect}, {"dispatcher", XdpAttach::kDispatcher}};
constexpr Named<Action> kActions[] = {{"pass", Action::kPass},
                                      {"drop", Action::kDrop}};
constexpr Named<LogLevel> kLogLevels[] = {{"trace", LogLevel::kTrace},
                                          {"debug", LogLevel::kDebug},
                                          {"info", LogLevel::kInfo},
                                          {"warn", LogLevel::kWarn},
                                          {"error", LogLevel::kError}};
constexpr Named<LogFormat> kLogFormats[] = {{"text", LogFormat::kText},
                                            {"json", LogFormat::kJson}};

template <typename E, size_t N>
bool FromName(const Named<E> (&names)[N], std::string_view text, E* out) {
  for (const auto& n : names) {
    if (n.name == text) {
      *out = n.value;
      return true;
    }
  }
  return false;
}

template <typename E, size_t N>
std::string_view NameOf(const Named<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "unknown";
}

// "a, b or c", for the reason of a bad name.
std::string OneOf(std::initializer_list<std::string_view> names) {
  std::string out;
  size_t i = 0;
  for (std::string_view name : names) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += name;
    ++i;
  }
  return out;
}

template <typename E, size_t N>
std::string OneOf(const Named<E> (&names)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += (i + 1 == N) ? " or " : ", ";
    out += names[i].name;
  }
  return out;
}

// A key as TOML would need it written: bare when it can be, else quoted
// (TOML's bare keys; web_config.cc's YamlKeyText follows YAML's).
std::string TomlKeyText(std::string_view key) {
  const bool bare =
      !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
               c == '-';
      });
  return bare ? std::string(key) : QuoteValue(key);
}

std::string TypeName(const toml::value& v) {
  switch (v.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::offset_datetime:
    case toml::value_t::local_datetime:
    case toml::value_t::local_date:
    case toml::value_t::local_time:
      return "a date or time";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    default:
      return "nothing";
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool LooksLike(std::string_view typo, std::string_view known) {
  const size_t limit = std::clamp<size_t>(known.size() / 3, 1, 2);
  return EditDistance(typo, known) <= limit;
}

// Every section and key of the config (image/synwatch.toml, README
// "Configuration"): what is not here is unknown.
struct Section {
  std::string_view name;
  std::array<std::string_view, 16> keys;  // unused slots are ""
};

constexpr Section kSchema[] = {
    {"web", {"listen_address", "metrics_path", "config_file"}},
    {"xdp", {"interfaces", "mode", "pin_path", "attach", "run_priority"}},
    {"peers",
     {"max_entries", "ipv4_prefix_length", "ipv6_prefix_length",
      "flood_new_peers_per_second"}},
    {"rules", {"default_action", "dry_run", "allow", "deny"}},
    {"port_scan",
     {"enabled", "max_ports", "window", "block_duration", "max_tracked_peers",
      "max_blocked_peers"}},
    {"log", {"level", "format", "connections", "connections_per_second"}},
    {"crowdsec",
     {"enabled", "lapi_url", "api_key", "api_key_file", "cert_file", "key_file",
      "ca_file", "update_interval", "resync_interval", "origins", "scopes",
      "max_decisions", "report", "machine_id", "machine_password_file",
      "report_queue_size"}},
};

const Section* FindSection(std::string_view name) {
  for (const auto& s : kSchema) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool HasKey(const Section& section, std::string_view key) {
  return !key.empty() && std::find(section.keys.begin(), section.keys.end(),
                                   key) != section.keys.end();
}

// " (did you mean web.listen_address?)" for a key that is misspelt or sits
// in the wrong section (a key written after the wrong [header] lands in
// that table), else "".
std::string Suggest(const Section* in, std::string_view key) {
  if (in != nullptr) {
    for (std::string_view known : in->keys) {
      if (!known.empty() && LooksLike(key, known)) {
        return " (did you mean " + std::string(in->name) + "." +
               std::string(known) + "?)";
      }
    }
  }
  for (const auto& s : kSchema) {
    if (&s != in && HasKey(s, key)) {
      return " (did you mean " + std::string(s.name) + "." + std::string(key) +
             "?)";
    }
  }
  return "";
}

// Interface checks shared by xdp.interfaces and the --interface flags.
// Returns "" or the reason; *index is the offending element, or names.size()
// when the list as a whole is wrong.
std::string CheckInterfaceList(const std::vector<std::string>& names,
                               const InterfaceExists& exists, size_t* index) {
  *index = names.size();
  if (names.empty()) return "empty (want \"auto\" or interface names)";
  if (names.size() > kMaxInterfaces) {
    return std::to_string(names.size()) + " interfaces, at most " +
           std::to_string(kMaxInterfaces);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    *index = i;
    if (name == "auto") {
      if (names.size() > 1) {
        return "\"auto\" cannot be combined with interface names";
      }
      continue;
    }
    // The kernel's dev_valid_name(), so a name is refused here rather than
    // by a confusing lookup failure later.
    const bool valid = !name.empty() && name != "." && name != ".." &&
                       std::none_of(name.begin(), name.end(), [](char c) {
                         return c == '/' || c == ':' || c == '\0' ||
                                std::isspace(static_cast<unsigned char>(c));
                       });
    if (!valid) {
      return "bad interface name " + QuoteValue(name) +
             " (no \"/\", \":\" or spaces)";
    }
    if (name.size() >= IFNAMSIZ) {
      return "interface name " + QuoteValue(name) + " is longer than " +
             std::to_string(IFNAMSIZ - 1) + " characters";
    }
    if (std::find(names.begin(), names.begin() + static_cast<ptrdiff_t>(i),
                  name) != names.begin() + static_cast<ptrdiff_t>(i)) {
      return QuoteValue(name) + " is listed twice";
    }
    if (!exists(name)) return "no such interface " + QuoteValue(name);
  }
  *index = names.size();
  return "";
}

std::string CheckMetricsPath(const std::string& path) {
  if (path.empty() || path[0] != '/') return "must start with \"/\"";
  if (path == "/") return "\"/\" is the landing page";
  if (path.rfind("/-/", 0) == 0) {
    return "paths under \"/-/\" are reserved (health and readiness)";
  }
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f || c == '?' || c == '#' || c == '%') {
      return "must be a plain URL path (no spaces, \"?\", \"#\" or \"%\")";
    }
  }
  return "";
}

struct Problem {
  uint32_t line = 0;
  uint32_t column = 0;
  std::string text;  // "KEY: reason"
};

// Walks the parsed document once, collecting every problem with its
// position; the error reported is the first one in the file, whatever order
// the (unordered) TOML tables iterate in.
class Parser {
 public:
  Parser(const std::string& file, const InterfaceExists& exists)
      : file_(file), exists_(exists) {}

  Config Parse(const toml::value& root) {
    Config c;
    for (const auto& [key, value] : root.as_table()) {
      if (FindSection(key) != nullptr) continue;
      const Section* misspelt = nullptr;
      for (const auto& s : kSchema) {
        if (LooksLike(key, s.name)) misspelt = &s;
      }
      if (misspelt != nullptr) {
        Report(value, TomlKeyText(key),
               "unknown section (did you mean " + std::string(misspelt->name) +
                   "?)");
      } else if (value.is_table()) {
        Report(value, TomlKeyText(key),
               "unknown section (want " +
                   OneOf({"web", "xdp", "peers", "rules", "port_scan", "log",
                          "crowdsec"}) +
                   ")");
      } else {
        Report(value, TomlKeyText(key), "unknown key" + Suggest(nullptr, key));
      }
    }
    ParseWeb(SectionOf(root, "web"), c.web);
    ParseXdp(SectionOf(root, "xdp"), c.xdp);
    ParsePeers(SectionOf(root, "peers"), c.peers);
    ParseRules(SectionOf(root, "rules"), c.rules);
    ParsePortScan(SectionOf(root, "port_scan"), c.port_scan);
    ParseLog(SectionOf(root, "log"), c.log);
    ParseCrowdsec(SectionOf(root, "crowdsec"), c.crowdsec);

    if (!problems_.empty()) {
      const auto first = std::min_element(
          problems_.begin(), problems_.end(),
          [](const Problem& a, const Problem& b) {
            return std::pair(a.line, a.column) < std::pair(b.line, b.column);
          });
      throw ConfigError(file_ + ":" + std::to_string(first->line) + ": " +
                        first->text);
    }
    return c;
  }

 private:
  // A present section, checked for unknown keys; nullptr when absent or
  // not a table (reported).
  const toml::value* SectionOf(const toml::value& root, std::string_view name) {
    const std::string key(name);
    if (!root.contains(key)) return nullptr;
    const toml::value& section = root.at(key);
    if (!section.is_table()) {
      Report(section, key, "expected a table, got " + TypeName(section));
      return nullptr;
    }
    const Section* schema = FindSection(name);
    for (const auto& [k, v] : section.as_table()) {
      if (!HasKey(*schema, k)) {
        Report(v, key + "." + TomlKeyText(k),
               "unknown key" + Suggest(schema, k));
      }
    }
    return &section;
  }

  // The value of section.key when present and of the wanted type.
  const toml::value* Get(const toml::value* section, std::string_view name,
                         std::string_view key, toml::value_t type,
                         std::string_view type_name) {
    if (section == nullptr || !section->contains(std::string(key))) {
      return nullptr;
    }
    const toml::value& v = section->at(std::string(key));
    if (v.type() != type) {
      Report(v, Path(name, key),
             "expected " + std::string(type_name) + ", got " + TypeName(v));
      return nullptr;
    }
    return &v;
  }

  const std::string* GetString(const toml::value* section,
                               std::string_view name, std::string_view key) {
    const toml::value* v =
        Get(section, name, key, toml::value_t::string, "a string");
    return v == nullptr ? nullptr : &v->as_string().str;
  }

  void GetBool(const toml::value* section, std::string_view name,
               std::string_view key, bool* out) {
    const toml::value* v =
        Get(section, name, key, toml::value_t::boolean, "a boolean");
    if (v != nullptr) *out = v->as_boolean();
  }

  template <typename T>
  void GetInteger(const toml::value* section, std::string_view name,
                  std::string_view key, int64_t min, int64_t max, T* out) {
    const toml::value* v =
        Get(section, name, key, toml::value_t::integer, "an integer");
    if (v == nullptr) return;
    const int64_t n = v->as_integer();
    if (n < min || n > max) {
      Report(*v, Path(name, key),
             SourceText(*v, std::to_string(n)) + " is out of range (" +
                 std::to_string(min) + ".." + std::to_string(max) + ")");
      return;
    }
    *out = static_cast<T>(n);
  }

  template <typename E, size_t N>
  void GetName(const toml::value* section, std::string_view name,
               std::string_view key, const Named<E> (&names)[N],
               std::string_view what, E* out) {
    const std::string* text = GetString(section, name, key);
    if (text == nullptr) return;
    if (!FromName(names, *text, out)) {
      Report(section->at(std::string(key)), Path(name, key),
             "unknown " + std::string(what) + " " + QuoteValue(*text) +
                 " (want " + OneOf(names) + ")");
    }
  }

  // positive: "0s" is refused (a window must have a length; a block
  // duration of 0s means "detect only" and is fine).
  void GetDuration(const toml::value* section, std::string_view name,
                   std::string_view key, bool positive, nanoseconds* out) {
    const std::string* text = GetString(section, name, key);
    if (text == nullptr) return;
    const toml::value& v = section->at(std::string(key));
    nanoseconds d{};
    if (!ParseDuration(*text, &d)) {
      Report(v, Path(name, key),
             "bad duration " + QuoteValue(*text) +
                 ": want a number and a unit (ms, s, m, h, d), like \"60s\" "
                 "or \"1h30m\"");
    } else if (positive && d.count() == 0) {
      Report(v, Path(name, key), "must be more than 0s");
    } else {
      *out = d;
    }
  }

  // The elements of an array of strings, each with its own value for the
  // error position; nullopt when absent or mistyped (reported).
  std::optional<std::vector<std::pair<std::string, const toml::value*>>>
  GetStrings(const toml::value* section, std::string_view name,
             std::string_view key) {
    const toml::value* v =
        Get(section, name, key, toml::value_t::array, "an array of strings");
    if (v == nullptr) return std::nullopt;
    std::vector<std::pair<std::string, const toml::value*>> out;
    bool ok = true;
    const auto& array = v->as_array();
    for (size_t i = 0; i < array.size(); ++i) {
      if (!array[i].is_string()) {
        Report(array[i], Index(name, key, i),
               "expected a string, got " + TypeName(array[i]));
        ok = false;
        continue;
      }
      out.emplace_back(array[i].as_string().str, &array[i]);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void ParseWeb(const toml::value* s, WebConfig& web) {
    if (const std::string* text = GetString(s, "web", "listen_address")) {
      ListenAddress parsed;
      std::string error;
      if (ParseListenAddress(*text, &parsed, &error)) {
        web.listen_address = std::move(parsed);
      } else {
        Report(s->at("listen_address"), "web.listen_address",
               "bad address " + QuoteValue(*text) + ": " + error);
      }
    }
    if (const std::string* text = GetString(s, "web", "metrics_path")) {
      const std::string error = CheckMetricsPath(*text);
      if (error.empty()) {
        web.metrics_path = *text;
      } else {
        Report(s->at("metrics_path"), "web.metrics_path",
               "bad path " + QuoteValue(*text) + ": " + error);
      }
    }
    if (const std::string* text = GetString(s, "web", "config_file")) {
      web.config_file = *text;
    }
  }

  void ParseXdp(const toml::value* s, XdpConfig& xdp) {
    if (auto names = GetStrings(s, "xdp", "interfaces")) {
      std::vector<std::string> list;
      for (const auto& [name, v] : *names) list.push_back(name);
      size_t index = 0;
      const std::string error = CheckInterfaceList(list, exists_, &index);
      if (error.empty()) {
        xdp.interfaces = std::move(list);
      } else if (index < names->size()) {
        Report(*(*names)[index].second, Index("xdp", "interfaces", index),
               error);
      } else {
        Report(s->at("interfaces"), "xdp.interfaces", error);
      }
    }
    GetName(s, "xdp", "mode", kXdpModes, "mode", &xdp.mode);
    if (const std::string* text = GetString(s, "xdp", "pin_path")) {
      if (text->empty() || (*text)[0] == '/') {
        xdp.pin_path = *text;
      } else {
        Report(s->at("pin_path"), "xdp.pin_path",
               "bad path " + QuoteValue(*text) +
                   ": must be \"\" (no pinning) or an absolute path");
      }
    }
    GetName(s, "xdp", "attach", kXdpAttaches, "attach", &xdp.attach);
    GetInteger(s, "xdp", "run_priority", 0, kMaxRunPriority, &xdp.run_priority);
  }

  void ParsePeers(const toml::value* s, PeersConfig& peers) {
    GetInteger(s, "peers", "max_entries", 1, kMaxPeerEntries,
               &peers.max_entries);
    GetInteger(s, "peers", "ipv4_prefix_length", 0, MaxPrefixLen(Family::kIpv4),
               &peers.ipv4_prefix_length);
    GetInteger(s, "peers", "ipv6_prefix_length", 0, MaxPrefixLen(Family::kIpv6),
               &peers.ipv6_prefix_length);
    GetInteger(s, "peers", "flood_new_peers_per_second", 0,
               kMaxFloodNewPeersPerSecond, &peers.flood_new_peers_per_second);
  }

  void ParseCidrList(const toml::value* s, std::string_view key,
                     std::vector<Cidr>* out) {
    auto texts = GetStrings(s, "rules", key);
    if (!texts) return;
    if (texts->size() > kMaxRulesPerList) {
      Report(s->at(std::string(key)), Path("rules", key),
             std::to_string(texts->size()) + " entries, at most " +
                 std::to_string(kMaxRulesPerList));
      return;
    }
    std::vector<Cidr> cidrs;
    bool ok = true;
    for (size_t i = 0; i < texts->size(); ++i) {
      const auto& [text, v] = (*texts)[i];
      std::string error;
      if (auto cidr = ParseCidr(text, &error)) {
        cidrs.push_back(*cidr);
      } else {
        Report(*v, Index("rules", key, i),
               "bad CIDR " + QuoteValue(text) + ": " + error);
        ok = false;
      }
    }
    if (ok) *out = std::move(cidrs);
  }

  void ParseRules(const toml::value* s, RulesConfig& rules) {
    GetName(s, "rules", "default_action", kActions, "action",
            &rules.default_action);
    GetBool(s, "rules", "dry_run", &rules.dry_run);
    ParseCidrList(s, "allow", &rules.allow);
    ParseCidrList(s, "deny", &rules.deny);
  }

  void ParsePortScan(const toml::value* s, PortScanConfig& scan) {
    GetBool(s, "port_scan", "enabled", &scan.enabled);
    GetInteger(s, "port_scan", "max_ports", 1, kMaxScanPorts, &scan.max_ports);
    GetDuration(s, "port_scan", "window", true, &scan.window);
    GetDuration(s, "port_scan", "block_duration", false, &scan.block_duration);
    GetInteger(s, "port_scan", "max_tracked_peers", 1, kMaxPeerEntries,
               &scan.max_tracked_peers);
    GetInteger(s, "port_scan", "max_blocked_peers", 1, kMaxPeerEntries,
               &scan.max_blocked_peers);
  }

  void ParseLog(const toml::value* s, LogConfig& log) {
    GetName(s, "log", "level", kLogLevels, "level", &log.level);
    GetName(s, "log", "format", kLogFormats, "format", &log.format);
    GetBool(s, "log", "connections", &log.connections);
    GetInteger(s, "log", "connections_per_second", 1, kMaxConnectionsPerSecond,
               &log.connections_per_second);
  }

  void ParseCrowdsec(const toml::value* s, CrowdsecConfig& cs) {
    const std::string_view n = "crowdsec";
    GetBool(s, n, "enabled", &cs.enabled);
    for (auto [key, out] :
         {std::pair{"lapi_url", &cs.lapi_url},
          {"api_key", &cs.api_key},
          {"api_key_file", &cs.api_key_file},
          {"cert_file", &cs.cert_file},
          {"key_file", &cs.key_file},
          {"ca_file", &cs.ca_file},
          {"machine_id", &cs.machine_id},
          {"machine_password_file", &cs.machine_password_file}}) {
      if (const std::string* text = GetString(s, n, key)) *out = *text;
    }
    GetDuration(s, n, "update_interval", true, &cs.update_interval);
    GetDuration(s, n, "resync_interval", false, &cs.resync_interval);
    if (auto list = GetStrings(s, n, "origins")) {
      cs.origins.clear();
      for (const auto& [text, at] : *list) {
        if (text.empty()) {
          Report(*at, Path(n, "origins"), "empty origin");
        } else {
          cs.origins.push_back(text);
        }
      }
    }
    if (auto list = GetStrings(s, n, "scopes")) {
      cs.scopes.clear();
      for (const auto& [text, at] : *list) {
        if (text != "ip" && text != "range") {
          Report(*at, Path(n, "scopes"),
                 "unknown scope " + QuoteValue(text) + " (want " +
                     OneOf({"ip", "range"}) + ")");
        } else {
          cs.scopes.push_back(text);
        }
      }
      if (list->empty()) {
        Report(s->at("scopes"), Path(n, "scopes"), "must name a scope");
      }
    }
    GetInteger(s, n, "max_decisions", 1, kMaxDecisionEntries,
               &cs.max_decisions);
    GetBool(s, n, "report", &cs.report);
    GetInteger(s, n, "report_queue_size", 1, kMaxReportQueue,
               &cs.report_queue_size);
    if (s == nullptr || (!cs.enabled && !cs.report)) return;
    // What makes a bouncer or a reporter that can log in: checked only when
    // it is on, so a section prepared but off still loads.
    const toml::value& at = *s;
    if (cs.lapi_url.rfind("http://", 0) != 0 &&
        cs.lapi_url.rfind("https://", 0) != 0) {
      Report(s->contains("lapi_url") ? s->at("lapi_url") : at,
             Path(n, "lapi_url"), "want an http:// or https:// URL");
    }
    if (cs.report &&
        (cs.machine_id.empty() || cs.machine_password_file.empty())) {
      Report(at, "crowdsec",
             "report needs machine_id and machine_password_file");
    }
    if (!cs.enabled) return;
    const bool key = !cs.api_key.empty() || !cs.api_key_file.empty();
    const bool cert = !cs.cert_file.empty() || !cs.key_file.empty();
    if (!cs.api_key.empty() && !cs.api_key_file.empty()) {
      Report(s->at("api_key_file"), Path(n, "api_key_file"),
             "set api_key or api_key_file, not both");
    } else if (key == cert) {
      Report(at, "crowdsec",
             key ? "set an API key or a client certificate, not both"
                 : "enabled without credentials: set api_key, api_key_file "
                   "or cert_file and key_file");
    } else if (cert && (cs.cert_file.empty() || cs.key_file.empty())) {
      Report(at, "crowdsec", "cert_file and key_file go together");
    }
  }

  // The value as written: toml11 clamps an integer too large for int64, so
  // the parsed number would not be what the user sees in the file.
  static std::string SourceText(const toml::value& v,
                                const std::string& fallback) {
    const toml::source_location loc = v.location();
    const std::string& line = loc.line_str();
    if (loc.column() < 1 || loc.column() - 1 + loc.region() > line.size()) {
      return fallback;
    }
    return line.substr(loc.column() - 1, loc.region());
  }

  static std::string Path(std::string_view section, std::string_view key) {
    return std::string(section) + "." + std::string(key);
  }

  static std::string Index(std::string_view section, std::string_view key,
                           size_t i) {
    return Path(section, key) + "[" + std::to_string(i) + "]";
  }

  void Report(const toml::value& at, const std::string& key,
              const std::string& reason) {
    const toml::source_location loc = at.location();
    problems_.push_back({loc.line(), loc.column(), key + ": " + reason});
  }

  const std::string& file_;
  const InterfaceExists& exists_;
  std::vector<Problem> problems_;
};

// toml11's syntax errors span several lines (an excerpt with a caret);
// keep the first line's message without its "[error] toml::function: "
// prefix and any colour codes, and the line from the error's location.
std::string OneLineSyntaxError(const std::string& file,
                               const toml::exception& e) {
  std::string message = e.what();
  std::string plain;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\x1b') {
      while (i < message.size() && message[i] != 'm') ++i;
      continue;
    }
    plain += message[i];
  }
  std::string first = plain.substr(0, plain.find('\n'));
  if (first.rfind("[error] ", 0) == 0) first.erase(0, 8);
  if (first.rfind("toml::", 0) == 0) {
    const size_t colon = first.find(": ");
    if (colon != std::string::npos) first.erase(0, colon + 2);
  }
  while (!first.empty() &&
         std::isspace(static_cast<unsigned char>(first.back()))) {
    first.pop_back();
  }
  return file + ":" + std::to_string(e.location().line()) +
         ": syntax error: " + first;
}

// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or npos.
size_t FirstInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&text](size_t at) {
      return at < text.size() ? static_cast<unsigned char>(text[at]) : 0u;
    };
    const unsigned c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Length of the sequence and the range its second byte must be in.
    size_t n = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return i;
    }
    if (byte(i + 1) < lo || byte(i + 1) > hi) return i;
    for (size_t k = 2; k < n; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return i;
    }
    i += n;
  }
  return std::string_view::npos;
}

}  // namespace

bool SystemInterfaceExists(const std::string& name) {
  return if_nametoindex(name.c_str()) != 0;
}

Config ParseConfig(std::string_view text, const std::string& name,
                   const InterfaceExists& exists) {
  // TOML documents are UTF-8, and toml11 3.7 reads outside its buffer when
  // it reports bad UTF-8 inside a '''multi-line literal string''' (found by
  // tests/fuzz/config_fuzzer.cc): such text never reaches it.
  if (const size_t bad = FirstInvalidUtf8(text); bad != text.npos) {
    const auto line = std::count(text.begin(), text.begin() + bad, '\n') + 1;
    throw ConfigError(name + ":" + std::to_string(line) +
                      ": syntax error: invalid UTF-8");
  }
  toml::value root;
  try {
    std::istringstream in{std::string(text)};
    root = toml::parse(in, name);
  } catch (const toml::exception& e) {
    throw ConfigError(OneLineSyntaxError(name, e));
  } catch (const std::exception& e) {
    // toml11 reports some failures (a number too large, say) without a
    // location; keep the first line of what it says.
    const std::string what = e.what();
    throw ConfigError(name +
                      ": syntax error: " + what.substr(0, what.find('\n')));
  }
  return Parser(name, exists).Parse(root);
}

Config LoadConfig(const std::string& path, const InterfaceExists& exists) {
  std::string text;
  std::string error;
  if (!ReadWholeFile(path, kMaxConfigBytes, &text, &error)) {
    throw ConfigError(path + ": cannot read: " + error);
  }
  return ParseConfig(text, path, exists);
}

bool ParseDuration(std::string_view text, nanoseconds* out) {
  struct Unit {
    std::string_view name;
    int64_t ns;
  };
  // Largest first: a duration names each unit at most once, in this order
  // ("1h30m", not "30m1h"), as Prometheus does.
  constexpr Unit kUnits[] = {{"d", 86400'000'000'000},
                             {"h", 3600'000'000'000},
                             {"m", 60'000'000'000},
                             {"s", 1'000'000'000},
                             {"ms", 1'000'000}};
  constexpr size_t kNumUnits = sizeof(kUnits) / sizeof(kUnits[0]);
  if (text.empty()) return false;
  int64_t total = 0;
  size_t next_unit = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) return false;
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return false;
    size_t end = i;
    while (end < text.size() && text[end] >= 'a' && text[end] <= 'z') ++end;
    const std::string_view unit = text.substr(i, end - i);
    size_t u = next_unit;
    while (u < kNumUnits && kUnits[u].name != unit) ++u;
    if (u == kNumUnits) return false;
    if (value > (std::numeric_limits<int64_t>::max() - total) / kUnits[u].ns) {
      return false;
    }
    total += value * kUnits[u].ns;
    next_unit = u + 1;
    i = end;
  }
  *out = nanoseconds(total);
  return true;
}

std::string FormatDuration(nanoseconds d) {
  if (d.count() == 0) return "0s";
  std::string out;
  // Unsigned, so that the most negative duration has a magnitude too.
  uint64_t left = static_cast<uint64_t>(d.count());
  if (d.count() < 0) {
    out = "-";
    left = ~left + 1;
  }
  // Sub-millisecond parts are kept (as us and ns) so that nothing is
  // silently rounded, although ParseDuration never produces them.
  constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"d", 86400'000'000'000},
      {"h", 3600'000'000'000},
      {"m", 60'000'000'000},
      {"s", 1'000'000'000},
      {"ms", 1'000'000},
      {"us", 1'000},
      {"ns", 1}};
  for (const auto& [name, ns] : kUnits) {
    if (left >= ns) {
      out += std::to_string(left / ns);
      out += name;
      left %= ns;
    }
  }
  return out;
}

std::string_view ToString(XdpMode mode) { return NameOf(kXdpModes, mode); }
std::string_view ToString(XdpAttach attach) {
  return NameOf(kXdpAttaches, attach);
}
std::string_view ToString(Action action) { return NameOf(kActions, action); }
std::string_view ToString(LogLevel level) { return NameOf(kLogLevels, level); }
std::string_view ToString(LogFormat format) {
  return NameOf(kLogFormats, format);
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  return FromName(kLogLevels, text, out);
}
bool ParseLogFormat(std::string_view text, LogFormat* out) {
  return FromName(kLogFormats, text, out);
}
bool ParseXdpMode(std::string_view text, XdpMode* out) {
  return FromName(kXdpModes, text, out);
}
bool ParseAction(std::string_view text, Action* out) {
  return FromName(kActions, text, out);
}

bool ValidateInterfaces(const std::vector<std::string>& names,
                        const InterfaceExists& exists, std::string* error) {
  size_t index = 0;
  *error = CheckInterfaceList(names, exists, &index);
  return error->empty();
}

}  // namespace synwatch
