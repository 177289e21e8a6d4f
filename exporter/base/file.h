// SPDX-License-Identifier: Apache-2.0
// Reading a small file whole, for the config and the web config.
#pragma once

#include <cstddef>
#include <string>

namespace synwatch {

// Reads the file at path into *text, up to max_bytes. On failure returns
// false and sets *error to what the user needs to read: strerror ("No such
// file or directory", "Permission denied", "Is a directory") or "larger
// than N MiB". POSIX I/O, so errno is the reason.
bool ReadWholeFile(const std::string& path, std::size_t max_bytes,
                   std::string* text, std::string* error);

}  // namespace synwatch
