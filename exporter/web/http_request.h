// SPDX-License-Identifier: Apache-2.0
// The HTTP/1.x request head parser of the HTTP server: strict about what it
// takes (a request line, header fields, nothing folded, nothing oversized),
// since every byte it reads comes from whoever can reach the port. It needs
// no body: synwatch serves GET and HEAD only, so a request that announces
// one is answered with an error and the connection closed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace synwatch {

// Limits on one request head, so that memory per connection is bounded.
inline constexpr std::size_t kMaxRequestHeadBytes = 8192;  // line + headers
inline constexpr std::size_t kMaxRequestHeaders = 64;

struct HttpRequest {
  std::string method;     // case-sensitive, as RFC 9110 says
  std::string path;       // the target up to '?', not decoded
  int minor_version = 1;  // HTTP/1.0 or 1.1 (a later 1.x reads as 1.1)
  bool keep_alive = true;
  // In the order sent; names lower-cased, values without surrounding blanks.
  std::vector<std::pair<std::string, std::string>> headers;

  // The first value of a header (name in lower case), or "".
  std::string_view Header(std::string_view lower_name) const;
};

struct ParseResult {
  enum Kind { kIncomplete, kComplete, kError } kind = kIncomplete;
  std::size_t consumed = 0;  // kComplete: bytes of the head, CRLFs included
  int status = 0;            // kError: the status to answer with (4xx/5xx)
  const char* reason = "";   // kError: a short body text
};

// Parses the request head at the start of `data`. kIncomplete means more
// bytes are needed and none of the limits is exceeded yet; anything else
// the caller acts on. Only `out` is written to.
ParseResult ParseRequestHead(std::string_view data, HttpRequest* out);

// The reason phrase of a status code this server sends ("Not Found").
std::string_view ReasonPhrase(int status);

}  // namespace synwatch
