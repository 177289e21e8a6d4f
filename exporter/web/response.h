// SPDX-License-Identifier: Apache-2.0
// An HTTP/1.1 response, head and body, as the server sends it.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "web/http_request.h"

namespace synwatch {

inline constexpr std::string_view kHtml = "text/html; charset=utf-8";
inline constexpr std::string_view kPlain = "text/plain; charset=utf-8";

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Header {
  const char* name;
  std::string_view value;
};

// A complete response: the head, and the body unless the request was HEAD.
struct Response {
  int status = 500;
  std::string head;
  std::string body;
  bool close = false;  // the connection ends after it
};

// The Date header's value (RFC 9110's IMF-fixdate, "Sun, 06 Nov 1994
// 08:49:37 GMT"), formatted once a second per thread.
std::string_view HttpDate();

// Every response has a Content-Length, so the connection can stay open;
// a HEAD request gets the same head and no body. configured: the web
// config's headers, on every response.
Response MakeResponse(const HttpRequest& request, int status,
                      std::string_view content_type, std::string body,
                      std::initializer_list<Header> extra,
                      const HeaderList& configured);

}  // namespace synwatch
