// SPDX-License-Identifier: Apache-2.0
#include "metrics/status_page.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/abi.h"
#include "base/net.h"
#include "base/text.h"

namespace synwatch {
namespace {

std::string Percent(double part, double whole) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f %%",
                whole > 0 ? 100.0 * part / whole : 0.0);
  return buf;
}

std::string UtcTime(double unix_time) {
  const std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

void Cell(std::string& out, std::string_view text) {
  out += "<td>";
  AppendHtmlText(out, text);
  out += "</td>";
}

void Row(std::string& out, std::initializer_list<std::string_view> cells) {
  out += "<tr>";
  for (std::string_view c : cells) Cell(out, c);
  out += "</tr>\n";
}

void Head(std::string& out, std::initializer_list<std::string_view> cells) {
  out += "<tr>";
  for (std::string_view c : cells) {
    out += "<th>";
    AppendHtmlText(out, c);
    out += "</th>";
  }
  out += "</tr>\n";
}

constexpr std::string_view kStyle =
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.2em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "th{background:#eee}.bad{color:#b00;font-weight:bold}"
    ".ok{color:#070}code{font-size:.95em}";

}  // namespace

StatusPage::StatusPage(const RowSource& source, const ExporterState& state,
                       const RecentScans& scans, std::string version,
                       std::string metrics_path, StatusExtras extras)
    : source_(source),
      state_(state),
      scans_(scans),
      version_(std::move(version)),
      metrics_path_(std::move(metrics_path)),
      extras_(std::move(extras)) {}

StatusPage::PeerView StatusPage::Peers() const {
  std::lock_guard lock(peers_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (peers_.read && now - peers_.at < kPeersMaxAge) return peers_;
  std::vector<PeerRow> rows;
  peers_.ok = source_.ReadPeers(&rows);
  peers_.read = true;
  peers_.at = now;
  peers_.unix_time = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  peers_.entries = rows.size();
  const std::size_t top = std::min(kTopPeers, rows.size());
  std::partial_sort(
      rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(top), rows.end(),
      [](const PeerRow& a, const PeerRow& b) { return a.packets > b.packets; });
  rows.resize(top);
  peers_.top = std::move(rows);
  return peers_;
}

std::string StatusPage::Render() const {
  std::vector<InterfaceRow> interfaces;
  const bool interfaces_ok = source_.ReadInterfaces(&interfaces);
  const PeerView view = Peers();
  const bool peers_ok = view.ok;
  const std::size_t peer_entries = view.entries;
  const std::vector<PeerRow>& peers = view.top;
  ScanTables scan;
  const bool scan_ok = source_.ReadScanTables(&scan);
  const StatusExtra extra = extras_ ? extras_() : StatusExtra{};

  std::string out;
  out.reserve(8192);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>synwatch status</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<h1>synwatch</h1>\n<p>Version <code>";
  AppendHtmlText(out, version_.empty() ? "unknown" : version_);
  out += "</code>, page rendered ";
  out += UtcTime(std::chrono::duration<double>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
  out += ". <a href=\".";
  AppendHtmlText(out, metrics_path_);
  out +=
      "\">Metrics</a> &middot; <a href=\"./-/healthy\">Health</a> &middot; "
      "<a href=\"./-/ready\">Readiness</a></p>\n";
  if (!interfaces_ok || !peers_ok || !scan_ok) {
    out +=
        "<p class=\"bad\">Some BPF maps could not be read: what follows is "
        "partial (see the log).</p>\n";
  }

  out += "<h2 id=\"rules\">Rules in force</h2>\n<table>\n";
  Head(out, {"setting", "value"});
  const bool dry = state_.dry_run.load();
  out += "<tr><td>dry run</td><td class=\"";
  out += dry ? "bad\">on: nothing is dropped" : "ok\">off: rules are enforced";
  out += "</td></tr>\n";
  Row(out, {"allow prefixes", std::to_string(state_.allow_rules.load())});
  Row(out, {"deny prefixes", std::to_string(state_.deny_rules.load())});
  for (const auto& [setting, value] : extra.rules) Row(out, {setting, value});
  out += "<tr><td>last reload</td><td class=\"";
  out += state_.last_reload_ok.load() ? "ok\">succeeded" : "bad\">failed";
  out += "</td></tr>\n</table>\n";

  out += "<h2 id=\"interfaces\">Interfaces</h2>\n<table>\n";
  Head(out, {"interface", "ifindex", "XDP mode", "attach", "attached", "SYNs",
             "SYNs dropped", "scans detected"});
  for (const InterfaceRow& row : interfaces) {
    uint64_t syns = 0;
    uint64_t dropped = 0;
    for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
      for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
        syns += row.stats.syn[o][a];
        if (a == SW_ACTION_DROP) dropped += row.stats.syn[o][a];
      }
    }
    out += "<tr>";
    Cell(out, row.name);
    Cell(out, std::to_string(row.ifindex));
    Cell(out, row.mode.empty() ? "-" : row.mode);
    Cell(out, row.attach == "dispatcher"
                  ? "dispatcher, priority " + std::to_string(row.run_priority)
                  : row.attach);
    out += row.attached ? "<td class=\"ok\">yes</td>"
                        : "<td class=\"bad\">no</td>";
    Cell(out, row.has_stats ? std::to_string(syns) : "-");
    Cell(out, row.has_stats ? std::to_string(dropped) : "-");
    Cell(out, row.has_stats ? std::to_string(row.stats.port_scans) : "-");
    out += "</tr>\n";
  }
  out += "</table>\n";

  out += "<h2 id=\"tables\">Table fill</h2>\n<table>\n";
  Head(out, {"table", "entries", "capacity", "fill"});
  const double peer_capacity = source_.PeerCapacity();
  Row(out, {"per-peer", std::to_string(peer_entries),
            std::to_string(source_.PeerCapacity()),
            Percent(static_cast<double>(peer_entries), peer_capacity)});
  Row(out, {"port-scan track", std::to_string(scan.tracked),
            std::to_string(scan.track_capacity),
            Percent(scan.tracked, scan.track_capacity)});
  Row(out, {"blocks in force", std::to_string(scan.blocked_active),
            std::to_string(scan.block_capacity),
            Percent(scan.blocked_active, scan.block_capacity)});
  for (const StatusExtra::Table& t : extra.tables) {
    Row(out, {t.name, std::to_string(t.entries), std::to_string(t.capacity),
              Percent(static_cast<double>(t.entries),
                      static_cast<double>(t.capacity))});
  }
  out += "</table>\n";

  std::unordered_map<uint32_t, std::string> names;
  for (const InterfaceRow& row : interfaces) names[row.ifindex] = row.name;
  out += "<h2 id=\"peers\">Top peers by SYNs</h2>\n<p>Per-peer table read ";
  out += UtcTime(view.unix_time);
  out += " (at most once every ";
  out += std::to_string(kPeersMaxAge.count());
  out += " s).</p>\n<table>\n";
  Head(out, {"peer", "interface", "outcome", "action", "SYNs"});
  for (const PeerRow& p : peers) {
    const sw_peer_key& k = p.key;
    const auto it = names.find(k.ifindex);
    Row(out,
        {FormatPeer(k.family == SW_FAMILY_IPV6 ? Family::kIpv6 : Family::kIpv4,
                    k.addr, k.prefix_len),
         it != names.end() ? std::string_view(it->second)
                           : std::string_view("?"),
         OutcomeName(k.outcome), ActionName(k.action),
         std::to_string(p.packets)});
  }
  if (peers.empty()) out += "<tr><td colspan=\"5\">no peer yet</td></tr>\n";
  out += "</table>\n";

  out += "<h2 id=\"scans\">Last port scans detected</h2>\n<table>\n";
  Head(out, {"time", "detection"});
  const std::vector<RecentScan> scans = scans_.Newest();
  for (const RecentScan& s : scans) Row(out, {UtcTime(s.unix_time), s.line});
  if (scans.empty()) {
    out += "<tr><td colspan=\"2\">none since synwatch started</td></tr>\n";
  }
  out += "</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace synwatch
