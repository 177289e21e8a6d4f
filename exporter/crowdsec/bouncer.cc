// SPDX-License-Identifier: Apache-2.0
#include "crowdsec/bouncer.h"

#include <bpf/bpf.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <set>

#include "base/abi.h"
#include "metrics/family.h"

namespace synwatch {
namespace {

constexpr uint32_t kKeyHeaderBits = 32;  // family and pad of sw_decision_key

sw_decision_key KeyOf(const Cidr& prefix) {
  sw_decision_key key{};
  key.prefixlen = kKeyHeaderBits + prefix.prefix_len;
  key.family = static_cast<uint8_t>(prefix.family);
  std::memcpy(key.addr, prefix.addr.data(), sizeof(key.addr));
  return key;
}

std::string_view ResultName(PollResult r) {
  switch (r) {
    case PollResult::kOk:
      return "ok";
    case PollResult::kTransportError:
      return "transport_error";
    case PollResult::kHttpError:
      return "http_error";
    case PollResult::kBadAnswer:
      return "bad_answer";
  }
  return "unknown";
}

double UnixNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

namespace {

std::vector<std::string> ReadOriginNames(int names_fd) {
  std::vector<std::string> names;
  for (uint32_t slot = 0; slot < SW_ORIGIN_SLOTS; ++slot) {
    sw_origin_name n{};
    if (bpf_map_lookup_elem(names_fd, &slot, &n) != 0) n = {};
    names.emplace_back(n.name, strnlen(n.name, sizeof(n.name)));
  }
  return names;
}

}  // namespace

namespace {

bool IsHost(const Cidr& prefix) {
  return prefix.prefix_len == MaxPrefixLen(prefix.family);
}

sw_decision_host HostKeyOf(const Cidr& host) {
  sw_decision_host key{};
  key.family = static_cast<uint8_t>(host.family);
  std::memcpy(key.addr, host.addr.data(), sizeof(key.addr));
  return key;
}

std::optional<Cidr> CidrOf(uint8_t family, uint32_t prefix_len,
                           const uint8_t (&addr)[16]) {
  if (family != SW_FAMILY_IPV4 && family != SW_FAMILY_IPV6) return {};
  Cidr c;
  c.family = family == SW_FAMILY_IPV4 ? Family::kIpv4 : Family::kIpv6;
  c.prefix_len = static_cast<uint8_t>(prefix_len);
  std::memcpy(c.addr.data(), addr, sizeof(addr));
  return c;
}

template <typename Key>
std::vector<Key> Keys(int fd) {
  std::vector<Key> out;
  Key key{};
  Key next{};
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

}  // namespace

DecisionMaps::DecisionMaps(const DecisionMapFds& fds)
    : fds_(fds), epochs_(SW_VERDICT_SLOTS, 0) {
  for (uint32_t slot = 0; slot < SW_VERDICT_SLOTS; ++slot) {
    if (bpf_map_lookup_elem(fds_.epochs, &slot, &epochs_[slot]) != 0) {
      epochs_[slot] = 0;
    }
  }
  // What an earlier synwatch kept in the trie alone.
  uint64_t moved = 0;
  for (const sw_decision_key& key : Keys<sw_decision_key>(fds_.ranges)) {
    const std::optional<Cidr> prefix =
        CidrOf(key.family, key.prefixlen - kKeyHeaderBits, key.addr);
    sw_decision value{};
    if (!prefix || bpf_map_lookup_elem(fds_.ranges, &key, &value) != 0) {
      continue;
    }
    if (IsHost(*prefix)) {
      if (Write(*prefix, value) &&
          bpf_map_delete_elem(fds_.ranges, &key) == 0) {
        ++moved;
      }
    } else if (value.prefix_len != prefix->prefix_len) {
      Write(*prefix, value);
    }
  }
  if (!Commit()) {
    spdlog::warn("CrowdSec: cannot raise the decision epochs: {}",
                 std::strerror(errno));
  }
  if (moved != 0) {
    spdlog::info(
        "CrowdSec: moved {} single-address decision(s) an earlier synwatch "
        "kept in the range trie to the address table",
        moved);
  }
}

uint32_t DecisionMaps::EpochSlot(const Cidr& host) {
  uint32_t w[4];
  std::memcpy(w, host.addr.data(), sizeof(w));
  return sw_verdict_hash(w[0], w[1], w[2], w[3]);
}

void DecisionMaps::Touch(const Cidr& prefix) {
  if (IsHost(prefix)) {
    dirty_.push_back(EpochSlot(prefix));
  } else {
    all_dirty_ = true;
  }
}

bool DecisionMaps::Write(const Cidr& prefix, sw_decision value) {
  value.prefix_len = prefix.prefix_len;
  int err = 0;
  if (IsHost(prefix)) {
    const sw_decision_host key = HostKeyOf(prefix);
    err = bpf_map_update_elem(fds_.hosts, &key, &value, BPF_ANY);
  } else {
    const sw_decision_key key = KeyOf(prefix);
    err = bpf_map_update_elem(fds_.ranges, &key, &value, BPF_ANY);
  }
  if (err != 0) return false;
  Touch(prefix);
  return true;
}

bool DecisionMaps::Erase(const Cidr& prefix) {
  int err = 0;
  if (IsHost(prefix)) {
    const sw_decision_host key = HostKeyOf(prefix);
    err = bpf_map_delete_elem(fds_.hosts, &key);
  } else {
    const sw_decision_key key = KeyOf(prefix);
    err = bpf_map_delete_elem(fds_.ranges, &key);
  }
  if (err != 0) return errno == ENOENT;
  Touch(prefix);
  return true;
}

std::vector<Cidr> DecisionMaps::List() const {
  std::vector<Cidr> out;
  for (const sw_decision_key& key : Keys<sw_decision_key>(fds_.ranges)) {
    if (auto c = CidrOf(key.family, key.prefixlen - kKeyHeaderBits, key.addr)) {
      out.push_back(*c);
    }
  }
  for (const sw_decision_host& key : Keys<sw_decision_host>(fds_.hosts)) {
    if (auto c = CidrOf(key.family, 0, key.addr)) {
      c->prefix_len = MaxPrefixLen(c->family);
      out.push_back(*c);
    }
  }
  return out;
}

bool DecisionMaps::Commit() {
  // After the writes: an answer the program finds under a raised epoch
  // reads the maps as written (decision_bans() in bpf/synwatch.bpf.c).
  bool ok = true;
  if (all_dirty_) {
    std::vector<uint32_t> keys(SW_VERDICT_SLOTS);
    for (uint32_t slot = 0; slot < SW_VERDICT_SLOTS; ++slot) {
      keys[slot] = slot;
      ++epochs_[slot];
    }
    uint32_t count = SW_VERDICT_SLOTS;
    if (bpf_map_update_batch(fds_.epochs, keys.data(), epochs_.data(), &count,
                             nullptr) != 0) {
      for (uint32_t slot = 0; slot < SW_VERDICT_SLOTS; ++slot) {
        ok = bpf_map_update_elem(fds_.epochs, &slot, &epochs_[slot], BPF_ANY) ==
                 0 &&
             ok;
      }
    }
  } else {
    std::sort(dirty_.begin(), dirty_.end());
    dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
    for (const uint32_t slot : dirty_) {
      ++epochs_[slot];
      ok = bpf_map_update_elem(fds_.epochs, &slot, &epochs_[slot], BPF_ANY) ==
               0 &&
           ok;
    }
  }
  dirty_.clear();
  all_dirty_ = false;
  return ok;
}

KernelDecisionTable::KernelDecisionTable(const DecisionMapFds& fds)
    : maps_(fds), names_fd_(fds.names), origins_(ReadOriginNames(fds.names)) {}

bool KernelDecisionTable::Write(const Cidr& prefix, uint64_t expires_ns,
                                const std::string& origin) {
  bool added = false;
  const uint32_t slot = origins_.Slot(origin, &added);
  if (added) {
    // The name before the first entry that counts under it.
    const sw_origin_name name = OriginName(origin);
    if (bpf_map_update_elem(names_fd_, &slot, &name, BPF_ANY) != 0) {
      return false;
    }
  }
  sw_decision value{};
  value.expires_ns = expires_ns;
  value.origin = slot;
  return maps_.Write(prefix, value);
}

bool KernelDecisionTable::Erase(const Cidr& prefix) {
  return maps_.Erase(prefix);
}

std::vector<Cidr> KernelDecisionTable::List() const { return maps_.List(); }

bool KernelDecisionTable::Commit() { return maps_.Commit(); }

uint64_t Bouncer::MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<uint64_t>(ts.tv_nsec);
}

Bouncer::Bouncer(const CrowdsecConfig& config, Fetch fetch,
                 DecisionTable* table, Clock clock,
                 std::function<void()> cancel)
    : config_(config),
      filter_{config.origins, config.scopes},
      fetch_(std::move(fetch)),
      table_(table),
      clock_(std::move(clock)),
      cancel_(std::move(cancel)) {
  // Entries a previous synwatch left pinned keep being enforced until the
  // first full answer says which of them still hold.
  inherited_ = table_->List();
}

Bouncer::~Bouncer() { Stop(); }

PollResult Bouncer::PollOnce() {
  bool startup = false;
  bool resync = false;  // a periodic full answer, not the first one
  {
    std::lock_guard lock(mu_);
    resync = synced_ && config_.resync_interval.count() > 0 &&
             clock_() - last_full_ns_ >=
                 static_cast<uint64_t>(config_.resync_interval.count());
    startup = !synced_ || resync;
  }
  LapiAnswer answer = fetch_(startup);
  std::lock_guard lock(mu_);
  auto fail = [this](PollResult r, const std::string& why) {
    ++polls_[r];
    // Once per run of failures at warn, then at debug: a LAPI down for an
    // hour is one line, not 360.
    if (failures_in_row_++ == 0) {
      spdlog::warn("CrowdSec: {} (decisions in force stay enforced)", why);
    } else {
      spdlog::debug("CrowdSec: {}", why);
    }
    return r;
  };
  if (!answer.error.empty()) {
    return fail(PollResult::kTransportError,
                "decision stream request failed: " + answer.error);
  }
  if (answer.status != 200) {
    std::string why = "LAPI answered HTTP " + std::to_string(answer.status);
    if (answer.status == 401 || answer.status == 403) {
      why += " (check the bouncer's API key or certificate)";
    }
    return fail(PollResult::kHttpError, why);
  }
  StreamDelta delta;
  std::string record_error;
  try {
    delta = ParseStream(answer.body, filter_, &record_error);
  } catch (const std::exception& e) {
    return fail(PollResult::kBadAnswer,
                std::string("decision stream answer is ") + e.what());
  }
  if (delta.malformed != 0) {
    spdlog::warn("CrowdSec: skipped {} unreadable decision(s), first: {}",
                 delta.malformed, record_error);
  }
  ignored_ += delta.ignored;
  malformed_ += delta.malformed;

  std::set<Cidr> before;
  if (resync) {
    for (const auto& entry : store_.kernel()) before.insert(entry.first);
  }
  const std::vector<KernelChange> changes =
      store_.Apply(delta, clock_(), startup);
  uint64_t added = 0;
  uint64_t removed = 0;
  if (resync) {
    for (const KernelChange& c : changes) {
      if (!c.expires_ns) {
        ++removed;
      } else if (before.count(c.prefix) == 0) {
        ++added;
      }
    }
    resync_added_ += added;
    resync_removed_ += removed;
  }
  uint64_t failed = 0;
  for (const KernelChange& c : changes) {
    const bool ok = c.expires_ns
                        ? table_->Write(c.prefix, *c.expires_ns, c.origin)
                        : table_->Erase(c.prefix);
    if (!ok && failed++ == 0) {
      spdlog::warn("CrowdSec: {} {} in the kernel's table: {}",
                   c.expires_ns ? "cannot write" : "cannot delete",
                   FormatCidr(c.prefix), std::strerror(errno));
    }
  }
  if (startup) {
    // The full set is in: what was inherited and is not in it goes.
    for (const Cidr& p : inherited_) {
      if (store_.kernel().count(p) == 0) table_->Erase(p);
    }
    inherited_.clear();
  }
  if (!table_->Commit() && failed++ == 0) {
    spdlog::warn(
        "CrowdSec: cannot end the answers the kernel keeps for the sources "
        "of changed decisions: {}",
        std::strerror(errno));
  }
  write_failures_ += failed;
  if (startup) {
    // A full answer is large (100,000 decisions: 16 MB of JSON, several
    // times that as a parsed document); glibc keeps what it freed, which
    // held the exporter's RSS at the peak (tests/bench/README.md, 5).
    answer.body.clear();
    answer.body.shrink_to_fit();
    delta = StreamDelta{};
    malloc_trim(0);
    synced_ = true;
    last_full_ns_ = clock_();
    spdlog::info("CrowdSec: {} decision(s) on {} prefix(es) in force{}",
                 store_.decisions(), store_.kernel().size(),
                 resync ? " (periodic full answer)" : "");
    if (added != 0 || removed != 0) {
      spdlog::warn(
          "CrowdSec: the full answer added {} prefix(es) the decision stream "
          "had not brought and removed {} it had not taken away",
          added, removed);
    }
  } else if (!delta.added.empty() || !delta.deleted.empty()) {
    spdlog::debug("CrowdSec: +{} -{} decision(s), {} in force",
                  delta.added.size(), delta.deleted.size(), store_.decisions());
  }
  if (failures_in_row_ != 0) {
    spdlog::info("CrowdSec: decision stream back after {} failed poll(s)",
                 failures_in_row_);
  }
  failures_in_row_ = 0;
  ++polls_[PollResult::kOk];
  last_success_ = UnixNow();
  return PollResult::kOk;
}

void Bouncer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Bouncer::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) {
    if (cancel_) cancel_();
    thread_.join();
  }
}

void Bouncer::Run() {
  std::mt19937_64 rng(std::random_device{}());
  const auto interval = config_.update_interval;
  // Up to a tenth of the interval at random, so hosts started together
  // spread their polls.
  std::uniform_int_distribution<int64_t> jitter(0, interval.count() / 10);
  std::chrono::nanoseconds wait{0};
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, wait, [this] { return stop_; })) return;
    }
    const bool ok = PollOnce() == PollResult::kOk;
    unsigned failures = 0;
    {
      std::lock_guard lock(mu_);
      failures = failures_in_row_;
    }
    // Errors back off: doubling up to 32 intervals (5 min at 10 s).
    const unsigned shift = ok ? 0 : std::min(failures, 5U);
    wait = interval * (1LL << shift) + std::chrono::nanoseconds(jitter(rng));
  }
}

StatusExtra Bouncer::Status() const {
  std::lock_guard lock(mu_);
  const uint64_t bans = store_.decisions();
  const uint64_t prefixes = store_.kernel().size();
  std::string poll = "never succeeded since start";
  if (last_success_ > 0) {
    const double ago = std::max(0.0, UnixNow() - last_success_);
    poll = "last good poll " + std::to_string(static_cast<uint64_t>(ago)) +
           " s ago";
  }
  const auto count = [](uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  StatusExtra extra;
  extra.rules.emplace_back(
      "CrowdSec bans", count(bans, "decision", "decisions") + " on " +
                           count(prefixes, "prefix", "prefixes") + " from " +
                           config_.lapi_url + " (" + poll + ")");
  extra.tables.push_back(
      {"CrowdSec decisions", prefixes, uint64_t{config_.max_decisions}});
  return extra;
}

std::vector<prometheus::MetricFamily> Bouncer::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::lock_guard lock(mu_);
  auto decisions = MakeFamily(
      "synwatch_crowdsec_decisions",
      "CrowdSec ban decisions in force, by origin, scope and family.",
      MetricType::Gauge);
  for (const auto& [key, n] : store_.Counts()) {
    const auto& [origin, scope, family] = key;
    AddSample(decisions, static_cast<double>(n),
              {{"origin", origin}, {"scope", scope}, {"family", family}});
  }
  out.push_back(std::move(decisions));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_prefixes",
      "Prefixes in the kernel's decision table (several decisions on one "
      "prefix are one entry).",
      MetricType::Gauge, static_cast<double>(store_.kernel().size())));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_prefixes_capacity",
      "Size of the kernel's decision table (crowdsec.max_decisions).",
      MetricType::Gauge, static_cast<double>(config_.max_decisions)));
  auto polls = MakeFamily("synwatch_crowdsec_polls_total",
                          "Decision stream requests to the LAPI, by result.",
                          MetricType::Counter);
  for (PollResult r : {PollResult::kOk, PollResult::kTransportError,
                       PollResult::kHttpError, PollResult::kBadAnswer}) {
    auto it = polls_.find(r);
    AddSample(polls, it == polls_.end() ? 0.0 : static_cast<double>(it->second),
              {{"result", std::string(ResultName(r))}});
  }
  out.push_back(std::move(polls));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_last_success_timestamp_seconds",
      "When the last decision stream request succeeded (0: never).",
      MetricType::Gauge, last_success_));
  auto corrections = MakeFamily(
      "synwatch_crowdsec_resync_corrections_total",
      "Prefixes a periodic full answer (crowdsec.resync_interval) changed: "
      "added, missed by the decision stream; removed, kept by it too long.",
      MetricType::Counter);
  AddSample(corrections, static_cast<double>(resync_added_),
            {{"change", "added"}});
  AddSample(corrections, static_cast<double>(resync_removed_),
            {{"change", "removed"}});
  out.push_back(std::move(corrections));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_decisions_ignored_total",
      "Decisions left alone: not a ban, or a scope or origin not enforced.",
      MetricType::Counter, static_cast<double>(ignored_)));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_decisions_malformed_total",
      "Decision records that could not be read (bad value, prefix with host "
      "bits set, IPv4-mapped IPv6, bad duration).",
      MetricType::Counter, static_cast<double>(malformed_)));
  out.push_back(SingleSampleFamily(
      "synwatch_crowdsec_table_write_failures_total",
      "Writes to the kernel's decision table that failed (full: raise "
      "crowdsec.max_decisions).",
      MetricType::Counter, static_cast<double>(write_failures_)));
  return out;
}

}  // namespace synwatch
