// SPDX-License-Identifier: Apache-2.0
// The CrowdSec bouncer's costs (tests/bench/README.md, section 6): per-SYN
// cost of the XDP program with N decisions in the kernel's decision maps (a
// banned SYN and an unmatched one, IPv4 and IPv6, from a known source and
// from a new one, against the floor, with the same fine timing as
// xdp_bench), and the time and kernel memory to load them through the
// bouncer's own path (a LAPI startup answer parsed, stored and written).
//
//   crowdsec_bench [--runs N] [--repeat N] [--decisions N] [--json FILE]
//       (root, inside a scratch network namespace)
//   crowdsec_bench --lapi-answer N FILE
//       (writes the startup answer of N decisions, for run.sh's fake LAPI)
//
// The decisions: 56 IPv4 /32s (192.0.2.200-255: IPv4 documentation space is
// small, and the rest of it is the rule set's) and N - 56 IPv6 /128s drawn
// at random under 2001:db8:4000::/34, clear of every rule; origins CAPI
// (70 %), lists:firehol_level1 (20 %) and crowdsec (10 %).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/abi.h"
#include "config/config.h"
#include "crowdsec/bouncer.h"
#include "crowdsec/decisions.h"
#include "floor.skel.h"
#include "packet_builder.h"
#include "test_run.h"
#include "xdp/bpf_program.h"

namespace synwatch::bench {
namespace {

constexpr uint32_t kIpv4Decisions = 56;  // 192.0.2.200 .. 192.0.2.255

struct Options {
  int runs = 11;
  uint32_t repeat = 1000000;
  uint32_t decisions = 100000;
  std::string json;
  std::string answer_file;  // --lapi-answer
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--runs") {
      o.runs = std::stoi(value());
    } else if (a == "--repeat") {
      o.repeat = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--decisions") {
      o.decisions = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--json") {
      o.json = value();
    } else if (a == "--lapi-answer") {
      o.decisions = static_cast<uint32_t>(std::stoul(value()));
      o.answer_file = value();
    } else {
      throw std::runtime_error("unknown argument " + a);
    }
  }
  if (o.runs < 1 || o.repeat < 1 || o.decisions <= kIpv4Decisions) {
    throw std::runtime_error("bad --runs/--repeat/--decisions");
  }
  return o;
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The i-th decision's address (deterministic).
std::string Address(uint32_t i) {
  if (i < kIpv4Decisions) return "192.0.2." + std::to_string(200 + i);
  uint64_t state = i;
  const uint64_t hi = SplitMix(state);
  const uint64_t lo = SplitMix(state);
  char buf[64];
  // 2001:db8:4000::/34: the third group 0x4000-0x7fff.
  std::snprintf(buf, sizeof(buf), "2001:db8:%x:%x:%x:%x:%x:%x",
                0x4000 | static_cast<unsigned>((hi >> 48) & 0x3fff),
                static_cast<unsigned>((hi >> 32) & 0xffff),
                static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>((lo >> 48) & 0xffff),
                static_cast<unsigned>(lo & 0xffff));
  return buf;
}

// A LAPI startup answer of n decisions, as LAPI 1.4 writes it.
std::string LapiAnswer(uint32_t n) {
  std::string out = R"({"deleted":null,"new":[)";
  out.reserve(size_t{n} * 170);
  for (uint32_t i = 0; i < n; ++i) {
    const unsigned pick = i % 10;
    const char* origin = pick < 7 ? "CAPI" : pick < 9 ? "lists" : "crowdsec";
    const char* scenario = pick < 7   ? "crowdsecurity/ssh-bf"
                           : pick < 9 ? "firehol_level1"
                                      : "crowdsecurity/http-probing";
    if (i != 0) out += ',';
    out += R"({"duration":"167h59m58.5s","id":)" + std::to_string(i + 1) +
           R"(,"origin":")" + origin + R"(","scenario":")" + scenario +
           R"(","scope":"Ip","type":"ban","value":")" + Address(i) + "\"}";
  }
  return out + "]}";
}

// The map's memlock as the kernel accounts it (fdinfo; what `bpftool map
// show` prints), in bytes.
uint64_t Memlock(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string key;
  uint64_t value = 0;
  while (in >> key) {
    if (key == "memlock:") {
      in >> value;
      return value;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

std::vector<uint8_t> Syn(const std::string& src) { return SynFrame(src); }

int Run(const Options& o) {
  if (!InScratchNetns()) {
    throw std::runtime_error(
        "run me inside a scratch network namespace (tests/bench/run.sh does): "
        "I attach a generic XDP program to its loopback");
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  CPU_SET(static_cast<int>(ncpu - 1), &set);
  sched_setaffinity(0, sizeof(set), &set);

  std::unique_ptr<floor_bpf, void (*)(floor_bpf*)> floor(
      floor_bpf__open_and_load(), floor_bpf__destroy);
  if (!floor) Die("load floor program", errno);
  const int floor_fd = bpf_program__fd(floor->progs.xdp_floor);

  // synwatch as xdp_bench loads it, with [crowdsec] on.
  MapSizes sizes;
  BpfProgram sw(sizes);
  const RuleSet rules = RealisticRules();
  Policy off;
  off.rules.dry_run = false;
  off.rules.default_action = Action::kPass;
  off.rules.allow = ParseAll(rules.allow);
  off.rules.deny = ParseAll(rules.deny);
  off.port_scan.enabled = false;
  Policy on = off;
  on.decisions = true;
  sw.ApplyPolicy(on);
  sw.Attach("lo", kLoIfindex, XdpMode::kGeneric);
  const int sw_fd = bpf_prog_get_fd_by_id(sw.prog_id(kLoIfindex));
  if (sw_fd < 0) Die("synwatch program fd", errno);

  // Loading: the bouncer's path, from the answer's text to the trie.
  const std::string answer = LapiAnswer(o.decisions);
  const uint64_t memlock_empty =
      Memlock(sw.decisions_fd()) + Memlock(sw.decision_hosts_fd());
  std::string error;
  const auto p0 = std::chrono::steady_clock::now();
  const StreamDelta parsed = ParseStream(answer, DecisionFilter{}, &error);
  const double parse_ms = std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - p0)
                              .count();
  if (parsed.added.size() != o.decisions) {
    throw std::runtime_error("the answer parsed to " +
                             std::to_string(parsed.added.size()) +
                             " decisions");
  }
  DecisionMapFds fds;
  fds.ranges = sw.decisions_fd();
  fds.hosts = sw.decision_hosts_fd();
  fds.epochs = sw.decision_epochs_fd();
  fds.names = sw.origin_names_fd();
  KernelDecisionTable table(fds);
  CrowdsecConfig config;
  Bouncer bouncer(
      config,
      [&answer](bool) {
        return synwatch::LapiAnswer{200, answer, ""};
      },
      &table);
  const auto l0 = std::chrono::steady_clock::now();
  if (bouncer.PollOnce() != PollResult::kOk) {
    throw std::runtime_error("the bouncer did not apply the answer");
  }
  const double load_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - l0)
                             .count();
  const uint64_t memlock_full =
      Memlock(sw.decisions_fd()) + Memlock(sw.decision_hosts_fd());
  const uint32_t entries =
      static_cast<uint32_t>(KernelDecisionTable(fds).List().size());
  if (entries != o.decisions) {
    throw std::runtime_error("the decision maps hold " +
                             std::to_string(entries) + " entries");
  }
  std::fprintf(stderr,
               "crowdsec_bench: %u decisions loaded in %.0f ms (parse %.0f "
               "ms); maps' memlock %llu -> %llu bytes\n",
               o.decisions, load_ms, parse_ms,
               static_cast<unsigned long long>(memlock_empty),
               static_cast<unsigned long long>(memlock_full));

  const auto banned4 = Syn(Address(kIpv4Decisions / 2));
  const auto banned6 = Syn(Address(o.decisions / 2));
  const auto known4 = Syn("192.0.2.56");
  const auto known6 = Syn("2001:db8:1:2:3:4:5:6");
  // Unmatched, but inside the decisions' /34 (an address beside a
  // blocklist's).
  const auto near6 = Syn(Address(o.decisions + 1));
  // A source's first SYN: with rules_version 0 the program keeps no answer
  // (neither the rules' verdict nor the decisions'), so every SYN walks the
  // rules' trie and looks the decisions up. The difference between [crowdsec]
  // on and off is what a new source pays for the decisions.
  const auto keep_nothing = [&sw]() {
    sw_config cfg{};
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(sw.config_fd(), &zero, &cfg) != 0) {
      Die("read the config map", errno);
    }
    cfg.params[0].rules_version = 0;
    cfg.params[1].rules_version = 0;
    if (bpf_map_update_elem(sw.config_fd(), &zero, &cfg, BPF_ANY) != 0) {
      Die("write the config map", errno);
    }
  };
  std::map<std::string, std::vector<Sample>> samples;
  const auto rec = [&](const std::string& key, Sample s) {
    samples[key].push_back(s);
  };
  for (int run = 0; run < o.runs; ++run) {
    const uint32_t r = o.repeat;
    rec("floor", TestRunFine(floor_fd, known4, r, XDP_PASS, "floor"));
    sw.ApplyPolicy(off);
    rec("syn_known_v4_crowdsec_off",
        TestRunFine(sw_fd, known4, r, XDP_PASS, "known4 off"));
    rec("syn_known_v6_crowdsec_off",
        TestRunFine(sw_fd, known6, r, XDP_PASS, "known6 off"));
    sw.ApplyPolicy(on);
    rec("syn_unmatched_v4_crowdsec",
        TestRunFine(sw_fd, known4, r, XDP_PASS, "unmatched4"));
    rec("syn_unmatched_v6_crowdsec",
        TestRunFine(sw_fd, known6, r, XDP_PASS, "unmatched6"));
    rec("syn_unmatched_v6_in_range",
        TestRunFine(sw_fd, near6, r, XDP_PASS, "near6"));
    rec("syn_banned_v4", TestRunFine(sw_fd, banned4, r, XDP_DROP, "banned4"));
    rec("syn_banned_v6", TestRunFine(sw_fd, banned6, r, XDP_DROP, "banned6"));
    sw.ApplyPolicy(off);
    keep_nothing();
    rec("syn_new_v4_crowdsec_off",
        TestRunFine(sw_fd, known4, r, XDP_PASS, "new4 off"));
    rec("syn_new_v6_crowdsec_off",
        TestRunFine(sw_fd, known6, r, XDP_PASS, "new6 off"));
    sw.ApplyPolicy(on);
    keep_nothing();
    rec("syn_new_unmatched_v6_in_range",
        TestRunFine(sw_fd, near6, r, XDP_PASS, "new near6"));
    rec("syn_new_banned_v4",
        TestRunFine(sw_fd, banned4, r, XDP_DROP, "new banned4"));
    rec("syn_new_banned_v6",
        TestRunFine(sw_fd, banned6, r, XDP_DROP, "new banned6"));
    std::fprintf(stderr, "  run %d/%d done\n", run + 1, o.runs);
  }

  std::map<std::string, Stats> st;
  for (const auto& [k, v] : samples) st[k] = Summarise(v);
  const double floor_ns = st["floor"].value();
  struct Row {
    const char* key;
    const char* label;
    bool target;
  };
  const Row rows[] = {
      {"floor", "floor (XDP_PASS only)", false},
      {"syn_known_v4_crowdsec_off", "SYN known peer IPv4, [crowdsec] off",
       true},
      {"syn_known_v6_crowdsec_off", "SYN known peer IPv6, [crowdsec] off",
       true},
      {"syn_unmatched_v4_crowdsec", "SYN unmatched IPv4, decisions loaded",
       true},
      {"syn_unmatched_v6_crowdsec", "SYN unmatched IPv6, decisions loaded",
       true},
      {"syn_unmatched_v6_in_range",
       "SYN unmatched IPv6 inside the decisions' /34", true},
      {"syn_banned_v4", "SYN banned IPv4 (dropped)", true},
      {"syn_banned_v6", "SYN banned IPv6 (dropped)", true},
      {"syn_new_v4_crowdsec_off", "new source's SYN IPv4, [crowdsec] off",
       false},
      {"syn_new_v6_crowdsec_off", "new source's SYN IPv6, [crowdsec] off",
       false},
      {"syn_new_unmatched_v6_in_range", "new source's SYN IPv6 inside the /34",
       false},
      {"syn_new_banned_v4", "new source's SYN banned IPv4", false},
      {"syn_new_banned_v6", "new source's SYN banned IPv6", false},
  };
  constexpr double kTarget = 6;
  std::printf(
      "\n== 6. CrowdSec: per-SYN cost with %u decisions (BPF_PROG_TEST_RUN, "
      "ns/packet, %d runs x %u repeats; fine: sub-ns median) ==\n",
      o.decisions, o.runs, o.repeat);
  std::printf("%-42s %6s %6s %6s %7s %7s %7s %s\n", "case", "min", "median",
              "max", "fine", "ratio", "target", "");
  std::ostringstream cases;
  bool first = true;
  for (const Row& row : rows) {
    const Stats& s = st[row.key];
    const double ratio = s.value() / floor_ns;
    const bool met = ratio <= kTarget;
    std::printf("%-42s %6u %6u %6u %7.3f %6.2fx %7s %s\n", row.label, s.min,
                s.median, s.max, s.fine_median, ratio, row.target ? "6x" : "",
                row.target ? (met ? "met" : "MISSED") : "");
    cases << (first ? "" : ",") << "\n    \"" << row.key
          << "\": {\"ns_min\": " << s.min << ", \"ns_median\": " << s.median
          << ", \"ns_max\": " << s.max
          << ", \"ns_fine_median\": " << s.fine_median
          << ", \"above_floor_ns\": " << s.value() - floor_ns
          << ", \"ratio\": " << ratio;
    if (row.target) {
      cases << ", \"target_ratio\": " << kTarget
            << ", \"met\": " << (met ? "true" : "false");
    }
    cases << "}";
    first = false;
  }
  std::printf(
      "load: %u decisions (%u IPv4, %u IPv6) from a %.1f MB answer in %.0f "
      "ms (parse alone %.0f ms); the decision maps' memlock %.1f MB (%.0f "
      "bytes a "
      "decision; empty: %llu bytes)\n",
      o.decisions, kIpv4Decisions, o.decisions - kIpv4Decisions,
      static_cast<double>(answer.size()) / 1048576.0, load_ms, parse_ms,
      static_cast<double>(memlock_full) / 1048576.0,
      static_cast<double>(memlock_full - memlock_empty) / o.decisions,
      static_cast<unsigned long long>(memlock_empty));

  if (o.json.empty()) return 0;
  std::ofstream out(o.json);
  out << "{\n  \"decisions\": " << o.decisions
      << ",\n  \"ipv4_decisions\": " << kIpv4Decisions
      << ",\n  \"answer_bytes\": " << answer.size()
      << ",\n  \"load_ms\": " << load_ms << ",\n  \"parse_ms\": " << parse_ms
      << ",\n  \"maps_memlock_bytes_empty\": " << memlock_empty
      << ",\n  \"maps_memlock_bytes\": " << memlock_full
      << ",\n  \"runs\": " << o.runs << ",\n  \"repeat\": " << o.repeat
      << ",\n  \"cases\": {" << cases.str() << "\n  }\n}\n";
  return 0;
}

}  // namespace
}  // namespace synwatch::bench

int main(int argc, char** argv) {
  try {
    const auto o = synwatch::bench::ParseArgs(argc, argv);
    if (!o.answer_file.empty()) {
      std::ofstream out(o.answer_file);
      out << synwatch::bench::LapiAnswer(o.decisions);
      return out ? 0 : 1;
    }
    return synwatch::bench::Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crowdsec_bench: %s\n", e.what());
    return 1;
  }
}
