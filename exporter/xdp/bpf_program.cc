// SPDX-License-Identifier: Apache-2.0
#include "xdp/bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "synwatch.skel.h"
#include "xdp/privileges.h"
#include "xdp/rules.h"

namespace synwatch {
namespace {

[[noreturn]] void Fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + ErrnoText(err));
}

// The name of synwatch's program (its function), as libxdp reports it.
constexpr char kProgramName[] = "xdp_synwatch";

// How long a hand-over waits between setting "handover" and moving
// "active" (BpfProgram::Activate says why).
constexpr std::chrono::milliseconds kHandoverGrace{50};

// libxdp returns errors as negative numbers, or in a pointer.
std::string LibxdpText(int err) {
  char buf[128] = "";
  libxdp_strerror(err, buf, sizeof(buf));
  return buf;
}

[[noreturn]] void FailXdp(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + LibxdpText(err));
}

struct MultiprogDeleter {
  void operator()(xdp_multiprog* mp) const { xdp_multiprog__close(mp); }
};
using MultiprogPtr = std::unique_ptr<xdp_multiprog, MultiprogDeleter>;

// The dispatcher (or the one legacy program) on ifindex; null when the
// interface has no XDP program. Throws on any other error.
MultiprogPtr MultiprogOf(const std::string& where, uint32_t ifindex) {
  xdp_multiprog* mp =
      xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex));
  const long err = libxdp_get_error(mp);
  if (err == -ENOENT || (err == 0 && mp == nullptr)) return nullptr;
  if (err != 0) {
    FailXdp(where + ": read the interface's XDP programs",
            static_cast<int>(err));
  }
  return MultiprogPtr(mp);
}

std::string IfName(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = "";
  return if_indextoname(ifindex, buf) ? buf
                                      : "ifindex" + std::to_string(ifindex);
}

// For the lifetime of the scope, the capabilities libxdp needs (see
// privileges.h) in the calling thread. Every call into libxdp that reads or
// changes a dispatcher runs inside one; between them synwatch runs without.
ScopedCapabilities LibxdpScope() {
  return ScopedCapabilities(LibxdpCapabilities(XdpAttach::kDispatcher));
}

// Detaches the program with id from the dispatcher on ifindex.
int DetachById(uint32_t ifindex, uint32_t id) {
  const ScopedCapabilities caps = LibxdpScope();
  xdp_program* prog = xdp_program__from_id(id);
  if (const long err = libxdp_get_error(prog); err != 0 || prog == nullptr) {
    return err != 0 ? static_cast<int>(err) : -ENOENT;
  }
  const int err =
      xdp_program__detach(prog, static_cast<int>(ifindex), XDP_MODE_UNSPEC, 0);
  xdp_program__close(prog);
  return err;
}

bool ModeAllowed(XdpMode wanted, AttachedMode m) {
  return wanted == XdpMode::kAuto ||
         (wanted == XdpMode::kNative) == (m == AttachedMode::kNative);
}

uint32_t XdpFlags(AttachedMode mode) {
  return mode == AttachedMode::kNative ? XDP_FLAGS_DRV_MODE
                                       : XDP_FLAGS_SKB_MODE;
}

}  // namespace

std::string MissingKernelFeatures() {
  struct Helper {
    bpf_func_id id;
    const char* name;
    const char* since;  // the Linux release that added it for XDP
  };
  static constexpr Helper kHelpers[] = {
      {BPF_FUNC_ringbuf_reserve, "bpf_ringbuf_reserve", "5.8"},
      {BPF_FUNC_ktime_get_coarse_ns, "bpf_ktime_get_coarse_ns", "5.11"},
      {BPF_FUNC_loop, "bpf_loop", "5.17"},
      {BPF_FUNC_xdp_load_bytes, "bpf_xdp_load_bytes", "5.18"},
  };
  std::string missing;
  const auto add = [&missing](const std::string& what) {
    missing += (missing.empty() ? "" : ", ") + what;
  };
  const int ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  if (ringbuf < 0) return "";  // cannot probe: the load says why
  if (ringbuf == 0) add("the BPF ring buffer map (Linux 5.8)");
  for (const Helper& h : kHelpers) {
    const int ok = libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, h.id, nullptr);
    if (ok < 0) return "";
    if (ok == 0) {
      add(std::string("the BPF helper ") + h.name + " (Linux " + h.since + ")");
    }
  }
  if (missing.empty()) return "";
  utsname uts{};
  const std::string release = uname(&uts) == 0 ? uts.release : "unknown";
  return "this kernel (" + release + ") lacks " + missing +
         ", which synwatch's XDP program needs: synwatch needs Linux 5.18 or "
         "later";
}

std::string_view ToString(AttachedMode mode) {
  return mode == AttachedMode::kNative ? "native" : "generic";
}

Policy PolicyFromConfig(const Config& config) {
  return Policy{config.rules, config.peers, config.port_scan, config.log,
                config.crowdsec.enabled};
}

static_assert(PeersConfig{}.flood_new_peers_per_second ==
              SW_DEFAULT_FLOOD_NEW_PEERS);

sw_params ParamsFromPolicy(const Policy& policy) {
  sw_params p{};
  p.default_drop = policy.rules.default_action == Action::kDrop ? 1 : 0;
  p.dry_run = policy.rules.dry_run ? 1 : 0;
  p.ipv4_prefix_len = policy.peers.ipv4_prefix_length;
  p.ipv6_prefix_len = policy.peers.ipv6_prefix_length;
  p.flood_new_peers = policy.peers.flood_new_peers_per_second;
  p.scan_enabled = policy.port_scan.enabled ? 1 : 0;
  p.scan_max_ports = policy.port_scan.max_ports;
  p.scan_window_ns = static_cast<uint64_t>(policy.port_scan.window.count());
  p.block_ns = static_cast<uint64_t>(policy.port_scan.block_duration.count());
  p.log_connections = policy.log.connections ? 1 : 0;
  p.connections_per_second = policy.log.connections_per_second;
  p.decisions = policy.decisions ? 1 : 0;
  return p;
}

void BpfProgram::SkelDeleter::operator()(::synwatch_bpf* skel) const {
  synwatch_bpf__destroy(skel);
}

void BpfProgram::XdpProgramDeleter::operator()(::xdp_program* prog) const {
  xdp_program__close(prog);
}

MapSizes MapSizesFromConfig(const Config& config) {
  return MapSizes{config.peers.max_entries, config.port_scan.max_tracked_peers,
                  config.port_scan.max_blocked_peers,
                  config.crowdsec.max_decisions};
}

BpfProgram::BpfProgram(const MapSizes& sizes, PinDir pins)
    : pins_(std::move(pins)), sizes_(sizes) {
  // Before anything is loaded: on an older kernel the verifier would reject
  // the program with a log of hundreds of lines and "Invalid argument".
  if (const std::string missing = MissingKernelFeatures(); !missing.empty()) {
    throw std::runtime_error("load XDP program: " + missing);
  }
  skel_.reset(synwatch_bpf__open());
  if (!skel_) Fail("open XDP program", errno);
  const std::pair<bpf_map*, uint32_t> sized[] = {
      {skel_->maps.peers, sizes.peers},
      {skel_->maps.scan_track, sizes.scan_track},
      {skel_->maps.blocked, sizes.blocked},
      {skel_->maps.decisions, sizes.decisions},
      {skel_->maps.decision_hosts, sizes.decisions},
  };
  for (const auto& [map, entries] : sized) {
    if (bpf_map__set_max_entries(map, entries) != 0) {
      Fail(std::string("size map ") + bpf_map__name(map) + " to " +
               std::to_string(entries) + " entries",
           errno);
    }
  }
  if (pins_.enabled()) ReusePinnedMaps();
  if (synwatch_bpf__load(skel_.get()) != 0) Fail("load XDP program", errno);

  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd(), &info, &len) == 0) prog_id_ = info.id;

  if (continued_) {
    // The config of the earlier synwatch: its interface slots (so each
    // interface continues its own totals) and the generation in force (the
    // first ApplyPolicy fills the other one and flips, as a reload does).
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(config_fd(), &zero, &config_) != 0) {
      Fail("read pinned config map", errno);
    }
    policy_applied_ = true;
  } else {
    config_.abi_version = SW_ABI_VERSION;
    WriteConfig();
  }
  if (pins_.enabled()) PinMaps();
}

namespace {

MapShape WantedShape(const bpf_map* map) {
  return MapShape{static_cast<uint32_t>(bpf_map__type(map)),
                  bpf_map__key_size(map), bpf_map__value_size(map),
                  bpf_map__max_entries(map), bpf_map__map_flags(map)};
}

// Maps whose contents user space never needs again: the verdict caches
// (the rules and the block table are the truth) and their decision
// epochs, per-CPU scratch and rate-limit state, and the hand-over word and
// notes (used only during a hand-over). One pinned in another layout is
// replaced, empty, and the rest of the pinned state is still reused.
bool Disposable(std::string_view name) {
  return name == "verdicts" || name == "verdict_blocks" ||
         name == "decision_epochs" || name == "scan_scratch" ||
         name == "conn_rate" || name == "flood" || name == "handover" ||
         name == "handover_note";
}

MapShape PinnedShape(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return {};
  return MapShape{info.type, info.key_size, info.value_size, info.max_entries,
                  info.map_flags};
}

}  // namespace

void BpfProgram::ReusePinnedMaps() {
  std::string incompatible;  // why the pinned state cannot be reused
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;  // .rodata: each copy its own
    const std::string name = bpf_map__name(map);
    const std::string path = pins_.MapPath(name);
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (!fd.valid()) {
      if (errno == ENOENT) continue;
      Fail("open pinned map " + path, errno);
    }
    PinnedMap pinned;
    pinned.name = name;
    pinned.shape = PinnedShape(fd.get());
    pinned.fd = std::move(fd);
    const MapShape wanted = WantedShape(map);
    pinned.fit = CompareMaps(pinned.shape, wanted);
    if (pinned.fit == MapFit::kIncompatible && Disposable(name)) {
      spdlog::info(
          "Pinned map {} is {}, this synwatch needs {}: it holds nothing "
          "that has to carry over, so a new one replaces it",
          name, Describe(pinned.shape), Describe(wanted));
    } else if (pinned.fit == MapFit::kIncompatible && incompatible.empty()) {
      incompatible = "map " + name + " is " + Describe(pinned.shape) +
                     ", this synwatch needs " + Describe(wanted);
    }
    if (map == skel_->maps.config && pinned.fit == MapFit::kSame) {
      sw_config old{};
      const uint32_t zero = 0;
      if (bpf_map_lookup_elem(pinned.fd.get(), &zero, &old) != 0) {
        Fail("read pinned map " + path, errno);
      }
      if (old.abi_version != SW_ABI_VERSION && incompatible.empty()) {
        incompatible = "layout version " + std::to_string(old.abi_version) +
                       ", this synwatch uses version " +
                       std::to_string(SW_ABI_VERSION);
      }
    }
    pinned_maps_.push_back(std::move(pinned));
  }
  if (pinned_maps_.empty()) return;

  if (!incompatible.empty()) {
    spdlog::warn(
        "Pinned state in {} does not match this synwatch ({}): replacing it; "
        "counters and port-scan blocks start from zero, pinned XDP links are "
        "switched to the new program without a gap",
        pins_.path(), incompatible);
    for (PinnedMap& p : pinned_maps_) p.fit = MapFit::kIncompatible;
    return;
  }
  bool reused_config = false;
  for (PinnedMap& p : pinned_maps_) {
    if (p.fit != MapFit::kSame) continue;
    bpf_map* target = bpf_object__find_map_by_name(skel_->obj, p.name.c_str());
    if (bpf_map__reuse_fd(target, p.fd.get()) != 0) {
      Fail("reuse pinned map " + pins_.MapPath(p.name), errno);
    }
    if (target == skel_->maps.config) reused_config = true;
  }
  continued_ = reused_config;
  spdlog::info(
      "Reusing pinned state in {} (layout version {}): counters and "
      "port-scan blocks continue",
      pins_.path(), SW_ABI_VERSION);
}

void BpfProgram::PinMaps() {
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;
    const std::string name = bpf_map__name(map);
    const std::string path = pins_.MapPath(name);
    PinnedMap* old = nullptr;
    for (PinnedMap& p : pinned_maps_) {
      if (p.name == name) old = &p;
    }
    if (old != nullptr && old->fit == MapFit::kSame) continue;  // reused
    if (old != nullptr && old->fit == MapFit::kResized &&
        old->shape.type != BPF_MAP_TYPE_RINGBUF) {
      const uint64_t copied =
          CopyMapEntries(old->fd.get(), bpf_map__fd(map), old->shape);
      spdlog::info(
          "Resized pinned map {} from {} to {} entries: {} entries carried "
          "over",
          name, old->shape.max_entries, bpf_map__max_entries(map), copied);
    }
    if (old != nullptr && unlink(path.c_str()) != 0 && errno != ENOENT) {
      Fail("unpin " + path, errno);
    }
    if (bpf_obj_pin(bpf_map__fd(map), path.c_str()) != 0) {
      Fail("pin map " + path, errno);
    }
  }
  pinned_maps_.clear();
  RaiseBlockHints();
}

// The program skips "blocked" for a peer whose hint has passed, so a block
// carried over must find its hint raised: hints pinned by a synwatch from
// before "block_hint" are missing, and those of one with another
// fingerprint sit in other slots. Each block's own slot is raised to its
// expiry (sw_scan_fingerprint is shared with the program), so the other
// slots keep skipping. Before any interface runs this program; a block that
// an earlier program still attached writes meanwhile is not covered, and
// holds again once the peer's next scan is detected.
void BpfProgram::RaiseBlockHints() {
  const int blocked = blocked_fd();
  const int hints = bpf_map__fd(skel_->maps.block_hint);
  const uint64_t now = MonotonicNs();
  uint64_t raised = 0;
  sw_scan_key key{};
  sw_scan_key next{};
  const sw_scan_key* prev = nullptr;
  while (bpf_map_get_next_key(blocked, prev, &next) == 0) {
    key = next;
    prev = &key;
    sw_block block{};
    // An ended block no longer blocks, hint or not.
    if (bpf_map_lookup_elem(blocked, &key, &block) != 0 ||
        block.expires_ns <= now) {
      continue;
    }
    const uint32_t slot = SW_BLOCK_HINT_SLOT(ScanFingerprint(key));
    uint64_t hint = 0;
    if (bpf_map_lookup_elem(hints, &slot, &hint) != 0) {
      Fail("read block hint", errno);
    }
    if (hint >= block.expires_ns) continue;
    if (bpf_map_update_elem(hints, &slot, &block.expires_ns, BPF_ANY) != 0) {
      Fail("raise block hint", errno);
    }
    ++raised;
  }
  if (raised > 0) {
    spdlog::info(
        "Carried-over port-scan blocks: raised the hints of {} to their "
        "expiry",
        raised);
  }
}

BpfProgram::~BpfProgram() {
  // Links first: the program must not outlive its maps on an interface.
  // libxdp pins a dispatcher's links itself: without pinning of ours, the
  // program is detached here, as a direct link ends with its fd.
  for (auto& [ifindex, link] : links_) {
    if (link.xdp && !pins_.enabled()) DetachFromDispatcher(ifindex, link);
    if (link.fd >= 0) close(link.fd);
  }
  links_.clear();
}

void BpfProgram::UseDispatcher(uint32_t run_priority) {
  attach_ = XdpAttach::kDispatcher;
  run_priority_ = run_priority;
  // Nonzero and unlike any earlier synwatch's: what the active map holds
  // while this process's programs are in charge.
  while (token_ == 0) {
    if (getrandom(&token_, sizeof(token_), 0) != sizeof(token_)) {
      Fail("draw the program token", errno);
    }
  }
}

void BpfProgram::SetHandover(uint64_t token) {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(handover_fd(), &zero, &token, BPF_ANY) != 0) {
    Fail("write the hand-over map", errno);
  }
}

void BpfProgram::Activate() {
  if (attach_ != XdpAttach::kDispatcher || activated_) return;
  const uint32_t zero = 0;
  const bool handed_over = !retired_.empty();
  if (handed_over) {
    // Earlier programs share the chains with ours: from here on, the first
    // synwatch program a packet meets passes its read of "active" on to
    // the next in a per-CPU note (token_in_charge() in the program), so
    // that both decide on one read. A packet whose first program read
    // "handover" before this store wrote no note: the wait lets every such
    // packet leave the chain before "active" changes. XDP runs a packet
    // through the whole chain in one go, in softirq with bottom halves
    // disabled (microseconds, less than a millisecond even in an emulated
    // guest): 50 ms is ample, and a restart pays it twice.
    SetHandover(token_);
    std::this_thread::sleep_for(kHandoverGrace);
  }
  if (bpf_map_update_elem(active_fd(), &zero, &token_, BPF_ANY) != 0) {
    const int err = errno;
    SetHandover(0);
    Fail("put the XDP programs in charge (active map)", err);
  }
  activated_ = true;
  for (const auto& [ifindex, ids] : retired_) {
    for (uint32_t id : ids) {
      const int err = DetachById(ifindex, id);
      if (err == 0) {
        spdlog::info(
            "Detached the earlier synwatch program (id {}) from ifindex {}: "
            "this one (id {}) counts from here on",
            id, ifindex, prog_id(ifindex));
      } else {
        spdlog::warn(
            "Could not detach the earlier synwatch program (id {}) from "
            "ifindex {}: {} (it passes every packet on)",
            id, ifindex, LibxdpText(err));
      }
    }
  }
  retired_.clear();
  // Always: also clears a word that a synwatch killed mid-hand-over left.
  // The same wait first: a packet that noted a read of "active" from
  // before the store leaves the chain before the note stops counting (the
  // program that reads it finds "handover" at 0 and reads "active").
  if (handed_over) std::this_thread::sleep_for(kHandoverGrace);
  SetHandover(0);
}

void BpfProgram::DetachFromDispatcher(uint32_t ifindex, Link& link) {
  const ScopedCapabilities caps = LibxdpScope();
  const int err = xdp_program__detach(link.xdp.get(), static_cast<int>(ifindex),
                                      XDP_MODE_UNSPEC, 0);
  if (err != 0 && err != -ENOENT && err != -ENODEV) {
    spdlog::warn("Detach XDP program (id {}) from ifindex {}: {}",
                 xdp_program__id(link.xdp.get()), ifindex, LibxdpText(err));
  }
}

AttachedMode BpfProgram::AttachToDispatcher(const std::string& where,
                                            uint32_t ifindex, XdpMode mode) {
  const ScopedCapabilities caps = LibxdpScope();
  std::optional<AttachedMode> current;
  std::vector<uint32_t> earlier;  // synwatch programs already there
  if (MultiprogPtr mp = MultiprogOf(where, ifindex)) {
    if (xdp_multiprog__is_legacy(mp.get())) {
      const xdp_program* main = xdp_multiprog__main_prog(mp.get());
      const std::string name = main ? xdp_program__name(main) : "?";
      const uint32_t id = main ? xdp_program__id(main) : 0;
      // stat(), not access(): access() checks with the real uid and drops
      // every capability for it, and the packaged service (user synwatch)
      // can search the real /sys/fs/bpf (mode 0700) only with the
      // CAP_DAC_OVERRIDE raised here.
      struct stat pin {};
      const bool ours = name == kProgramName && pins_.enabled() &&
                        stat(pins_.LinkPath(ifindex).c_str(), &pin) == 0;
      if (!ours) {
        throw std::runtime_error(
            where + ": another XDP program, " + name + " (id " +
            std::to_string(id) +
            "), is attached and it is not in libxdp's dispatcher, so "
            "synwatch cannot run beside it (load it with xdp-loader, or "
            "detach it: `ip link set dev " +
            IfName(ifindex) + " xdp off`)");
      }
      // Our own direct link from before xdp.attach = "dispatcher": a
      // switch of attach mode is not gap-free.
      spdlog::warn(
          "{}: synwatch's direct link (program id {}) is replaced by the "
          "dispatcher; SYNs in between are not counted",
          where, id);
      unlink(pins_.LinkPath(ifindex).c_str());
    } else {
      const xdp_program* p = nullptr;
      while ((p = xdp_multiprog__next_prog(p, mp.get())) != nullptr) {
        if (std::string_view(xdp_program__name(p)) == kProgramName) {
          earlier.push_back(xdp_program__id(p));
        }
      }
      const xdp_attach_mode m = xdp_multiprog__attach_mode(mp.get());
      if (m == XDP_MODE_NATIVE) current = AttachedMode::kNative;
      if (m == XDP_MODE_SKB) current = AttachedMode::kGeneric;
    }
  }
  if (current && !ModeAllowed(mode, *current)) {
    throw std::runtime_error(
        where + ": the interface's XDP dispatcher runs in " +
        std::string(ToString(*current)) + " mode, xdp.mode wants " +
        std::string(ToString(mode)));
  }

  const bool had_slot = FindIfindexSlot(config_, ifindex) != SW_IF_UNKNOWN;
  const uint32_t slot = PlaceSlot(where, ifindex);
  std::vector<AttachedMode> tries;
  if (current) {
    tries.push_back(*current);
  } else {
    if (mode != XdpMode::kGeneric) tries.push_back(AttachedMode::kNative);
    if (mode != XdpMode::kNative) tries.push_back(AttachedMode::kGeneric);
  }
  int err = 0;
  for (AttachedMode m : tries) {
    // libxdp loads the object itself, as an extension of its dispatcher: a
    // fresh copy per try, its maps those of skel_.
    SkelPtr copy(synwatch_bpf__open());
    if (!copy) Fail(where + ": open XDP program", errno);
    copy->rodata->sw_if_slot = slot;
    copy->rodata->sw_gate_token = token_;
    bpf_map* theirs = nullptr;
    bpf_map* ours = bpf_object__next_map(skel_->obj, nullptr);
    bpf_object__for_each_map(theirs, copy->obj) {
      if (!bpf_map__is_internal(theirs) &&
          bpf_map__reuse_fd(theirs, bpf_map__fd(ours)) != 0) {
        Fail(where + ": share map " + bpf_map__name(ours), errno);
      }
      ours = bpf_object__next_map(skel_->obj, ours);
    }
    xdp_program_opts opts{};
    opts.sz = sizeof(opts);
    opts.obj = copy->obj;
    opts.prog_name = kProgramName;
    XdpProgramPtr prog(xdp_program__create(&opts));
    if (const long e = libxdp_get_error(prog.get()); e != 0 || !prog) {
      // An error is encoded in the pointer: nothing to close.
      static_cast<void>(prog.release());
      FailXdp(where + ": libxdp program",
              e != 0 ? static_cast<int>(e) : -EINVAL);
    }
    xdp_program__set_run_prio(prog.get(), run_priority_);
    xdp_program__set_chain_call_enabled(prog.get(), XDP_PASS, true);
    err = xdp_program__attach(
        prog.get(), static_cast<int>(ifindex),
        m == AttachedMode::kNative ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
    if (err == 0) {
      // libxdp falls back to a program of its own, without a dispatcher,
      // on a kernel that refuses the dispatcher's extension programs: then
      // nothing else could join, which is not what this mode promises.
      MultiprogPtr now = MultiprogOf(where, ifindex);
      if (!now || xdp_multiprog__is_legacy(now.get())) {
        xdp_program__detach(prog.get(), static_cast<int>(ifindex),
                            XDP_MODE_UNSPEC, 0);
        if (!had_slot) ForgetSlot(ifindex);
        throw std::runtime_error(
            where +
            ": libxdp cannot load its dispatcher on this kernel (it refuses "
            "the dispatcher's extension programs: BPF_PROG_TYPE_EXT; libxdp's "
            "log above says why), so synwatch cannot share the interface; "
            "use xdp.attach = \"direct\"");
      }
      if (!earlier.empty()) {
        if (activated_) {
          for (uint32_t id : earlier) DetachById(ifindex, id);
        } else {
          retired_[ifindex] = earlier;
        }
      }
      links_[ifindex] = Link{-1, m, std::move(copy), std::move(prog)};
      return m;
    }
    spdlog::debug("{} in {} mode: {}", where, ToString(m), LibxdpText(err));
    if (err == -EPERM) break;
  }
  if (!had_slot) ForgetSlot(ifindex);
  FailXdp(where + " through libxdp's dispatcher", err);
}

uint32_t BpfProgram::prog_id(uint32_t ifindex) const {
  auto it = links_.find(ifindex);
  if (it == links_.end()) return 0;
  if (it->second.xdp) return xdp_program__id(it->second.xdp.get());
  if (!it->second.copy) return prog_id_;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  const int fd = bpf_program__fd(it->second.copy->progs.xdp_synwatch);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

int BpfProgram::ProgFdOf(const SkelPtr& copy) const {
  return copy ? bpf_program__fd(copy->progs.xdp_synwatch) : prog_fd();
}

// The object opened again, with slot as its interface slot (sw_if_slot in
// .rodata) and every map of skel_ in place of its own: the program one
// interface runs, which counts under its slot without looking it up.
//
// Null when it cannot be loaded, and the interface then runs skel_'s
// program, which looks the slot up: it counts the same. That is the case
// for an interface attached after start-up (added by a reload, or back
// under a new ifindex), since the verifier wants CAP_PERFMON for this
// program and synwatch drops it once the interfaces are attached.
BpfProgram::SkelPtr BpfProgram::LoadCopy(const std::string& where,
                                         uint32_t slot) const {
  SkelPtr copy(synwatch_bpf__open());
  if (!copy) Fail(where + ": open XDP program", errno);
  copy->rodata->sw_if_slot = slot;
  // Both objects come from the same ELF, so their maps come in one order.
  bpf_map* theirs = nullptr;
  bpf_map* ours = bpf_object__next_map(skel_->obj, nullptr);
  bpf_object__for_each_map(theirs, copy->obj) {
    if (ours == nullptr) Fail(where + ": maps of the copy", EINVAL);
    if (!bpf_map__is_internal(theirs) &&
        bpf_map__reuse_fd(theirs, bpf_map__fd(ours)) != 0) {
      Fail(where + ": share map " + bpf_map__name(ours), errno);
    }
    ours = bpf_object__next_map(skel_->obj, ours);
  }
  if (synwatch_bpf__load(copy.get()) != 0) {
    spdlog::info(
        "{}: the interface runs the program that looks its slot up ({}): a "
        "copy of its own cannot be loaded: {}",
        where, prog_id_, ErrnoText(errno));
    return nullptr;
  }
  return copy;
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
int BpfProgram::decisions_fd() const {
  return bpf_map__fd(skel_->maps.decisions);
}
int BpfProgram::origin_syns_fd() const {
  return bpf_map__fd(skel_->maps.origin_syns);
}
int BpfProgram::decision_hosts_fd() const {
  return bpf_map__fd(skel_->maps.decision_hosts);
}
int BpfProgram::decision_epochs_fd() const {
  return bpf_map__fd(skel_->maps.decision_epochs);
}
int BpfProgram::origin_names_fd() const {
  return bpf_map__fd(skel_->maps.origin_names);
}
int BpfProgram::flood_fd() const { return bpf_map__fd(skel_->maps.flood); }
int BpfProgram::events_fd() const { return bpf_map__fd(skel_->maps.events); }
int BpfProgram::active_fd() const { return bpf_map__fd(skel_->maps.active); }
int BpfProgram::handover_fd() const {
  return bpf_map__fd(skel_->maps.handover);
}

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
  next.params[new_gen].rules_version = NextRulesVersion(config_);
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

uint32_t BpfProgram::PlaceSlot(const std::string& where, uint32_t ifindex) {
  // Slot before link: the first packet through the link already counts
  // under this interface.
  sw_config next = config_;
  const int slot = PlaceIfindex(next, ifindex);
  if (slot < 0) {
    throw std::runtime_error(where + ": interface slot table full");
  }
  const uint32_t zero = 0;
  if (bpf_map_update_elem(config_fd(), &zero, &next, BPF_ANY) != 0) {
    Fail(where + ": write config map", errno);
  }
  config_ = next;
  return static_cast<uint32_t>(slot);
}

// After a failed attach of an interface that had no slot before it.
void BpfProgram::ForgetSlot(uint32_t ifindex) {
  const uint32_t zero = 0;
  RemoveIfindex(config_, ifindex);
  bpf_map_update_elem(config_fd(), &zero, &config_, BPF_ANY);
}

namespace {

// The mode of the XDP program attached to ifindex now, if any.
std::optional<AttachedMode> CurrentMode(uint32_t ifindex) {
  bpf_xdp_query_opts query{};
  query.sz = sizeof(query);
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &query) != 0) {
    return std::nullopt;
  }
  if (query.attach_mode == XDP_ATTACHED_DRV) return AttachedMode::kNative;
  if (query.attach_mode == XDP_ATTACHED_SKB) return AttachedMode::kGeneric;
  return std::nullopt;
}

}  // namespace

// A link pinned for this ifindex by an earlier synwatch: if it is still on
// the interface, in an allowed mode, swap our program into it.
bool BpfProgram::TakeOverPinnedLink(const std::string& name, uint32_t ifindex,
                                    XdpMode mode, AttachedMode* attached) {
  const std::string path = pins_.LinkPath(ifindex);
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) return false;
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  const bool live = bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 &&
                    info.type == BPF_LINK_TYPE_XDP &&
                    info.xdp.ifindex == ifindex;
  const std::optional<AttachedMode> current =
      live ? CurrentMode(ifindex) : std::nullopt;
  if (!current || !ModeAllowed(mode, *current)) {
    if (current) {
      spdlog::info(
          "Pinned XDP link on {} is in {} mode, xdp.mode wants {}: "
          "re-attaching",
          name, ToString(*current), ToString(mode));
    }
    fd.Reset();
    unlink(path.c_str());  // a stale pin, or one we replace: detaches it
    return false;
  }
  const std::string where = "take over pinned XDP link on " + name +
                            " (ifindex " + std::to_string(ifindex) + ")";
  SkelPtr copy = LoadCopy(where, PlaceSlot(where, ifindex));
  if (bpf_link_update(fd.get(), ProgFdOf(copy), nullptr) != 0) {
    Fail(where, errno);
  }
  links_[ifindex] = Link{fd.Release(), *current, std::move(copy), nullptr};
  spdlog::info(
      "Took over pinned XDP link on {} (ifindex {}, {} mode): program id {} "
      "replaced by {} in place, no packet missed",
      name, ifindex, ToString(*current), info.prog_id, prog_id(ifindex));
  *attached = *current;
  return true;
}

AttachedMode BpfProgram::Attach(const std::string& name, uint32_t ifindex,
                                XdpMode mode) {
  const std::string where =
      "attach XDP to " + name + " (ifindex " + std::to_string(ifindex) + ")";
  if (links_.contains(ifindex)) return links_.at(ifindex).mode;
  if (attach_ == XdpAttach::kDispatcher) {
    return AttachToDispatcher(where, ifindex, mode);
  }
  AttachedMode taken{};
  if (pins_.enabled() && TakeOverPinnedLink(name, ifindex, mode, &taken)) {
    return taken;
  }

  bpf_xdp_query_opts query{};
  query.sz = sizeof(query);
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &query) == 0 &&
      query.attach_mode != XDP_ATTACHED_NONE) {
    const uint32_t other = query.prog_id       ? query.prog_id
                           : query.drv_prog_id ? query.drv_prog_id
                           : query.skb_prog_id ? query.skb_prog_id
                                               : query.hw_prog_id;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    UniqueFd fd(bpf_prog_get_fd_by_id(other));
    const std::string what =
        fd.valid() && bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0
            ? std::string(info.name) + " (id " + std::to_string(other) + ")"
            : "(id " + std::to_string(other) + ")";
    throw std::runtime_error(
        where + ": another XDP program " + what +
        " is attached; synwatch does not replace it (with xdp.attach = "
        "\"dispatcher\" synwatch runs beside programs in libxdp's "
        "dispatcher; else detach it first, e.g. `ip link set dev " +
        name + " xdp off`)");
  }

  // A slot that is already there holds totals (an interface that came back
  // under a new ifindex, see MoveSlot): a failed attach keeps it, so that
  // the next attempt continues them.
  const bool had_slot = FindIfindexSlot(config_, ifindex) != SW_IF_UNKNOWN;
  SkelPtr copy;
  try {
    copy = LoadCopy(where, PlaceSlot(where, ifindex));
  } catch (...) {
    if (!had_slot) ForgetSlot(ifindex);
    throw;
  }
  const int copy_fd = ProgFdOf(copy);
  std::vector<AttachedMode> tries;
  if (mode != XdpMode::kGeneric) tries.push_back(AttachedMode::kNative);
  if (mode != XdpMode::kNative) tries.push_back(AttachedMode::kGeneric);
  int err = 0;
  for (AttachedMode m : tries) {
    bpf_link_create_opts opts{};
    opts.sz = sizeof(opts);
    opts.flags = XdpFlags(m);
    UniqueFd fd(
        bpf_link_create(copy_fd, static_cast<int>(ifindex), BPF_XDP, &opts));
    if (fd.valid()) {
      if (pins_.enabled()) {
        const std::string path = pins_.LinkPath(ifindex);
        unlink(path.c_str());
        if (bpf_obj_pin(fd.get(), path.c_str()) != 0) {
          Fail(std::string(where).append(": pin link ").append(path), errno);
        }
      }
      links_[ifindex] = Link{fd.Release(), m, std::move(copy), nullptr};
      return m;
    }
    err = errno;
    // EBUSY/EEXIST: someone attached between the query and now; never
    // fall through to another mode on top of them.
    if (err == EBUSY || err == EEXIST || err == EPERM) break;
    spdlog::debug("{} in {} mode: {}", where, ToString(m), std::strerror(err));
  }
  if (!had_slot) ForgetSlot(ifindex);
  Fail(where + (mode == XdpMode::kAuto
                    ? ""
                    : std::string(" in ") +
                          std::string(ToString(tries.front())) + " mode"),
       err);
}

void BpfProgram::Detach(uint32_t ifindex) {
  auto it = links_.find(ifindex);
  if (it == links_.end()) return;
  if (it->second.xdp) {
    DetachFromDispatcher(ifindex, it->second);
    links_.erase(it);
    return;
  }
  if (pins_.enabled()) unlink(pins_.LinkPath(ifindex).c_str());
  close(it->second.fd);
  links_.erase(it);
  // The slot stays registered: its totals are exact and never evicted, and
  // the same interface coming back continues them.
}

bool BpfProgram::LinkAlive(uint32_t ifindex) const {
  auto it = links_.find(ifindex);
  if (it == links_.end()) return false;
  if (it->second.xdp) {
    // libxdp keeps the link: the interface is there and has a program.
    bpf_xdp_query_opts query{};
    query.sz = sizeof(query);
    return bpf_xdp_query(static_cast<int>(ifindex), 0, &query) == 0 &&
           query.attach_mode != XDP_ATTACHED_NONE;
  }
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(it->second.fd, &info, &len) == 0 &&
         info.xdp.ifindex == ifindex;
}

void BpfProgram::MoveSlot(uint32_t old_ifindex, uint32_t new_ifindex) {
  const uint32_t from = FindIfindexSlot(config_, old_ifindex);
  if (from == SW_IF_UNKNOWN || old_ifindex == new_ifindex) return;
  sw_config next = config_;
  RemoveIfindex(next, old_ifindex);
  const int placed = PlaceIfindex(next, new_ifindex);
  if (placed < 0) return;  // Attach reports the full table
  const auto to = static_cast<uint32_t>(placed);
  if (to != from) {
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return;
    std::vector<sw_if_stats> stats(static_cast<std::size_t>(cpus));
    if (bpf_map_lookup_elem(if_stats_fd(), &from, stats.data()) != 0) {
      Fail("read totals of ifindex " + std::to_string(old_ifindex), errno);
    }
    if (bpf_map_update_elem(if_stats_fd(), &to, stats.data(), BPF_ANY) != 0) {
      Fail("move totals to ifindex " + std::to_string(new_ifindex), errno);
    }
    std::fill(stats.begin(), stats.end(), sw_if_stats{});
    bpf_map_update_elem(if_stats_fd(), &from, stats.data(), BPF_ANY);
  }
  const uint32_t zero = 0;
  if (bpf_map_update_elem(config_fd(), &zero, &next, BPF_ANY) != 0) {
    Fail("write config map", errno);
  }
  config_ = next;
}

void BpfProgram::ReleaseUnclaimedLinks() {
  if (!pins_.enabled()) return;
  for (uint32_t ifindex : pins_.LinkIfindexes()) {
    if (links_.contains(ifindex)) continue;
    if (unlink(pins_.LinkPath(ifindex).c_str()) == 0) {
      spdlog::info(
          "Released the pinned XDP link of ifindex {}: that interface is not "
          "configured (or gone)",
          ifindex);
    }
  }
}

int DetachFromDispatchers() {
  const ScopedCapabilities caps = LibxdpScope();
  int detached = 0;
  struct if_nameindex* all = if_nameindex();
  if (all == nullptr) return 0;
  for (const struct if_nameindex* i = all; i->if_index != 0; ++i) {
    xdp_multiprog* mp =
        xdp_multiprog__get_from_ifindex(static_cast<int>(i->if_index));
    if (libxdp_get_error(mp) != 0 || mp == nullptr) continue;
    std::vector<uint32_t> ids;
    if (!xdp_multiprog__is_legacy(mp)) {
      const xdp_program* p = nullptr;
      while ((p = xdp_multiprog__next_prog(p, mp)) != nullptr) {
        if (std::string_view(xdp_program__name(p)) == kProgramName) {
          ids.push_back(xdp_program__id(p));
        }
      }
    }
    xdp_multiprog__close(mp);
    for (uint32_t id : ids) {
      const int err = DetachById(i->if_index, id);
      if (err == 0) {
        ++detached;
      } else {
        std::fprintf(stderr, "synwatch: detach program id %u from %s: %s\n", id,
                     i->if_name, LibxdpText(err).c_str());
      }
    }
  }
  if_freenameindex(all);
  return detached;
}

bool BpfProgram::IsAttached(uint32_t ifindex) const {
  return links_.contains(ifindex);
}

}  // namespace synwatch
