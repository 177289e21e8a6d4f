// SPDX-License-Identifier: Apache-2.0
// The web config file (web.config_file, --web.config.file): Prometheus
// exporter-toolkit's YAML format, the one node_exporter takes, so existing
// files work unchanged. It turns on TLS (tls_server_config), client
// certificates, basic auth (basic_auth_users, bcrypt hashes) and a few
// security headers (http_server_config.headers).
//
// Parsed and validated in one place, including the files it names, so a
// file that loads here also works in the server. Errors are one line,
// "web.yml:3: tls_server_config.foo: unknown key".
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "web/tls.h"

namespace synwatch {

struct WebSecurityConfig {
  // As in exporter-toolkit, TLS is on when any of cert(_file), key(_file),
  // client_ca(_file) or client_auth_type is set; other TLS keys alone leave
  // plain HTTP.
  bool tls_enabled = false;
  TlsSettings tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt
  // Added to every response, in name order.
  std::vector<std::pair<std::string, std::string>> headers;

  bool operator==(const WebSecurityConfig&) const = default;
};

// Reads a file the config names (certificates, keys). Returns false and
// sets *error ("No such file or directory") when it cannot. Injected so
// tests and fuzzers need no files.
using ReadFileFunction = std::function<bool(
    const std::string& path, std::string* text, std::string* error)>;
bool ReadSmallFile(const std::string& path, std::string* text,
                   std::string* error);

// Parses YAML text; name is the file's path: it starts error messages, and
// relative paths in the file are taken from its directory, as
// exporter-toolkit does. Throws ConfigError.
WebSecurityConfig ParseWebConfig(std::string_view text, const std::string& name,
                                 const ReadFileFunction& read = ReadSmallFile);

// Reads and parses a file; "" gives the empty config (plain HTTP, no auth).
// Throws ConfigError, also for a file that cannot be read.
WebSecurityConfig LoadWebConfig(const std::string& path,
                                const ReadFileFunction& read = ReadSmallFile);

}  // namespace synwatch
