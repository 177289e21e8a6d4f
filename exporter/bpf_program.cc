// SPDX-License-Identifier: Apache-2.0
#include "bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "rules.h"
#include "synwatch.skel.h"

namespace synwatch {
namespace {

std::string ErrnoText(int err) {
  std::string text = std::strerror(err);
  if (err == EPERM) {
    text += " (synwatch needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, or root)";
  }
  return text;
}

[[noreturn]] void Fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + ErrnoText(err));
}

uint32_t XdpFlags(AttachedMode mode) {
  return mode == AttachedMode::kNative ? XDP_FLAGS_DRV_MODE
                                       : XDP_FLAGS_SKB_MODE;
}

}  // namespace

std::string_view ToString(AttachedMode mode) {
  return mode == AttachedMode::kNative ? "native" : "generic";
}

Policy PolicyFromConfig(const Config& config) {
  return Policy{config.rules, config.peers, config.port_scan, config.log};
}

sw_params ParamsFromPolicy(const Policy& policy) {
  sw_params p{};
  p.default_drop = policy.rules.default_action == Action::kDrop ? 1 : 0;
  p.dry_run = policy.rules.dry_run ? 1 : 0;
  p.ipv4_prefix_len = policy.peers.ipv4_prefix_length;
  p.ipv6_prefix_len = policy.peers.ipv6_prefix_length;
  p.scan_enabled = policy.port_scan.enabled ? 1 : 0;
  p.scan_max_ports = policy.port_scan.max_ports;
  p.scan_window_ns = static_cast<uint64_t>(policy.port_scan.window.count());
  p.block_ns = static_cast<uint64_t>(policy.port_scan.block_duration.count());
  p.log_connections = policy.log.connections ? 1 : 0;
  p.connections_per_second = policy.log.connections_per_second;
  return p;
}

void BpfProgram::SkelDeleter::operator()(::synwatch_bpf* skel) const {
  synwatch_bpf__destroy(skel);
}

MapSizes MapSizesFromConfig(const Config& config) {
  return MapSizes{config.peers.max_entries, config.port_scan.max_tracked_peers,
                  config.port_scan.max_blocked_peers};
}

BpfProgram::BpfProgram(const MapSizes& sizes) : sizes_(sizes) {
  skel_.reset(synwatch_bpf__open());
  if (!skel_) Fail("open XDP program", errno);
  const std::pair<bpf_map*, uint32_t> sized[] = {
      {skel_->maps.peers, sizes.peers},
      {skel_->maps.scan_track, sizes.scan_track},
      {skel_->maps.blocked, sizes.blocked},
  };
  for (const auto& [map, entries] : sized) {
    if (bpf_map__set_max_entries(map, entries) != 0) {
      Fail(std::string("size map ") + bpf_map__name(map) + " to " +
               std::to_string(entries) + " entries",
           errno);
    }
  }
  if (synwatch_bpf__load(skel_.get()) != 0) Fail("load XDP program", errno);

  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd(), &info, &len) == 0) prog_id_ = info.id;

  config_.abi_version = SW_ABI_VERSION;
  WriteConfig();
}

BpfProgram::~BpfProgram() {
  // Links first: the program must not outlive its maps on an interface.
  for (auto& [ifindex, link] : links_) close(link.fd);
  links_.clear();
}

int BpfProgram::prog_fd() const {
  return bpf_program__fd(skel_->progs.xdp_synwatch);
}
int BpfProgram::if_stats_fd() const {
  return bpf_map__fd(skel_->maps.if_stats);
}
int BpfProgram::peers_fd() const { return bpf_map__fd(skel_->maps.peers); }
int BpfProgram::config_fd() const { return bpf_map__fd(skel_->maps.config); }
int BpfProgram::rules_fd() const { return bpf_map__fd(skel_->maps.rules); }
int BpfProgram::scan_track_fd() const {
  return bpf_map__fd(skel_->maps.scan_track);
}
int BpfProgram::blocked_fd() const { return bpf_map__fd(skel_->maps.blocked); }
int BpfProgram::events_fd() const { return bpf_map__fd(skel_->maps.events); }

void BpfProgram::WriteConfig() {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(config_fd(), &zero, &config_, BPF_ANY) != 0) {
    Fail("write config map", errno);
  }
}

void BpfProgram::ApplyPolicy(const Policy& policy) {
  const uint32_t old_gen = config_.gen;
  const uint32_t new_gen = policy_applied_ ? old_gen ^ 1U : old_gen;
  const int fd = rules_fd();

  // Entries of the generation we are about to fill may be left over from a
  // failed earlier attempt: start it from empty.
  auto delete_generation = [fd](uint32_t gen) {
    sw_rule_key key{};
    sw_rule_key next{};
    std::vector<sw_rule_key> doomed;
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      if (next.gen == gen) doomed.push_back(next);
      key = next;
      prev = &key;
    }
    for (const auto& k : doomed) bpf_map_delete_elem(fd, &k);
  };
  if (policy_applied_) delete_generation(new_gen);

  for (const RuleEntry& e :
       BuildRuleEntries(policy.rules.allow, policy.rules.deny,
                        static_cast<uint8_t>(new_gen))) {
    if (bpf_map_update_elem(fd, &e.key, &e.value, BPF_ANY) != 0) {
      const int err = errno;
      delete_generation(new_gen);
      Fail("write rule " +
               std::to_string(e.key.prefixlen - kRuleKeyHeaderBits) +
               "-bit prefix",
           err);
    }
  }

  sw_config next = config_;
  next.params[new_gen] = ParamsFromPolicy(policy);
  // Write the inactive half first, then flip: a SYN sees either the old
  // rules and knobs or the new ones, never a mix.
  next.gen = old_gen;
  const uint32_t zero = 0;
  if (bpf_map_update_elem(config_fd(), &zero, &next, BPF_ANY) != 0) {
    Fail("write config map", errno);
  }
  next.gen = new_gen;
  if (bpf_map_update_elem(config_fd(), &zero, &next, BPF_ANY) != 0) {
    Fail("write config map", errno);
  }
  config_ = next;
  if (policy_applied_ && new_gen != old_gen) delete_generation(old_gen);
  policy_applied_ = true;
}

AttachedMode BpfProgram::Attach(const std::string& name, uint32_t ifindex,
                                XdpMode mode) {
  const std::string where =
      "attach XDP to " + name + " (ifindex " + std::to_string(ifindex) + ")";
  if (links_.contains(ifindex)) return links_.at(ifindex).mode;

  bpf_xdp_query_opts query{};
  query.sz = sizeof(query);
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &query) == 0 &&
      query.attach_mode != XDP_ATTACHED_NONE) {
    const uint32_t other = query.prog_id       ? query.prog_id
                           : query.drv_prog_id ? query.drv_prog_id
                           : query.skb_prog_id ? query.skb_prog_id
                                               : query.hw_prog_id;
    throw std::runtime_error(
        where + ": another XDP program (id " + std::to_string(other) +
        ") is attached; synwatch does not replace it (detach it first, e.g. "
        "`ip link set dev " +
        name + " xdp off`)");
  }

  // Slot before link: the first packet through the link already counts
  // under this interface.
  sw_config next = config_;
  if (PlaceIfindex(next, ifindex) < 0) {
    throw std::runtime_error(where + ": interface slot table full");
  }
  const uint32_t zero = 0;
  if (bpf_map_update_elem(config_fd(), &zero, &next, BPF_ANY) != 0) {
    Fail(where + ": write config map", errno);
  }
  config_ = next;

  std::vector<AttachedMode> tries;
  if (mode != XdpMode::kGeneric) tries.push_back(AttachedMode::kNative);
  if (mode != XdpMode::kNative) tries.push_back(AttachedMode::kGeneric);
  int err = 0;
  for (AttachedMode m : tries) {
    bpf_link_create_opts opts{};
    opts.sz = sizeof(opts);
    opts.flags = XdpFlags(m);
    const int fd =
        bpf_link_create(prog_fd(), static_cast<int>(ifindex), BPF_XDP, &opts);
    if (fd >= 0) {
      links_[ifindex] = Link{fd, m};
      return m;
    }
    err = errno;
    // EBUSY/EEXIST: someone attached between the query and now; never
    // fall through to another mode on top of them.
    if (err == EBUSY || err == EEXIST || err == EPERM) break;
    spdlog::debug("{} in {} mode: {}", where, ToString(m), std::strerror(err));
  }
  RemoveIfindex(config_, ifindex);
  bpf_map_update_elem(config_fd(), &zero, &config_, BPF_ANY);
  Fail(where + (mode == XdpMode::kAuto
                    ? ""
                    : std::string(" in ") +
                          std::string(ToString(tries.front())) + " mode"),
       err);
}

void BpfProgram::Detach(uint32_t ifindex) {
  auto it = links_.find(ifindex);
  if (it == links_.end()) return;
  close(it->second.fd);
  links_.erase(it);
  // The slot stays registered: its totals are exact and never evicted, and
  // the same interface coming back continues them.
}

bool BpfProgram::IsAttached(uint32_t ifindex) const {
  return links_.contains(ifindex);
}

}  // namespace synwatch
