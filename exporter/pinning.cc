// SPDX-License-Identifier: Apache-2.0
#include "pinning.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace synwatch {
namespace {

constexpr std::string_view kLinkPrefix = "link_";
constexpr std::string_view kBpffsRoot = "/sys/fs/bpf";
constexpr char kProgName[] = "xdp_synwatch";

[[noreturn]] void Fail(const std::string& path, const std::string& what,
                       int err) {
  throw std::runtime_error("xdp.pin_path " + path + ": " + what + ": " +
                           ErrnoText(err));
}

// dir/name, out of the loops that build one per directory entry.
std::string Join(const std::string& dir, const std::string& name) {
  return dir + "/" + name;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// mkdir -p, each new directory mode 0700. Existing components are skipped
// first: mkdir on an existing mount point whose parent we may not write (a
// systemd BindPaths= under a TemporaryFileSystem=) fails with EACCES, not
// EEXIST.
void MakeDirs(const std::string& path) {
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string part = path.substr(0, pos);
    if (Exists(part)) continue;
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      Fail(path, "create " + part, errno);
    }
  }
}

// The nearest existing ancestor of path (path itself if it exists).
std::string ExistingAncestor(std::string path) {
  while (!path.empty() && !Exists(path)) {
    const std::size_t slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return path;
}

bool UnderBpffsRoot(const std::string& path) {
  return path.size() > kBpffsRoot.size() &&
         path.compare(0, kBpffsRoot.size(), kBpffsRoot) == 0 &&
         path[kBpffsRoot.size()] == '/';
}

bool ParseLinkName(std::string_view name, uint32_t* ifindex) {
  if (name.substr(0, kLinkPrefix.size()) != kLinkPrefix) return false;
  const std::string_view digits = name.substr(kLinkPrefix.size());
  const auto [ptr, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), *ifindex);
  return !digits.empty() && ec == std::errc() &&
         ptr == digits.data() + digits.size();
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return names;
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(dir);
  return names;
}

UniqueFd LockDir(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) Fail(path, "open", errno);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      throw std::runtime_error(
          "xdp.pin_path " + path +
          ": another synwatch is running with this pin path (stop it first, "
          "or give this one another xdp.pin_path)");
    }
    Fail(path, "lock", errno);
  }
  return fd;
}

// Is fd an XDP link whose program is synwatch's?
bool IsSynwatchXdpLink(int fd) {
  bpf_link_info link{};
  uint32_t len = sizeof(link);
  if (bpf_obj_get_info_by_fd(fd, &link, &len) != 0 ||
      link.type != BPF_LINK_TYPE_XDP) {
    return false;
  }
  const int prog = bpf_prog_get_fd_by_id(link.prog_id);
  if (prog < 0) return false;
  bpf_prog_info info{};
  uint32_t info_len = sizeof(info);
  const bool ours = bpf_obj_get_info_by_fd(prog, &info, &info_len) == 0 &&
                    std::strcmp(info.name, kProgName) == 0;
  close(prog);
  return ours;
}

// Is fd a map whose kernel name is name (how synwatch pins its maps)?
bool IsMapNamed(int fd, const std::string& name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && name == info.name;
}

}  // namespace

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::string ErrnoText(int err) {
  std::string text = std::strerror(err);
  if (err == EPERM || err == EACCES) {
    text += " (synwatch needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, or root)";
  }
  return text;
}

bool OnBpffs(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 &&
         static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

PinDir PinDir::Open(const std::string& path) {
  PinDir dir;
  if (path.empty()) return dir;
  std::string base = ExistingAncestor(path);
  if (!OnBpffs(base) && UnderBpffsRoot(path) &&
      !OnBpffs(std::string(kBpffsRoot))) {
    MakeDirs(std::string(kBpffsRoot));
    if (mount("bpf", std::string(kBpffsRoot).c_str(), "bpf", 0, "mode=0700") !=
        0) {
      Fail(path, "mount bpffs at " + std::string(kBpffsRoot), errno);
    }
    spdlog::info("Mounted a BPF filesystem at {} for xdp.pin_path", kBpffsRoot);
    base = ExistingAncestor(path);
  }
  if (!OnBpffs(base)) {
    throw std::runtime_error(
        "xdp.pin_path " + path + ": " + base +
        " is not in a BPF filesystem (mount one, e.g. `mount -t bpf bpf "
        "/sys/fs/bpf`, or set pin_path = \"\" to pin nothing)");
  }
  MakeDirs(path);
  dir.lock_ = LockDir(path);
  dir.path_ = path;
  return dir;
}

std::string PinDir::MapPath(std::string_view map_name) const {
  return path_ + "/" + std::string(map_name);
}

std::string PinDir::LinkPath(uint32_t ifindex) const {
  return path_ + "/" + std::string(kLinkPrefix) + std::to_string(ifindex);
}

std::vector<uint32_t> PinDir::LinkIfindexes() const {
  std::vector<uint32_t> out;
  for (const std::string& name : ListDir(path_)) {
    uint32_t ifindex = 0;
    if (ParseLinkName(name, &ifindex)) out.push_back(ifindex);
  }
  return out;
}

MapFit CompareMaps(const MapShape& pinned, const MapShape& wanted) {
  if (pinned.type != wanted.type || pinned.key_size != wanted.key_size ||
      pinned.value_size != wanted.value_size || pinned.flags != wanted.flags) {
    return MapFit::kIncompatible;
  }
  return pinned.max_entries == wanted.max_entries ? MapFit::kSame
                                                  : MapFit::kResized;
}

std::string Describe(const MapShape& s) {
  return "type " + std::to_string(s.type) + ", key " +
         std::to_string(s.key_size) + " B, value " +
         std::to_string(s.value_size) + " B, " + std::to_string(s.max_entries) +
         " entries, flags " + std::to_string(s.flags);
}

uint64_t CopyMapEntries(int from_fd, int to_fd, const MapShape& shape) {
  const bool percpu = shape.type == BPF_MAP_TYPE_PERCPU_HASH ||
                      shape.type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
                      shape.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  const int cpus = percpu ? libbpf_num_possible_cpus() : 1;
  if (cpus <= 0) {
    throw std::runtime_error("count possible CPUs: " + ErrnoText(-cpus));
  }
  const std::size_t value_bytes =
      percpu ? ((shape.value_size + 7U) & ~7U) * static_cast<std::size_t>(cpus)
             : shape.value_size;
  std::vector<unsigned char> key(shape.key_size);
  std::vector<unsigned char> next(shape.key_size);
  std::vector<unsigned char> value(value_bytes);
  uint64_t copied = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(from_fd, prev, next.data()) == 0) {
    key = next;
    prev = key.data();
    if (bpf_map_lookup_elem(from_fd, key.data(), value.data()) != 0) {
      if (errno == ENOENT) continue;  // evicted under us
      throw std::runtime_error("read pinned map entry: " + ErrnoText(errno));
    }
    if (bpf_map_update_elem(to_fd, key.data(), value.data(), BPF_ANY) == 0) {
      ++copied;
    }
  }
  return copied;
}

DetachReport DetachPinned(const std::string& path) {
  DetachReport report;
  if (path.empty() || !Exists(path)) return report;
  report.existed = true;
  UniqueFd lock = LockDir(path);

  // Links first: once they are gone nothing runs the program, then the maps.
  std::vector<std::string> maps;
  for (const std::string& name : ListDir(path)) {
    const std::string file = Join(path, name);
    UniqueFd fd(bpf_obj_get(file.c_str()));
    uint32_t ifindex = 0;
    if (fd.valid() && ParseLinkName(name, &ifindex) &&
        IsSynwatchXdpLink(fd.get())) {
      fd.Reset();
      if (unlink(file.c_str()) != 0) Fail(path, "unpin " + name, errno);
      ++report.links;
    } else if (fd.valid() && IsMapNamed(fd.get(), name)) {
      maps.push_back(name);
    } else {
      report.left.push_back(name);
    }
  }
  for (const std::string& name : maps) {
    if (unlink(Join(path, name).c_str()) != 0) {
      Fail(path, "unpin " + name, errno);
    }
    ++report.maps;
  }
  lock.Reset();
  if (report.left.empty() && rmdir(path.c_str()) == 0) report.removed = true;
  return report;
}

}  // namespace synwatch
