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

namespace synwatch {

// A file descriptor that closes itself.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// strerror(err), plus the capabilities synwatch needs when err is EPERM or
// EACCES: the text of every failed bpf(2), mount or pin.
std::string ErrnoText(int err);

// True when path (which must exist) lies in a BPF filesystem.
bool OnBpffs(const std::string& path);

// The pin directory, locked (flock) against a second synwatch using it for
// as long as this object lives. A default-constructed PinDir is disabled
// (pin_path = "").
class PinDir {
 public:
  PinDir() = default;

  // Creates path (mode 0700) in a BPF filesystem and locks it. When path is
  // under /sys/fs/bpf and nothing is mounted there, mounts bpffs first
  // (logged). Throws std::runtime_error naming xdp.pin_path when path is not
  // in a BPF filesystem, cannot be created, or another synwatch holds it.
  static PinDir Open(const std::string& path);

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string MapPath(std::string_view map_name) const;
  std::string LinkPath(uint32_t ifindex) const;
  // The ifindexes of the link_<ifindex> entries present now.
  std::vector<uint32_t> LinkIfindexes() const;

 private:
  std::string path_;
  UniqueFd lock_;
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
