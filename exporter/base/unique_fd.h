// SPDX-License-Identifier: Apache-2.0
// File descriptors that close themselves, and errno as text. Shared by the
// XDP side (pins, maps), the web side (sockets) and the process collector.
#pragma once

#include <string>

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

// strerror(err) with a lower-case first letter, for the end of a message:
// "listen on :9632: address already in use".
std::string ErrnoMessage(int err);

}  // namespace synwatch
