// SPDX-License-Identifier: Apache-2.0
#include "base/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace synwatch {

bool ReadWholeFile(const std::string& path, std::size_t max_bytes,
                   std::string* text, std::string* error) {
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    *error = std::strerror(errno);
    return false;
  }
  text->clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    text->append(buf, static_cast<std::size_t>(n));
    if (text->size() > max_bytes) {
      *error = "larger than " + std::to_string(max_bytes >> 20) + " MiB";
      return false;
    }
  }
  return true;
}

}  // namespace synwatch
