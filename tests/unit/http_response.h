// SPDX-License-Identifier: Apache-2.0
// An HTTP/1.1 response as the HTTP server tests read it, and the parser of
// its head shared by the plain and the TLS test clients.
#pragma once

#include <cctype>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/net.h"

namespace synwatch::testing {

// A listen address the way config hands it to the server: parsed.
inline ListenAddress Listening(std::string_view text) {
  ListenAddress address;
  std::string error;
  if (!ParseListenAddress(text, &address, &error)) {
    throw std::invalid_argument(std::string(text) + ": " + error);
  }
  return address;
}

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Status and headers from a response head (everything before the blank
// line), e.g. "HTTP/1.1 200 OK\r\nContent-Length: 3".
inline Response ParseResponseHead(std::string_view head) {
  Response response;
  const std::size_t line_end = head.find("\r\n");
  response.status = std::stoi(std::string(head.substr(9, 3)));
  std::string_view rest = line_end == std::string_view::npos
                              ? std::string_view()
                              : head.substr(line_end + 2);
  while (!rest.empty()) {
    const std::size_t end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view()
                                         : rest.substr(end + 2);
    const std::size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response.headers[name] = std::string(value);
  }
  return response;
}

}  // namespace synwatch::testing
