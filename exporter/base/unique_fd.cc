// SPDX-License-Identifier: Apache-2.0
#include "base/unique_fd.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace synwatch {

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

std::string ErrnoMessage(int err) {
  std::string text = std::strerror(err);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

}  // namespace synwatch
