// SPDX-License-Identifier: Apache-2.0
#include "web/response.h"

#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

namespace synwatch {

std::string_view HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                          "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};
  thread_local time_t formatted = -1;
  thread_local char text[64] = {};
  const time_t now = std::time(nullptr);
  if (now != formatted) {
    tm t{};
    gmtime_r(&now, &t);
    std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                  kDays[t.tm_wday % 7], t.tm_mday, kMonths[t.tm_mon % 12],
                  t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
    formatted = now;
  }
  return text;
}

// Every response has a Content-Length, so the connection can stay open;
// a HEAD request gets the same head and no body. configured: the web
// config's headers, on every response.
Response MakeResponse(const HttpRequest& request, int status,
                      std::string_view content_type, std::string body,
                      std::initializer_list<Header> extra,
                      const HeaderList& configured) {
  Response response;
  response.status = status;
  response.close = !request.keep_alive;
  std::string& head = response.head;
  head.reserve(256);
  head += "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += ReasonPhrase(status);
  head += "\r\nDate: ";
  head += HttpDate();
  head += "\r\n";
  for (const auto& [name, value] : configured) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  head.append("Content-Type: ").append(content_type).append("\r\n");
  head.append("Content-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\n");
  for (const Header& header : extra) {
    head.append(header.name).append(": ").append(header.value).append("\r\n");
  }
  if (response.close) {
    head += "Connection: close\r\n";
  } else if (request.minor_version == 0) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  if (request.method != "HEAD") response.body = std::move(body);
  return response;
}

}  // namespace synwatch
