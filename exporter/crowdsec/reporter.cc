// SPDX-License-Identifier: Apache-2.0
#include "crowdsec/reporter.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/file.h"
#include "metrics/family.h"

namespace synwatch {
namespace {

// The scenario's identity for the LAPI, which requires both: a version and
// a hash (the sha256 of "synwatch/port-scan 1", a scenario not from the hub).
constexpr char kScenarioVersion[] = "1";
constexpr char kScenarioHash[] =
    "de4859441091ba55ffca682e8b8d14b71f4cf4bd73896a8fff2fad510d0905a8";
// A token renewed this long before the expiry the LAPI stated.
constexpr double kRenewEarly = 60;
// When the login answer names no readable expiry (the LAPI's default: 1 h).
constexpr double kDefaultTokenLife = 30 * 60;

std::string Rfc3339(double unix_time) {
  const auto secs = static_cast<time_t>(std::floor(unix_time));
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

// "2026-12-05T07:10:00Z" (also with fractional seconds or an offset of
// Z only, as the LAPI writes it); 0 when it cannot be read.
double ParseRfc3339(const std::string& text) {
  tm t{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
  if (end == nullptr) return 0;
  return static_cast<double>(timegm(&t));
}

std::string Ports(const std::vector<uint16_t>& ports) {
  std::string out;
  for (uint16_t p : ports) {
    if (!out.empty()) out += ',';
    out += std::to_string(p);
  }
  return out;
}

std::string Seconds(std::chrono::nanoseconds d) {
  // A Go duration ("10s", "0.5s"): what the LAPI's leakspeed holds.
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%gs",
                std::chrono::duration<double>(d).count());
  return buf;
}

bool FullWidth(const Cidr& c) { return c.prefix_len == MaxPrefixLen(c.family); }

}  // namespace

ScanReport ScanReportFromEvent(const sw_event& event, const std::string& ifname,
                               const PeersConfig& peers, double unix_time,
                               bool simulated) {
  ScanReport r;
  r.source.family =
      event.family == SW_FAMILY_IPV6 ? Family::kIpv6 : Family::kIpv4;
  std::memcpy(r.source.addr.data(), event.src, sizeof(event.src));
  r.source.prefix_len = r.source.family == Family::kIpv4
                            ? peers.ipv4_prefix_length
                            : peers.ipv6_prefix_length;
  MaskAddress(r.source.addr, r.source.family, r.source.prefix_len);
  r.target = FormatAddress(r.source.family, event.dst);
  r.interface = ifname;
  const size_t n = std::min<size_t>(event.nports, std::size(event.ports));
  r.ports.assign(event.ports, event.ports + n);
  r.unix_time = unix_time;
  r.simulated = simulated;
  return r;
}

std::string AlertsJson(const std::vector<ScanReport>& reports,
                       const ReportSettings& settings) {
  using nlohmann::json;
  json alerts = json::array();
  for (const ScanReport& r : reports) {
    const bool ip = FullWidth(r.source);
    const std::string value =
        ip ? FormatAddress(r.source.family, r.source.addr.data())
           : FormatCidr(r.source);
    const std::string ports = Ports(r.ports);
    json source = {{"scope", ip ? "Ip" : "Range"}, {"value", value}};
    source[ip ? "ip" : "range"] = value;
    const std::string at = Rfc3339(r.unix_time);
    const std::string start = Rfc3339(
        r.unix_time - std::chrono::duration<double>(settings.window).count());
    json meta = json::array({
        {{"key", "source_ip"}, {"value", value}},
        {{"key", "target_ip"}, {"value", r.target}},
        {{"key", "ports"}, {"value", ports}},
        {{"key", "interface"}, {"value", r.interface}},
        {{"key", "service"}, {"value", "synwatch"}},
        {{"key", "machine"}, {"value", settings.machine_id}},
    });
    std::string message = "synwatch: port scan from ";
    message += value;
    message += " to ";
    message += r.target;
    message += " on " + std::to_string(r.ports.size()) + " ports (";
    message += ports;
    message += ") interface=";
    message += r.interface;
    alerts.push_back({
        {"scenario", kScanScenario},
        {"scenario_hash", kScenarioHash},
        {"scenario_version", kScenarioVersion},
        {"message", message},
        {"events_count", static_cast<int32_t>(r.ports.size())},
        {"start_at", start},
        {"stop_at", at},
        {"capacity", static_cast<int32_t>(settings.capacity)},
        {"leakspeed", Seconds(settings.window)},
        {"simulated", r.simulated},
        {"remediation", true},
        {"source", source},
        {"events", json::array({{{"timestamp", at}, {"meta", meta}}})},
        {"decisions", json::array()},
    });
  }
  return alerts.dump();
}

std::string ReadMachinePassword(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("crowdsec: machine_password_file " + path + ": " +
                             std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error("crowdsec: machine_password_file " + path +
                             " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    throw std::runtime_error("crowdsec: machine_password_file " + path +
                             " has mode " + mode +
                             ": make it readable by its owner only "
                             "(chmod 600)");
  }
  std::string text;
  std::string error;
  if (!ReadWholeFile(path, 4096, &text, &error)) {
    throw std::runtime_error("crowdsec: read machine_password_file " + path +
                             ": " + error);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.pop_back();
  if (text.empty()) {
    throw std::runtime_error("crowdsec: machine_password_file " + path +
                             " is empty");
  }
  return text;
}

double Reporter::UnixNowSeconds() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Reporter::Reporter(ReportSettings settings, std::string password, Post post,
                   Clock clock, std::function<void()> cancel)
    : settings_(std::move(settings)),
      password_(std::move(password)),
      post_(std::move(post)),
      clock_(std::move(clock)),
      cancel_(std::move(cancel)) {}

Reporter::~Reporter() { Stop(); }

bool Reporter::Enqueue(ScanReport report) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= settings_.max_queued) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(report));
  }
  wake_.notify_one();
  return true;
}

bool Reporter::Login() {
  const nlohmann::json body = {
      {"machine_id", settings_.machine_id},
      {"password", password_},
      {"scenarios", nlohmann::json::array({kScanScenario})}};
  const LapiAnswer a = post_("v1/watchers/login", body.dump(), "");
  token_.clear();
  std::string why;
  if (a.status == 200) {
    const auto j = nlohmann::json::parse(a.body, nullptr, false);
    if (j.is_object() && j.contains("token") && j["token"].is_string() &&
        !j["token"].get<std::string>().empty()) {
      token_ = j["token"].get<std::string>();
      const double now = clock_();
      double expires = 0;
      if (j.contains("expire") && j["expire"].is_string()) {
        expires = ParseRfc3339(j["expire"].get<std::string>());
      }
      token_expires_ = expires > now ? expires : now + kDefaultTokenLife;
    } else {
      why = "an answer without a token";
    }
  } else {
    why = a.status == 0 ? a.error : "HTTP " + std::to_string(a.status);
  }
  std::lock_guard lock(mu_);
  if (token_.empty()) {
    ++logins_failed_;
    // The LAPI's answer to a bad password or an unvalidated machine is
    // 401/403; the password itself is never in the message. Once per
    // outage: the retries are counted.
    if (failures_in_row_ == 0) {
      spdlog::warn("CrowdSec reporter: login as {} failed: {}",
                   settings_.machine_id, why);
    }
    return false;
  }
  ++logins_ok_;
  return true;
}

Reporter::SendResult Reporter::SendOnce() {
  std::vector<ScanReport> batch;
  {
    std::lock_guard lock(mu_);
    const size_t n = std::min(queue_.size(), settings_.batch);
    batch.assign(queue_.begin(),
                 queue_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (batch.empty()) return SendResult::kIdle;
  const std::string json = AlertsJson(batch, settings_);
  // The outcome of this attempt: the batch leaves the queue when sent or
  // rejected, or after kMaxAttempts retries.
  auto settle = [&](SendResult result, const std::string& why) {
    std::lock_guard lock(mu_);
    bool done = result != SendResult::kRetry;
    if (result == SendResult::kRetry) {
      if (failures_in_row_ == 0) {
        spdlog::warn(
            "CrowdSec reporter: sending alerts failed ({}); "
            "retrying with back-off",
            why);
      }
      ++requests_failed_;
      if (++failures_in_row_ >= kMaxAttempts) {
        done = true;
        failed_ += batch.size();
        failures_in_row_ = 0;  // the next batch gets its own attempts
        spdlog::warn(
            "CrowdSec reporter: gave up {} alert(s) after {} attempts: {}",
            batch.size(), kMaxAttempts, why);
      }
    } else {
      if (failures_in_row_ >= 1) {
        spdlog::info("CrowdSec reporter: the LAPI takes alerts again");
      }
      failures_in_row_ = 0;
      (result == SendResult::kSent ? sent_ : failed_) += batch.size();
    }
    if (done) {
      // The batch is still the queue's head: only this thread pops.
      queue_.erase(queue_.begin(),
                   queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    }
    return result;
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (token_.empty() || clock_() >= token_expires_ - kRenewEarly) {
      if (!Login()) return settle(SendResult::kRetry, "login failed");
    }
    const LapiAnswer a = post_("v1/alerts", json, token_);
    if (a.status == 401 && attempt == 0) {
      token_.clear();  // expired or revoked: log in again, once
      continue;
    }
    if (a.status >= 200 && a.status < 300) {
      return settle(SendResult::kSent, "");
    }
    if (a.status == 0 || a.status >= 500 || a.status == 401 ||
        a.status == 429) {
      return settle(
          SendResult::kRetry,
          a.status == 0 ? a.error : "HTTP " + std::to_string(a.status));
    }
    // Another 4xx: the LAPI refuses these alerts; sending them again
    // cannot help.
    std::string detail = a.body.substr(0, 200);
    spdlog::warn("CrowdSec reporter: the LAPI refused {} alert(s): HTTP {} {}",
                 batch.size(), a.status, detail);
    return settle(SendResult::kRejected, "");
  }
  return settle(SendResult::kRetry, "unauthorized");
}

void Reporter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Reporter::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    if (cancel_) cancel_();
    thread_.join();
  }
}

void Reporter::Run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
    }
    const SendResult r = SendOnce();
    if (r != SendResult::kRetry) continue;
    unsigned failures = 1;
    {
      std::lock_guard lock(mu_);
      failures = std::max(1U, failures_in_row_);
    }
    // 1 s, 2 s, 4 s ... at most 60 s between attempts while the LAPI is
    // down; new alerts wait in the queue meanwhile.
    const auto wait = std::chrono::seconds(
        std::min<int64_t>(60, int64_t{1} << std::min(failures - 1, 6U)));
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, wait, [this] { return stop_; })) {
      return;
    }
  }
}

std::vector<prometheus::MetricFamily> Reporter::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::lock_guard lock(mu_);
  auto alerts = MakeFamily(
      "synwatch_crowdsec_alerts_total",
      "Port-scan alerts for the CrowdSec LAPI, by result: sent, failed "
      "(refused by the LAPI, or given up after retries), dropped (the queue "
      "was full).",
      MetricType::Counter);
  AddSample(alerts, static_cast<double>(sent_), {{"result", "sent"}});
  AddSample(alerts, static_cast<double>(failed_), {{"result", "failed"}});
  AddSample(alerts, static_cast<double>(dropped_), {{"result", "dropped"}});
  out.push_back(std::move(alerts));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_alerts_queued",
      "Port-scan alerts waiting to be sent to the LAPI.", MetricType::Gauge,
      static_cast<double>(queue_.size())));
  auto logins =
      MakeFamily("synwatch_crowdsec_logins_total",
                 "Watcher logins to the LAPI, by result.", MetricType::Counter);
  AddSample(logins, static_cast<double>(logins_ok_), {{"result", "ok"}});
  AddSample(logins, static_cast<double>(logins_failed_),
            {{"result", "failed"}});
  out.push_back(std::move(logins));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_alert_request_failures_total",
      "Alert POSTs that failed and will be retried (transport error, 5xx, "
      "failed login).",
      MetricType::Counter, static_cast<double>(requests_failed_)));
  return out;
}

}  // namespace synwatch
