// SPDX-License-Identifier: Apache-2.0
// The XDP program's lifecycle: an RAII owner of the bpftool skeleton (the
// maps and a program that looks interfaces up by ifindex), and per interface
// of a bpf_link and the copy of the program it runs (links and copies go
// before the skeleton), plus the policy that user space keeps in the maps
// (rules, knobs, interface slots).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/abi.h"
#include "config/config.h"
#include "xdp/pinning.h"

struct synwatch_bpf;  // bpftool skeleton (synwatch.skel.h)
struct xdp_program;   // libxdp

namespace synwatch {

// What a successful attach used. kNative is the driver hook
// (XDP_FLAGS_DRV_MODE), kGeneric the skb hook (XDP_FLAGS_SKB_MODE).
enum class AttachedMode { kNative, kGeneric };
std::string_view ToString(AttachedMode mode);

// The policy the program reads, derived from a Config.
struct Policy {
  RulesConfig rules;
  PeersConfig peers;
  PortScanConfig port_scan;
  LogConfig log;
  bool decisions = false;  // crowdsec.enabled: look sources up in "decisions"
};
Policy PolicyFromConfig(const Config& config);
sw_params ParamsFromPolicy(const Policy& policy);

// Table sizes, fixed at load.
struct MapSizes {
  uint32_t peers = SW_DEFAULT_PEER_ENTRIES;
  uint32_t scan_track = SW_DEFAULT_SCAN_TRACK_ENTRIES;
  uint32_t blocked = SW_DEFAULT_BLOCK_ENTRIES;
  uint32_t decisions = SW_DEFAULT_DECISION_ENTRIES;
};
MapSizes MapSizesFromConfig(const Config& config);

// What the XDP program needs of the kernel that this kernel lacks (BPF
// helpers for XDP, the ring buffer map), probed with tiny programs, as one
// sentence naming each missing feature and the Linux release that added it,
// "" when nothing is missing or the probes themselves cannot run (no
// privileges: the load then says why). BpfProgram refuses to load on such a
// kernel rather than letting the verifier reject the program.
std::string MissingKernelFeatures();

class BpfProgram {
 public:
  // Opens and loads the embedded program with maps sized from config.
  // Throws std::runtime_error with context ("load XDP program: Operation not
  // permitted (synwatch needs CAP_BPF and CAP_NET_ADMIN)"), and before
  // anything is loaded on a kernel that lacks a feature the program needs
  // ("load XDP program: this kernel (5.10.0-46-amd64) lacks ...").
  //
  // With an enabled PinDir, maps pinned there by an earlier synwatch are
  // reused when their layout matches (counters, block table and the policy
  // generation continue), copied into a new map when only their size
  // changed, and replaced (one warning line) when their layout does not
  // match: a map of another layout is never read. New maps are pinned.
  explicit BpfProgram(const MapSizes& sizes, PinDir pins = {});
  ~BpfProgram();
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;

  // Writes rules and knobs of policy so that the program switches to them at
  // once: the inactive generation is filled, then one store flips it, then the
  // old generation is deleted. Throws on a map update failure; the policy in
  // force is then unchanged.
  void ApplyPolicy(const Policy& policy);

  // From now on, Attach joins libxdp's multi-program dispatcher at
  // run_priority (chain call on XDP_PASS) instead of attaching directly.
  // Call before the first Attach.
  void UseDispatcher(uint32_t run_priority);
  XdpAttach attach() const { return attach_; }
  uint32_t run_priority() const { return run_priority_; }
  // Dispatcher: puts this process's programs in charge (the active map),
  // then detaches the programs of an earlier synwatch that Attach found
  // beside them. Call after the first attach round: until then the earlier
  // programs count, after it these do, and no packet is counted twice or
  // not at all in between: with earlier programs there, the "handover" map
  // holds this process's token for the switch (100 ms more), and the first
  // program of a packet's chain then passes its read of "active" on to the
  // next in a per-CPU note; it ends at 0, also when a killed synwatch left
  // it set. A no-op for direct attach.
  void Activate();

  // Attaches through a bpf_link. Without pinning nothing is left attached
  // when the process dies; with pinning the link is pinned and outlives the
  // process, and a link pinned earlier for this ifindex is taken over: its
  // program is replaced by this one in place (bpf_link_update), so no packet
  // goes uncounted. Refuses an interface that has any other XDP program.
  // kAuto tries native, then generic. Throws with the interface name and
  // ifindex.
  AttachedMode Attach(const std::string& name, uint32_t ifindex, XdpMode mode);
  // Detaches and unpins the link of ifindex (a no-op when not attached).
  void Detach(uint32_t ifindex);
  bool IsAttached(uint32_t ifindex) const;
  // Whether the link of ifindex still has its interface (false once the
  // interface is gone: the kernel then detaches the link by itself).
  bool LinkAlive(uint32_t ifindex) const;
  // The interface behind old_ifindex came back as new_ifindex (deleted and
  // created again): its totals move to new_ifindex's slot, so the counters
  // of that interface name continue. Call before attaching new_ifindex.
  void MoveSlot(uint32_t old_ifindex, uint32_t new_ifindex);
  // Unpins (so detaches) pinned links this process did not take over:
  // interfaces no longer configured, or gone. Call once after the first
  // attach round.
  void ReleaseUnclaimedLinks();

  // True when the maps came from an earlier synwatch (counters continue).
  bool continued() const { return continued_; }
  const PinDir& pins() const { return pins_; }

  // The program loaded with the maps, which looks a packet's interface slot
  // up by ingress ifindex: what BPF_PROG_TEST_RUN drives. Each attached
  // interface runs a copy of its own (prog_id(ifindex)).
  uint32_t prog_id() const { return prog_id_; }
  // The copy attached to ifindex, 0 when none is.
  uint32_t prog_id(uint32_t ifindex) const;
  int if_stats_fd() const;
  int peers_fd() const;
  int config_fd() const;
  int rules_fd() const;
  int scan_track_fd() const;
  int blocked_fd() const;
  int decisions_fd() const;  // the ranges
  int decision_hosts_fd() const;
  int decision_epochs_fd() const;
  int origin_syns_fd() const;
  int origin_names_fd() const;
  int flood_fd() const;
  int events_fd() const;
  int active_fd() const;    // the token in charge (dispatcher attach)
  int handover_fd() const;  // the token being put in charge, 0 but then
  const MapSizes& sizes() const { return sizes_; }
  const sw_config& config() const { return config_; }

 private:
  struct SkelDeleter {
    void operator()(::synwatch_bpf* skel) const;
  };
  using SkelPtr = std::unique_ptr<::synwatch_bpf, SkelDeleter>;
  // An interface's link and the copy of the program it runs (the link holds
  // the program too; the copy is kept for its id and closed after the link);
  // no copy: it runs skel_'s program.
  struct XdpProgramDeleter {
    void operator()(::xdp_program* prog) const;
  };
  using XdpProgramPtr = std::unique_ptr<::xdp_program, XdpProgramDeleter>;
  // Direct: fd is the link. Dispatcher: fd is -1, xdp is the component
  // program in the interface's dispatcher (libxdp pins its link).
  struct Link {
    int fd = -1;
    AttachedMode mode = AttachedMode::kNative;
    SkelPtr copy;
    XdpProgramPtr xdp;
  };

  void WriteConfig();
  void SetHandover(uint64_t token);
  int prog_fd() const;
  // Reuses pinned maps only when their shapes and SW_ABI_VERSION match
  // (docs/architecture.md, "The kernel/user ABI").
  void ReusePinnedMaps();
  void PinMaps();
  void RaiseBlockHints();
  bool TakeOverPinnedLink(const std::string& name, uint32_t ifindex,
                          XdpMode mode, AttachedMode* attached);
  uint32_t PlaceSlot(const std::string& where, uint32_t ifindex);
  void ForgetSlot(uint32_t ifindex);
  SkelPtr LoadCopy(const std::string& where, uint32_t slot) const;
  int ProgFdOf(const SkelPtr& copy) const;
  AttachedMode AttachToDispatcher(const std::string& where, uint32_t ifindex,
                                  XdpMode mode);
  void DetachFromDispatcher(uint32_t ifindex, Link& link);

  // A pinned map found at load: reused as is, or copied into the new map
  // (resized), or replaced (incompatible).
  struct PinnedMap {
    std::string name;
    UniqueFd fd;
    MapShape shape;
    MapFit fit = MapFit::kSame;
  };

  PinDir pins_;
  std::vector<PinnedMap> pinned_maps_;  // only between open and PinMaps()
  bool continued_ = false;
  SkelPtr skel_;
  std::map<uint32_t, Link> links_;  // by ifindex; closed before skel_
  sw_config config_{};              // the user-space copy of config[0]
  uint32_t prog_id_ = 0;
  MapSizes sizes_;
  bool policy_applied_ = false;
  XdpAttach attach_ = XdpAttach::kDirect;
  uint32_t run_priority_ = 0;
  uint64_t token_ = 0;      // sw_gate_token of this process's programs
  bool activated_ = false;  // token_ is in the active map
  // Programs of an earlier synwatch in a dispatcher, by ifindex: Activate
  // detaches them.
  std::map<uint32_t, std::vector<uint32_t>> retired_;
};

// The programs of synwatch in libxdp dispatchers of this network namespace,
// detached; returns how many. For --detach: other programs stay.
int DetachFromDispatchers();

}  // namespace synwatch
