// SPDX-License-Identifier: Apache-2.0
// Pinned state: the directory in a BPF filesystem (xdp.pin_path) where
// synwatch keeps its maps ("<dir>/<map name>") and one XDP link per interface
// ("<dir>/link_<ifindex>"), so that the program keeps counting while no
// exporter runs and a restarted or upgraded exporter continues the same
// counters. See README, "Restarts and upgrades".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace synwatch {

// True when path (which must exist) lies in a BPF filesystem.
bool OnBpffs(const std::string& path);

// Whether the BPF filesystem holding the pins is mounted in the host's mount
// namespace (PID 1's), as far as synwatch can see.
enum class HostMount {
  kYes,     // this is PID 1's mount namespace, or PID 1 has it mounted too
  kNo,      // PID 1's mount table has no BPF filesystem of this device
  kUnknown  // PID 1's namespace and mount table are hidden (ProtectProc=),
            // or synwatch is PID 1 (a container's init)
};

// Pins last as long as some mount of their BPF filesystem. One that is
// mounted only in a private mount namespace (`ip netns exec` gives each
// command its own, with a fresh /sys) goes when the last process there
// exits, and with it the pinned links (they detach) and the counters.
enum class PinLifetime {
  kOutlivesProcess,    // the pins keep counting after synwatch exits
  kEndsWithNamespace,  // they go with this private mount namespace
  kUnknown             // synwatch mounted it and cannot see PID 1's mounts
};

// The decision, from what synwatch saw: host_mount as above, mounted_here
// when synwatch mounted that BPF filesystem itself at start. A BPF
// filesystem that was there before synwatch and whose host side cannot be
// seen was set up for it (systemd's BindPaths=, a host's bind mount into a
// container): it is taken to outlive the process, as before.
PinLifetime JudgePinLifetime(HostMount host_mount, bool mounted_here);

// Whether a /proc/<pid>/mountinfo text lists a BPF filesystem (type "bpf")
// of device major:minor.
bool MountinfoHasBpffs(std::string_view mountinfo, unsigned major,
                       unsigned minor);

// The pin directory, locked (flock) against a second synwatch using it for
// as long as this object lives. A default-constructed PinDir is disabled
// (pin_path = "").
class PinDir {
 public:
  PinDir() = default;

  // Creates path (mode 0700) in a BPF filesystem and locks it. When path is
  // under /sys/fs/bpf and nothing is mounted there, mounts bpffs first
  // (logged). Judges whether the pins can outlive the process (lifetime()).
  // Throws std::runtime_error naming xdp.pin_path when path is not in a BPF
  // filesystem, cannot be created, or another synwatch holds it.
  static PinDir Open(const std::string& path);

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  PinLifetime lifetime() const { return lifetime_; }
  // One line for the log: whether and how long the pins outlive synwatch.
  std::string LifetimeText() const;
  std::string MapPath(std::string_view map_name) const;
  std::string LinkPath(uint32_t ifindex) const;
  // The ifindexes of the link_<ifindex> entries present now.
  std::vector<uint32_t> LinkIfindexes() const;

 private:
  std::string path_;
  UniqueFd lock_;
  PinLifetime lifetime_ = PinLifetime::kOutlivesProcess;
  bool mounted_here_ = false;
  std::string host_mount_error_;  // why PID 1's mounts could not be read
};

// Whether a pinned map can be reused by a program that declares a map of the
// same name with these attributes.
struct MapShape {
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
};
enum class MapFit {
  kSame,         // reuse as is
  kResized,      // only max_entries differs: copy the entries over
  kIncompatible  // another layout: never read it
};
MapFit CompareMaps(const MapShape& pinned, const MapShape& wanted);
std::string Describe(const MapShape& shape);

// Copies every entry of a map into another of the same key and value layout
// (hash, array or LPM trie; per-CPU values included). Entries the target
// cannot take (beyond an array's size) are skipped; an LRU target evicts its
// oldest. Returns the number copied; throws on a failed read.
uint64_t CopyMapEntries(int from_fd, int to_fd, const MapShape& shape);

// What `synwatch --detach` did.
struct DetachReport {
  bool existed = false;           // the directory was there
  int links = 0;                  // XDP links unpinned (and so detached)
  int maps = 0;                   // maps unpinned
  std::vector<std::string> left;  // entries that are not synwatch's
  bool removed = false;           // the directory itself was removed
};

// Removes what synwatch pinned under path, and only that: links of an XDP
// program named xdp_synwatch, and maps whose kernel name is their file name
// (how synwatch pins them). Anything else stays, and so does the directory
// then. Refuses (throws) while a running synwatch holds the directory.
DetachReport DetachPinned(const std::string& path);

}  // namespace synwatch
