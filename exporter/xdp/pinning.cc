// SPDX-License-Identifier: Apache-2.0
#include "xdp/pinning.h"

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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
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

// The mount namespace a /proc/<pid>/ns/mnt link names, or "" when it cannot
// be read (another user's process, ProtectProc=, hidepid=).
std::string MountNamespace(const char* link) {
  char buf[64];
  const ssize_t n = readlink(link, buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// Where the BPF filesystem holding path is mounted: in this, the host's,
// mount namespace; or else in PID 1's mount table, matched by device (a
// bind mount or a copy made by unshare has the same device as the original;
// a BPF filesystem mounted anew has its own). error says why it is unknown.
HostMount SeeHostMount(const std::string& path, std::string* error) {
  if (getpid() == 1) {
    // A container's init (`unshare --pid --fork`, a container entrypoint):
    // /proc/1 is this process, and its mounts end with it.
    *error = "synwatch is PID 1 of its PID namespace, which shows no host";
    return HostMount::kUnknown;
  }
  const std::string self = MountNamespace("/proc/self/ns/mnt");
  if (!self.empty() && self == MountNamespace("/proc/1/ns/mnt")) {
    return HostMount::kYes;
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "stat " + path + ": " + std::strerror(errno);
    return HostMount::kUnknown;
  }
  std::ifstream file("/proc/1/mountinfo");
  std::ostringstream text;
  text << file.rdbuf();
  if (!file || text.str().empty()) {
    *error = "/proc/1/mountinfo is not readable";
    return HostMount::kUnknown;
  }
  return MountinfoHasBpffs(text.str(), major(st.st_dev), minor(st.st_dev))
             ? HostMount::kYes
             : HostMount::kNo;
}

}  // namespace

PinLifetime JudgePinLifetime(HostMount host_mount, bool mounted_here) {
  switch (host_mount) {
    case HostMount::kYes:
      return PinLifetime::kOutlivesProcess;
    case HostMount::kNo:
      return PinLifetime::kEndsWithNamespace;
    case HostMount::kUnknown:
      break;
  }
  return mounted_here ? PinLifetime::kUnknown : PinLifetime::kOutlivesProcess;
}

bool MountinfoHasBpffs(std::string_view mountinfo, unsigned major,
                       unsigned minor) {
  const std::string device =
      std::to_string(major) + ":" + std::to_string(minor);
  while (!mountinfo.empty()) {
    const std::size_t eol = mountinfo.find('\n');
    const std::string_view line = mountinfo.substr(0, eol);
    mountinfo = eol == std::string_view::npos ? std::string_view()
                                              : mountinfo.substr(eol + 1);
    // ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE ...
    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (pos < line.size()) {
      const std::size_t end = std::min(line.find(' ', pos), line.size());
      if (end > pos) fields.push_back(line.substr(pos, end - pos));
      pos = end + 1;
    }
    if (fields.size() < 3 || fields[2] != device) continue;
    for (std::size_t i = 6; i + 1 < fields.size(); ++i) {
      if (fields[i] == "-") {
        if (fields[i + 1] == "bpf") return true;
        break;
      }
    }
  }
  return false;
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
    dir.mounted_here_ = true;
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
  dir.lifetime_ = JudgePinLifetime(SeeHostMount(path, &dir.host_mount_error_),
                                   dir.mounted_here_);
  return dir;
}

std::string PinDir::LifetimeText() const {
  const std::string keep =
      "to keep them across restarts, run synwatch in the host's mount "
      "namespace (`nsenter --net=/run/netns/NAME synwatch ...`) or pin to a "
      "BPF filesystem mounted there (README, \"Network namespaces\")";
  const std::string who = mounted_here_
                              ? "synwatch mounted the BPF filesystem at " +
                                    std::string(kBpffsRoot) + " itself"
                              : "the BPF filesystem there was mounted";
  switch (lifetime_) {
    case PinLifetime::kOutlivesProcess:
      break;
    case PinLifetime::kEndsWithNamespace:
      return "Pins in " + path_ +
             " do not outlive this mount namespace: " + who +
             " in this mount namespace only, not in the host's (PID 1's), as "
             "under `ip netns exec`: when its last process exits the XDP "
             "links detach and the counters are lost; " +
             keep;
    case PinLifetime::kUnknown:
      return "Pins in " + path_ + " may not outlive this process: " + who +
             " and cannot tell whether this is the host's mount namespace (" +
             host_mount_error_ +
             "); if it is not, as under `ip netns exec`, the XDP links detach "
             "and the counters are lost when the namespace ends; " +
             keep;
  }
  return "Pinned maps and XDP links in " + path_ +
         ": they keep counting after this process exits (`synwatch --detach` "
         "removes them)";
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
