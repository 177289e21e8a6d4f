// SPDX-License-Identifier: Apache-2.0
#include "config/config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

namespace synwatch {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// The machine's interfaces never matter: these are the only ones there are.
bool FakeInterfaceExists(const std::string& name) {
  for (std::string_view known : {"eth0", "eth1", "ens3", "veth-sw0"}) {
    if (name == known) return true;
  }
  return false;
}

Config Parse(std::string_view text) {
  return ParseConfig(text, "t.toml", FakeInterfaceExists);
}

// The error line for text, or "no error".
std::string ErrorOf(std::string_view text) {
  try {
    Parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

Cidr MustCidr(std::string_view text) {
  std::string error;
  auto cidr = ParseCidr(text, &error);
  EXPECT_TRUE(cidr.has_value()) << text << ": " << error;
  return cidr.value_or(Cidr{});
}

TEST(ConfigTest, DefaultConfigTextParsesToDefaults) {
  const Config parsed = ParseConfig(kDefaultConfigText, "synwatch.toml",
                                    [](const std::string& name) -> bool {
                                      ADD_FAILURE() << "looked up " << name;
                                      return false;
                                    });
  EXPECT_EQ(parsed, Config{});
}

// "Every key present": the shipped file documents the whole schema, so a
// key that parses must also appear there (and nowhere twice).
TEST(ConfigTest, DefaultConfigTextHasEveryKey) {
  const std::string text = kDefaultConfigText;
  const char* keys[] = {
      "[web]",
      "\nlisten_address = ",
      "\nmetrics_path = ",
      "\nconfig_file = ",
      "[xdp]",
      "\ninterfaces = ",
      "\nmode = ",
      "\npin_path = ",
      "\nattach = ",
      "\nrun_priority = ",
      "[peers]",
      "\nmax_entries = ",
      "\nipv4_prefix_length = ",
      "\nipv6_prefix_length = ",
      "[rules]",
      "\ndefault_action = ",
      "\ndry_run = ",
      "\nallow = ",
      "\ndeny = ",
      "[port_scan]",
      "\nenabled = ",
      "\nmax_ports = ",
      "\nwindow = ",
      "\nblock_duration = ",
      "[log]",
      "\nlevel = ",
      "\nformat = ",
      "\nconnections = ",
      "\nconnections_per_second = ",
      "[crowdsec]",
      "\nenabled = ",
      "\nlapi_url = ",
      "# api_key = ",
      "# api_key_file = ",
      "# cert_file = ",
      "# key_file = ",
      "# ca_file = ",
      "\nupdate_interval = ",
      "\nresync_interval = ",
      "\norigins = ",
      "\nscopes = ",
      "\nmax_decisions = ",
  };
  // A key is looked for in its section (the text from the section's header
  // to the next one), once.
  size_t section = 0;
  size_t end = text.size();
  for (const char* key : keys) {
    if (key[0] == '[') {
      section = text.find(key);
      ASSERT_NE(section, std::string::npos) << key;
      end = std::min(text.find("\n[", section + 1), text.size());
      EXPECT_EQ(text.find(key, section + 1), std::string::npos) << key;
      continue;
    }
    const size_t at = text.find(key, section);
    EXPECT_LT(at, end) << key;
    EXPECT_GE(text.find(key, at + 1), end) << key;
  }
  // CMake substitutes @VAR@ when it embeds the file.
  EXPECT_EQ(text.find('@'), std::string::npos);
}

TEST(ConfigTest, EmptyFileIsDefaults) {
  EXPECT_EQ(Parse(""), Config{});
  EXPECT_EQ(Parse("# nothing here\n\n"), Config{});
  EXPECT_EQ(Parse("[web]\n[xdp]\n[peers]\n[rules]\n[port_scan]\n[log]\n"),
            Config{});
}

TEST(ConfigTest, DefaultsMatchDesign) {
  const Config c;
  EXPECT_EQ(c.web.listen_address.text, ":9632");
  EXPECT_EQ(c.web.metrics_path, "/metrics");
  EXPECT_EQ(c.web.config_file, "");
  EXPECT_EQ(c.xdp.interfaces, std::vector<std::string>{"auto"});
  EXPECT_EQ(c.xdp.mode, XdpMode::kAuto);
  EXPECT_EQ(c.xdp.pin_path, "/sys/fs/bpf/synwatch");
  EXPECT_EQ(c.xdp.attach, XdpAttach::kDirect);
  EXPECT_EQ(c.xdp.run_priority, 10u);
  EXPECT_EQ(c.peers.max_entries, 65536u);
  EXPECT_EQ(c.peers.ipv4_prefix_length, 32);
  EXPECT_EQ(c.peers.ipv6_prefix_length, 64);
  EXPECT_EQ(c.rules.default_action, Action::kPass);
  EXPECT_TRUE(c.rules.dry_run);
  EXPECT_TRUE(c.rules.allow.empty());
  EXPECT_TRUE(c.rules.deny.empty());
  EXPECT_TRUE(c.port_scan.enabled);
  EXPECT_EQ(c.port_scan.max_ports, 3u);
  EXPECT_EQ(c.port_scan.window, seconds(60));
  EXPECT_EQ(c.port_scan.block_duration, minutes(10));
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_EQ(c.log.format, LogFormat::kText);
  EXPECT_FALSE(c.log.connections);
  EXPECT_EQ(c.log.connections_per_second, 100u);
}

TEST(ConfigTest, ParsesEveryKey) {
  const Config c = Parse(R"(
[web]
listen_address = "[::1]:9100"
metrics_path = "/synwatch/metrics"
config_file = "/etc/synwatch/web.yml"

[xdp]
interfaces = ["eth0", "ens3"]
mode = "generic"
pin_path = ""
attach = "dispatcher"
run_priority = 60

[peers]
max_entries = 1024
ipv4_prefix_length = 24
ipv6_prefix_length = 48

[rules]
default_action = "drop"
dry_run = false
allow = ["192.0.2.0/24", "2001:db8::/32"]
deny = [
  "198.51.100.7",
  "203.0.113.0/24",  # trailing comma and comments are fine
]

[port_scan]
enabled = false
max_ports = 64
window = "1h30m"
block_duration = "0s"

[log]
level = "debug"
format = "json"
connections = true
connections_per_second = 5
)");
  Config want;
  want.web.listen_address = {"::1", 9100, "[::1]:9100"};
  want.web.metrics_path = "/synwatch/metrics";
  want.web.config_file = "/etc/synwatch/web.yml";
  want.xdp.interfaces = {"eth0", "ens3"};
  want.xdp.mode = XdpMode::kGeneric;
  want.xdp.pin_path = "";
  want.xdp.attach = XdpAttach::kDispatcher;
  want.xdp.run_priority = 60;
  want.peers.max_entries = 1024;
  want.peers.ipv4_prefix_length = 24;
  want.peers.ipv6_prefix_length = 48;
  want.rules.default_action = Action::kDrop;
  want.rules.dry_run = false;
  want.rules.allow = {MustCidr("192.0.2.0/24"), MustCidr("2001:db8::/32")};
  want.rules.deny = {MustCidr("198.51.100.7"), MustCidr("203.0.113.0/24")};
  want.port_scan.enabled = false;
  want.port_scan.max_ports = 64;
  want.port_scan.window = hours(1) + minutes(30);
  want.port_scan.block_duration = seconds(0);
  want.log.level = LogLevel::kDebug;
  want.log.format = LogFormat::kJson;
  want.log.connections = true;
  want.log.connections_per_second = 5;
  EXPECT_EQ(c, want);
}

TEST(ConfigTest, AcceptsEveryTomlSpelling) {
  const Config c = Parse(R"(
web.listen_address = "127.0.0.1:0"
peers = { max_entries = 1, ipv4_prefix_length = 0, ipv6_prefix_length = 128 }
[rules]
allow = ['192.0.2.1', """2001:db8::1"""]
)");
  EXPECT_EQ(c.web.listen_address,
            (ListenAddress{"127.0.0.1", 0, "127.0.0.1:0"}));
  EXPECT_EQ(c.peers.max_entries, 1u);
  EXPECT_EQ(c.peers.ipv4_prefix_length, 0);
  EXPECT_EQ(c.peers.ipv6_prefix_length, 128);
  EXPECT_EQ(c.rules.allow.size(), 2u);
}

TEST(ConfigTest, PartialSectionsKeepOtherDefaults) {
  const Config c = Parse("[rules]\ndry_run = false\n");
  Config want;
  want.rules.dry_run = false;
  EXPECT_EQ(c, want);
}

// Every kind of bad file, and the exact line the user sees.
TEST(ConfigTest, RejectsBadFilesWithExactError) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      // Unknown sections and keys, with a hint when one is near.
      {"[foo]\n",
       "t.toml:1: foo: unknown section (want web, xdp, peers, rules, "
       "port_scan, log or crowdsec)"},
      {"\n[prot_scan]\nenabled = true\n",
       "t.toml:2: prot_scan: unknown section (did you mean port_scan?)"},
      {"listen_address = \":1\"\n",
       "t.toml:1: listen_address: unknown key (did you mean "
       "web.listen_address?)"},
      {"version = 2\n", "t.toml:1: version: unknown key"},
      {"[web]\nlisten_adress = \":1\"\n",
       "t.toml:2: web.listen_adress: unknown key (did you mean "
       "web.listen_address?)"},
      {"[log]\nmode = \"native\"\n",
       "t.toml:2: log.mode: unknown key (did you mean xdp.mode?)"},
      {"[xdp]\ncolour = 1\n", "t.toml:2: xdp.colour: unknown key"},
      {"[web]\n\"two words\" = 1\n",
       "t.toml:2: web.\"two words\": unknown key"},
      {"[web.tls]\ncert = \"x\"\n", "t.toml:1: web.tls: unknown key"},
      // Wrong types.
      {"web = 1\n", "t.toml:1: web: expected a table, got an integer"},
      {"[[rules]]\n", "t.toml:1: rules: expected a table, got an array"},
      {"[web]\nlisten_address = 9632\n",
       "t.toml:2: web.listen_address: expected a string, got an integer"},
      {"[rules]\ndry_run = \"false\"\n",
       "t.toml:2: rules.dry_run: expected a boolean, got a string"},
      {"[rules]\ndry_run = 0\n",
       "t.toml:2: rules.dry_run: expected a boolean, got an integer"},
      {"[peers]\nmax_entries = 1.5\n",
       "t.toml:2: peers.max_entries: expected an integer, got a float"},
      {"[peers]\nmax_entries = \"1024\"\n",
       "t.toml:2: peers.max_entries: expected an integer, got a string"},
      {"[rules]\nallow = \"192.0.2.0/24\"\n",
       "t.toml:2: rules.allow: expected an array of strings, got a string"},
      {"[rules]\nallow = [\"192.0.2.0/24\", 3]\n",
       "t.toml:2: rules.allow[1]: expected a string, got an integer"},
      {"[port_scan]\nwindow = 60\n",
       "t.toml:2: port_scan.window: expected a string, got an integer"},
      {"[port_scan]\nwindow = 1979-05-27\n",
       "t.toml:2: port_scan.window: expected a string, got a date or time"},
      {"[xdp]\ninterfaces = \"eth0\"\n",
       "t.toml:2: xdp.interfaces: expected an array of strings, got a "
       "string"},
      {"[web]\nlisten_address = { port = 1 }\n",
       "t.toml:2: web.listen_address: expected a string, got a table"},
      // CIDRs, with the index of the bad one.
      {"[rules]\ndeny = [\n  \"192.0.2.0/24\",\n  \"192.0.2.0/33\",\n]\n",
       "t.toml:4: rules.deny[1]: bad CIDR \"192.0.2.0/33\": prefix length out "
       "of range (0..32)"},
      {"[rules]\nallow = [\"192.0.2.1/24\"]\n",
       "t.toml:2: rules.allow[0]: bad CIDR \"192.0.2.1/24\": host bits set, "
       "did you mean 192.0.2.0/24?"},
      {"[rules]\nallow = [\"1.2.3\"]\n",
       "t.toml:2: rules.allow[0]: bad CIDR \"1.2.3\": not an IPv4 or IPv6 "
       "address"},
      {"[rules]\ndeny = [\"2001:db8::/129\"]\n",
       "t.toml:2: rules.deny[0]: bad CIDR \"2001:db8::/129\": prefix length "
       "out of range (0..128)"},
      {"[rules]\ndeny = [\"::ffff:192.0.2.1\"]\n",
       "t.toml:2: rules.deny[0]: bad CIDR \"::ffff:192.0.2.1\": IPv4-mapped "
       "IPv6 address, write it as 192.0.2.1"},
      {"[rules]\ndeny = [\"\"]\n",
       "t.toml:2: rules.deny[0]: bad CIDR \"\": empty"},
      // Enumerations.
      {"[rules]\ndefault_action = \"reject\"\n",
       "t.toml:2: rules.default_action: unknown action \"reject\" (want pass "
       "or drop)"},
      {"[xdp]\nmode = \"skb\"\n",
       "t.toml:2: xdp.mode: unknown mode \"skb\" (want auto, native or "
       "generic)"},
      {"[log]\nlevel = \"warning\"\n",
       "t.toml:2: log.level: unknown level \"warning\" (want trace, debug, "
       "info, warn or error)"},
      {"[log]\nlevel = \"INFO\"\n",
       "t.toml:2: log.level: unknown level \"INFO\" (want trace, debug, info, "
       "warn or error)"},
      {"[log]\nformat = \"logfmt\"\n",
       "t.toml:2: log.format: unknown format \"logfmt\" (want text or json)"},
      // Ranges.
      {"[peers]\nmax_entries = 0\n",
       "t.toml:2: peers.max_entries: 0 is out of range (1..16777216)"},
      {"[peers]\nmax_entries = 16777217\n",
       "t.toml:2: peers.max_entries: 16777217 is out of range (1..16777216)"},
      {"[peers]\nipv4_prefix_length = 33\n",
       "t.toml:2: peers.ipv4_prefix_length: 33 is out of range (0..32)"},
      {"[peers]\nmax_entries = 99999999999999999999999\n",
       "t.toml:2: peers.max_entries: 99999999999999999999999 is out of range "
       "(1..16777216)"},
      {"[peers]\nmax_entries = 0x1000001\n",
       "t.toml:2: peers.max_entries: 0x1000001 is out of range "
       "(1..16777216)"},
      {"peers = { max_entries = 1_000_000_000 }\n",
       "t.toml:1: peers.max_entries: 1_000_000_000 is out of range "
       "(1..16777216)"},
      {"[peers]\nipv4_prefix_length = -1\n",
       "t.toml:2: peers.ipv4_prefix_length: -1 is out of range (0..32)"},
      {"[peers]\nipv6_prefix_length = 129\n",
       "t.toml:2: peers.ipv6_prefix_length: 129 is out of range (0..128)"},
      {"[port_scan]\nmax_ports = 0\n",
       "t.toml:2: port_scan.max_ports: 0 is out of range (1..64)"},
      {"[port_scan]\nmax_ports = 65\n",
       "t.toml:2: port_scan.max_ports: 65 is out of range (1..64)"},
      {"[log]\nconnections_per_second = 0\n",
       "t.toml:2: log.connections_per_second: 0 is out of range (1..1000000)"},
      // Durations.
      {"[port_scan]\nwindow = \"60\"\n",
       "t.toml:2: port_scan.window: bad duration \"60\": want a number and a "
       "unit (ms, s, m, h, d), like \"60s\" or \"1h30m\""},
      {"[port_scan]\nblock_duration = \"10 minutes\"\n",
       "t.toml:2: port_scan.block_duration: bad duration \"10 minutes\": want "
       "a number and a unit (ms, s, m, h, d), like \"60s\" or \"1h30m\""},
      {"[port_scan]\nwindow = \"0s\"\n",
       "t.toml:2: port_scan.window: must be more than 0s"},
      // Listen address and metrics path.
      {"[web]\nlisten_address = \"9632\"\n",
       "t.toml:2: web.listen_address: bad address \"9632\": want host:port, "
       "[host]:port or :port"},
      {"[web]\nlisten_address = \":65536\"\n",
       "t.toml:2: web.listen_address: bad address \":65536\": port out of "
       "range (0..65535)"},
      {"[web]\nlisten_address = \"localhost:9632\"\n",
       "t.toml:2: web.listen_address: bad address \"localhost:9632\": "
       "\"localhost\" is not an IP address (names are not resolved)"},
      {"[web]\nlisten_address = \"::1:9632\"\n",
       "t.toml:2: web.listen_address: bad address \"::1:9632\": an IPv6 "
       "address needs brackets, like [::1]:9632"},
      {"[web]\nmetrics_path = \"metrics\"\n",
       "t.toml:2: web.metrics_path: bad path \"metrics\": must start with "
       "\"/\""},
      {"[web]\nmetrics_path = \"/\"\n",
       "t.toml:2: web.metrics_path: bad path \"/\": \"/\" is the landing "
       "page"},
      {"[web]\nmetrics_path = \"/-/healthy\"\n",
       "t.toml:2: web.metrics_path: bad path \"/-/healthy\": paths under "
       "\"/-/\" are reserved (health and readiness)"},
      {"[web]\nmetrics_path = \"/metrics?x=1\"\n",
       "t.toml:2: web.metrics_path: bad path \"/metrics?x=1\": must be a "
       "plain URL path (no spaces, \"?\", \"#\" or \"%\")"},
      // Interfaces.
      {"[xdp]\ninterfaces = []\n",
       "t.toml:2: xdp.interfaces: empty (want \"auto\" or interface names)"},
      {"[xdp]\ninterfaces = [\"eth0\", \"auto\"]\n",
       "t.toml:2: xdp.interfaces[1]: \"auto\" cannot be combined with "
       "interface names"},
      {"[xdp]\ninterfaces = [\n  \"eth0\",\n  \"eth9\",\n]\n",
       "t.toml:4: xdp.interfaces[1]: no such interface \"eth9\""},
      {"[xdp]\ninterfaces = [\"eth0\", \"eth0\"]\n",
       "t.toml:2: xdp.interfaces[1]: \"eth0\" is listed twice"},
      {"[xdp]\ninterfaces = [\"a-very-long-name0\"]\n",
       "t.toml:2: xdp.interfaces[0]: interface name \"a-very-long-name0\" is "
       "longer than 15 characters"},
      {"[xdp]\ninterfaces = [\"eth0:1\"]\n",
       "t.toml:2: xdp.interfaces[0]: bad interface name \"eth0:1\" (no \"/\", "
       "\":\" or spaces)"},
      {"[xdp]\ninterfaces = [\"\"]\n",
       "t.toml:2: xdp.interfaces[0]: bad interface name \"\" (no \"/\", \":\" "
       "or spaces)"},
      {"[xdp]\npin_path = \"bpf/synwatch\"\n",
       "t.toml:2: xdp.pin_path: bad path \"bpf/synwatch\": must be \"\" (no "
       "pinning) or an absolute path"},
      {"[xdp]\nattach = \"libxdp\"\n",
       "t.toml:2: xdp.attach: unknown attach \"libxdp\" (want direct or "
       "dispatcher)"},
      {"[xdp]\nrun_priority = 1001\n",
       "t.toml:2: xdp.run_priority: 1001 is out of range (0..1000)"},
      // Whatever a value holds, the error stays on one line.
      {"[xdp]\nmode = \"a\\nb\"\n",
       "t.toml:2: xdp.mode: unknown mode \"a\\x0ab\" (want auto, native or "
       "generic)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ErrorOf(c.text), c.error) << c.text;
  }
}

TEST(ConfigTest, ReportsTheFirstProblemInTheFile) {
  // Tables iterate in hash order; the error is still the earliest line.
  const std::string text = R"(
[log]
level = "loud"

[web]
metrics_path = "nope"
bogus = 1

[peers]
max_entries = 0
)";
  EXPECT_EQ(ErrorOf(text),
            "t.toml:3: log.level: unknown level \"loud\" (want trace, debug, "
            "info, warn or error)");
  EXPECT_EQ(ErrorOf("[web]\nb = 1\na = 2\n"), "t.toml:2: web.b: unknown key");
  EXPECT_EQ(ErrorOf("[web]\nx = { b = 1 }\n[log]\ny = 2\n"),
            "t.toml:2: web.x: unknown key");
}

TEST(ConfigTest, SyntaxErrorsAreOneLineWithLocation) {
  struct Case {
    const char* text;
    const char* prefix;
  };
  const Case cases[] = {
      {"[web]\nlisten_address = \n", "t.toml:2: syntax error: "},
      {"[web]\nlisten_address = \":1\n", "t.toml:2: syntax error: "},
      {"[web\n", "t.toml:1: syntax error: "},
      {"\n\n[rules]\nallow = [\"a\",\n", "t.toml:"},
      {"[log]\nlevel = info\n", "t.toml:2: syntax error: "},
  };
  for (const auto& c : cases) {
    const std::string error = ErrorOf(c.text);
    EXPECT_EQ(error.rfind(c.prefix, 0), 0u) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_EQ(error.find("[error]"), std::string::npos) << error;
  }
  EXPECT_EQ(ErrorOf("[web]\nmetrics_path = \"/a\"\nmetrics_path = \"/b\"\n"),
            "t.toml:3: syntax error: value (\"metrics_path\") already "
            "exists.");
}

// TOML is UTF-8. Bad UTF-8 is refused before toml11 sees it: inside a
// '''multi-line literal string''' toml11 3.7 read outside its buffer
// (tests/fuzz/corpus/config/crash_ml_literal_bad_utf8.toml).
TEST(ConfigTest, RejectsInvalidUtf8WithLine) {
  struct Case {
    std::string text;
    const char* error;
  };
  const Case cases[] = {
      {"a = '''\xdd'''\n", "t.toml:1: syntax error: invalid UTF-8"},
      {"[web]\nmetrics_path = '''/m\xc3'''\n",
       "t.toml:2: syntax error: invalid UTF-8"},
      {"# ok\n\n# \xff\n", "t.toml:3: syntax error: invalid UTF-8"},
      {"# overlong \xc0\xaf\n", "t.toml:1: syntax error: invalid UTF-8"},
      {"# overlong \xe0\x80\xaf\n", "t.toml:1: syntax error: invalid UTF-8"},
      {"# surrogate \xed\xa0\x80\n", "t.toml:1: syntax error: invalid UTF-8"},
      {"# too high \xf4\x90\x80\x80\n",
       "t.toml:1: syntax error: invalid UTF-8"},
      {"# cut short \xe2\x82", "t.toml:1: syntax error: invalid UTF-8"},
      {"\n# stray continuation \x80\n",
       "t.toml:2: syntax error: invalid UTF-8"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorOf(c.text), c.error) << c.text;
  }
  // Well-formed UTF-8 of every length is fine, in comments and values.
  EXPECT_EQ(ErrorOf("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"
                    "# \xf4\x8f\xbf\xbf\n"
                    "[web]\nconfig_file = '''/etc/caf\xc3\xa9.yml'''\n"),
            "no error");
}

TEST(ConfigTest, InterfacesAreCheckedThroughTheInjectedFunction) {
  std::vector<std::string> asked;
  const auto exists = [&asked](const std::string& name) {
    asked.push_back(name);
    return true;
  };
  const Config c =
      ParseConfig("[xdp]\ninterfaces = [\"wan0\", \"lan0\"]\n", "t", exists);
  EXPECT_EQ(c.xdp.interfaces, (std::vector<std::string>{"wan0", "lan0"}));
  EXPECT_EQ(asked, (std::vector<std::string>{"wan0", "lan0"}));

  asked.clear();
  ParseConfig("[xdp]\ninterfaces = [\"auto\"]\n", "t", exists);
  EXPECT_TRUE(asked.empty());
}

TEST(ConfigTest, ValidateInterfacesForFlags) {
  std::string error;
  EXPECT_TRUE(
      ValidateInterfaces({"eth0", "eth1"}, FakeInterfaceExists, &error));
  EXPECT_TRUE(ValidateInterfaces({"auto"}, FakeInterfaceExists, &error));
  EXPECT_FALSE(
      ValidateInterfaces({"eth0", "wlan0"}, FakeInterfaceExists, &error));
  EXPECT_EQ(error, "no such interface \"wlan0\"");
  EXPECT_FALSE(ValidateInterfaces({}, FakeInterfaceExists, &error));
  EXPECT_EQ(error, "empty (want \"auto\" or interface names)");
  const std::vector<std::string> many(kMaxInterfaces + 1, "eth0");
  EXPECT_FALSE(ValidateInterfaces(many, FakeInterfaceExists, &error));
  EXPECT_EQ(error, "257 interfaces, at most 256");
}

TEST(ConfigTest, RuleListsAreBounded) {
  // One entry per line: toml11 3.7 takes time quadratic in the length of a
  // line, so a full list on a single line would take minutes.
  auto list = [](size_t n) {
    std::string text = "[rules]\ndeny = [\n";
    for (size_t i = 0; i < n; ++i) {
      text += "  \"10." + std::to_string(i / 65536) + "." +
              std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) +
              "\",\n";
    }
    return text + "]\n";
  };
  EXPECT_EQ(Parse(list(kMaxRulesPerList)).rules.deny.size(), kMaxRulesPerList);
  EXPECT_EQ(ErrorOf(list(kMaxRulesPerList + 1)),
            "t.toml:2: rules.deny: 16385 entries, at most 16384");
}

TEST(ConfigTest, DuplicateAndOverlappingRulesAreAccepted) {
  // Rules fold into one trie where allow wins; a duplicate is harmless.
  const Config c = Parse(
      "[rules]\nallow = [\"192.0.2.0/24\", \"192.0.2.0/24\"]\n"
      "deny = [\"192.0.2.0/24\", \"192.0.0.0/16\"]\n");
  EXPECT_EQ(c.rules.allow.size(), 2u);
  EXPECT_EQ(c.rules.deny.size(), 2u);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "synwatch-config-XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    for (const auto& f : files_) unlink(f.c_str());
    if (!path_.empty()) rmdir(path_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = path_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

TEST(ConfigTest, LoadConfigReadsAFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.Write("good.toml",
                                     "[log]\nlevel = \"warn\"\n[xdp]\n"
                                     "interfaces = [\"eth1\"]\n");
  const Config c = LoadConfig(path, FakeInterfaceExists);
  EXPECT_EQ(c.log.level, LogLevel::kWarn);
  EXPECT_EQ(c.xdp.interfaces, std::vector<std::string>{"eth1"});
}

TEST(ConfigTest, LoadConfigNamesTheFileInErrors) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string bad = dir.Write("bad.toml", "\n[log]\nlevel = 3\n");
  const std::string missing = dir.path() + "/missing.toml";
  struct Case {
    std::string path;
    std::string error;
  };
  const Case cases[] = {
      {bad, bad + ":3: log.level: expected a string, got an integer"},
      {missing, missing + ": cannot read: No such file or directory"},
      {dir.path(), dir.path() + ": cannot read: Is a directory"},
  };
  for (const auto& c : cases) {
    try {
      LoadConfig(c.path, FakeInterfaceExists);
      ADD_FAILURE() << c.path << " loaded";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), c.error);
    }
  }
}

TEST(ConfigTest, ParsesDurations) {
  struct Case {
    const char* text;
    nanoseconds want;
  };
  const Case cases[] = {
      {"0s", seconds(0)},
      {"0ms", seconds(0)},
      {"500ms", milliseconds(500)},
      {"60s", seconds(60)},
      {"10m", minutes(10)},
      {"1h30m", hours(1) + minutes(30)},
      {"1d", hours(24)},
      {"2d3h4m5s6ms", hours(51) + minutes(4) + seconds(5) + milliseconds(6)},
      {"90s", seconds(90)},
      {"0010s", seconds(10)},
  };
  for (const auto& c : cases) {
    nanoseconds got{-1};
    EXPECT_TRUE(ParseDuration(c.text, &got)) << c.text;
    EXPECT_EQ(got, c.want) << c.text;
  }
}

TEST(ConfigTest, RejectsBadDurations) {
  for (const char* text :
       {"",     "0",     "60",          "s",
        "-1s",  "+1s",   "1.5s",        "1 s",
        " 1s",  "1s ",   "1S",          "1sec",
        "1min", "1w",    "1y",          "1us",
        "1ns",  "30m1h", "1m1m",        "1ms1s",
        "1h30", "h1",    "1000000000d", "99999999999999999999s"}) {
    nanoseconds got{};
    EXPECT_FALSE(ParseDuration(text, &got)) << text;
  }
}

TEST(ConfigTest, FormatsDurationsCompactly) {
  struct Case {
    nanoseconds in;
    const char* want;
  };
  const Case cases[] = {
      {seconds(0), "0s"},
      {milliseconds(500), "500ms"},
      {seconds(60), "1m"},
      {minutes(10), "10m"},
      {hours(1) + minutes(30), "1h30m"},
      {hours(24), "1d"},
      {hours(25) + milliseconds(1), "1d1h1ms"},
      {seconds(90), "1m30s"},
      {nanoseconds(1500), "1us500ns"},
      {-seconds(5), "-5s"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatDuration(c.in), c.want);
  }
  for (const char* text : {"0s", "500ms", "1m", "1h30m", "2d3h4m5s6ms"}) {
    nanoseconds d{};
    ASSERT_TRUE(ParseDuration(text, &d));
    EXPECT_EQ(FormatDuration(d), text);
  }
}

TEST(ConfigTest, ParsesListenAddresses) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  };
  const Case cases[] = {
      {":9632", "", 9632},
      {"0.0.0.0:9632", "0.0.0.0", 9632},
      {"127.0.0.1:0", "127.0.0.1", 0},
      {"[::]:9632", "::", 9632},
      {"[::1]:65535", "::1", 65535},
      {"[2001:db8::1]:80", "2001:db8::1", 80},
  };
  for (const auto& c : cases) {
    ListenAddress got;
    std::string error;
    EXPECT_TRUE(ParseListenAddress(c.text, &got, &error)) << c.text << error;
    EXPECT_EQ(got, (ListenAddress{c.host, c.port, c.text})) << c.text;
  }
}

TEST(ConfigTest, RejectsBadListenAddresses) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"", "want host:port, [host]:port or :port"},
      {"9632", "want host:port, [host]:port or :port"},
      {":", "bad port \"\""},
      {":http", "bad port \"http\""},
      {":-1", "bad port \"-1\""},
      {":123456", "bad port \"123456\""},
      {":65536", "port out of range (0..65535)"},
      {"1.2.3:80", "\"1.2.3\" is not an IPv4 address"},
      {"example.com:80",
       "\"example.com\" is not an IP address (names are not "
       "resolved)"},
      {"::1:80", "an IPv6 address needs brackets, like [::1]:9632"},
      {"[::1:80", "want host:port, [host]:port or :port"},
      {"[127.0.0.1]:80", "\"127.0.0.1\" is not an IPv6 address"},
      {"[]:80", "\"\" is not an IPv6 address"},
  };
  for (const auto& c : cases) {
    ListenAddress got;
    std::string error;
    EXPECT_FALSE(ParseListenAddress(c.text, &got, &error)) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
}

TEST(ConfigTest, CrowdsecSection) {
  const Config c = ParseConfig(
      "[crowdsec]\nenabled = true\nlapi_url = \"http://192.0.2.1:8080\"\n"
      "api_key_file = \"/etc/k\"\nupdate_interval = \"30s\"\n"
      "origins = [\"cscli\", \"crowdsec\"]\nscopes = [\"ip\"]\n"
      "max_decisions = 1000\nresync_interval = \"0s\"\n",
      "t.toml");
  EXPECT_TRUE(c.crowdsec.enabled);
  EXPECT_EQ(c.crowdsec.resync_interval, std::chrono::nanoseconds(0));
  EXPECT_EQ(Config{}.crowdsec.resync_interval, std::chrono::hours(1));
  EXPECT_EQ(c.crowdsec.lapi_url, "http://192.0.2.1:8080");
  EXPECT_EQ(c.crowdsec.api_key_file, "/etc/k");
  EXPECT_EQ(c.crowdsec.update_interval, std::chrono::seconds(30));
  EXPECT_EQ(c.crowdsec.origins,
            (std::vector<std::string>{"cscli", "crowdsec"}));
  EXPECT_EQ(c.crowdsec.scopes, std::vector<std::string>{"ip"});
  EXPECT_EQ(c.crowdsec.max_decisions, 1000U);
  // Off by default, and a section prepared but off needs no credentials.
  EXPECT_FALSE(Config{}.crowdsec.enabled);
  EXPECT_FALSE(
      ParseConfig("[crowdsec]\nlapi_url = \"x\"\n", "t.toml").crowdsec.enabled);
}

TEST(ConfigTest, CrowdsecReport) {
  const Config c = ParseConfig(
      "[crowdsec]\nreport = true\nmachine_id = \"web-1\"\n"
      "machine_password_file = \"/etc/p\"\nreport_queue_size = 64\n",
      "t.toml");
  EXPECT_TRUE(c.crowdsec.report);
  EXPECT_FALSE(c.crowdsec.enabled);  // reporting needs no bouncer key
  EXPECT_EQ(c.crowdsec.machine_id, "web-1");
  EXPECT_EQ(c.crowdsec.machine_password_file, "/etc/p");
  EXPECT_EQ(c.crowdsec.report_queue_size, 64U);
  EXPECT_FALSE(Config{}.crowdsec.report);
  const std::pair<const char*, const char*> cases[] = {
      {"[crowdsec]\nreport = true\nmachine_id = \"m\"\n",
       "t.toml:1: crowdsec: report needs machine_id and "
       "machine_password_file"},
      {"[crowdsec]\nreport = true\nmachine_password_file = \"/p\"\n",
       "t.toml:1: crowdsec: report needs machine_id and "
       "machine_password_file"},
      {"[crowdsec]\nreport = true\nmachine_id = \"m\"\n"
       "machine_password_file = \"/p\"\nlapi_url = \"x\"\n",
       "t.toml:5: crowdsec.lapi_url: want an http:// or https:// URL"},
      {"[crowdsec]\nreport_queue_size = 0\n",
       "t.toml:2: crowdsec.report_queue_size: 0 is out of range (1..65536)"},
  };
  for (const auto& [text, error] : cases) {
    try {
      ParseConfig(text, "t.toml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), error) << text;
    }
  }
}

TEST(ConfigTest, CrowdsecRejectsWhatCannotLogIn) {
  const std::pair<const char*, const char*> cases[] = {
      {"[crowdsec]\nenabled = true\n",
       "t.toml:1: crowdsec: enabled without credentials: set api_key, "
       "api_key_file or cert_file and key_file"},
      {"[crowdsec]\nenabled = true\napi_key = \"k\"\ncert_file = \"c\"\n"
       "key_file = \"k\"\n",
       "t.toml:1: crowdsec: set an API key or a client certificate, not both"},
      {"[crowdsec]\nenabled = true\ncert_file = \"c\"\n",
       "t.toml:1: crowdsec: cert_file and key_file go together"},
      {"[crowdsec]\nenabled = true\napi_key = \"k\"\nlapi_url = \"ftp://x\"\n",
       "t.toml:4: crowdsec.lapi_url: want an http:// or https:// URL"},
      {"[crowdsec]\nscopes = [\"country\"]\n",
       "t.toml:2: crowdsec.scopes: unknown scope \"country\" (want ip or "
       "range)"},
      {"[crowdsec]\nupdate_interval = \"0s\"\n",
       "t.toml:2: crowdsec.update_interval: must be more than 0s"},
      {"[crowdsec]\nmax_decisions = 0\n",
       "t.toml:2: crowdsec.max_decisions: 0 is out of range (1..16777216)"},
      {"[crowdsec]\napi_keys = \"k\"\n",
       "t.toml:2: crowdsec.api_keys: unknown key (did you mean "
       "crowdsec.api_key?)"},
      {"[crowdsec]\nscopes = []\n",
       "t.toml:2: crowdsec.scopes: must name a scope"},
  };
  for (const auto& [text, error] : cases) {
    try {
      ParseConfig(text, "t.toml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), error) << text;
    }
  }
}

TEST(ConfigTest, NamesRoundTrip) {
  for (auto mode : {XdpMode::kAuto, XdpMode::kNative, XdpMode::kGeneric}) {
    XdpMode parsed{};
    EXPECT_TRUE(ParseXdpMode(ToString(mode), &parsed));
    EXPECT_EQ(parsed, mode);
  }
  for (auto action : {Action::kPass, Action::kDrop}) {
    Action parsed{};
    EXPECT_TRUE(ParseAction(ToString(action), &parsed));
    EXPECT_EQ(parsed, action);
  }
  for (auto level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                     LogLevel::kWarn, LogLevel::kError}) {
    LogLevel parsed{};
    EXPECT_TRUE(ParseLogLevel(ToString(level), &parsed));
    EXPECT_EQ(parsed, level);
  }
  for (auto format : {LogFormat::kText, LogFormat::kJson}) {
    LogFormat parsed{};
    EXPECT_TRUE(ParseLogFormat(ToString(format), &parsed));
    EXPECT_EQ(parsed, format);
  }
  LogLevel level{};
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_EQ(ToString(LogLevel::kWarn), "warn");
  EXPECT_EQ(ToString(XdpMode::kNative), "native");
}

}  // namespace
}  // namespace synwatch
