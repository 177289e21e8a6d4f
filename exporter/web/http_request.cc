// SPDX-License-Identifier: Apache-2.0
#include "web/http_request.h"

#include <algorithm>
#include <cctype>

#include "base/text.h"

namespace synwatch {
namespace {

// RFC 9110's tchar: what a method and a header name are made of.
bool IsTokenChar(unsigned char c) {
  if (std::isalnum(c) != 0) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return IsTokenChar(static_cast<unsigned char>(c));
  });
}

// A field value may hold visible characters, blanks and obs-text, never
// other control characters.
bool IsFieldValue(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

ParseResult Error(int status, const char* reason) {
  ParseResult result;
  result.kind = ParseResult::kError;
  result.status = status;
  result.reason = reason;
  return result;
}

// Takes one line off the front of `rest` (LF or CRLF ends it).
std::string_view NextLine(std::string_view& rest) {
  const std::size_t lf = rest.find('\n');
  std::string_view line = rest.substr(0, lf);
  rest =
      lf == std::string_view::npos ? std::string_view() : rest.substr(lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// The request target as a path: origin form ("/metrics?x") or absolute
// form ("http://host:9632/metrics"); "*" stays "*". "" when neither.
std::string_view TargetPath(std::string_view target) {
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (target.size() > scheme.size() &&
        EqualsIgnoringCase(target.substr(0, scheme.size()), scheme)) {
      const std::size_t slash = target.find('/', scheme.size());
      const std::size_t query = target.find('?', scheme.size());
      if (slash == std::string_view::npos || slash > query) return "/";
      target = target.substr(slash);
      break;
    }
  }
  if (target == "*") return target;
  if (target.empty() || target.front() != '/') return {};
  return target.substr(0, target.find('?'));
}

ParseResult ParseRequestLine(std::string_view line, HttpRequest* out) {
  const std::size_t first = line.find(' ');
  const std::size_t second =
      first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos ||
      line.find(' ', second + 1) != std::string_view::npos) {
    return Error(400, "Malformed request line");
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!IsToken(method)) return Error(400, "Malformed method");
  const bool visible = std::all_of(target.begin(), target.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
  const std::string_view path = visible ? TargetPath(target) : "";
  if (path.empty()) return Error(400, "Malformed request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
      std::isdigit(static_cast<unsigned char>(version[5])) == 0 ||
      version[6] != '.' ||
      std::isdigit(static_cast<unsigned char>(version[7])) == 0) {
    return Error(400, "Malformed HTTP version");
  }
  if (version[5] != '1') return Error(505, "HTTP/1.0 and HTTP/1.1 only");
  out->method = method;
  out->path = path;
  // A later HTTP/1.x is read as 1.1 (RFC 9110, 6.2).
  out->minor_version = version[7] == '0' ? 0 : 1;
  return {};
}

// Connection: close / keep-alive, a comma-separated list of options.
bool KeepAlive(const HttpRequest& request) {
  bool keep_alive = request.minor_version >= 1;
  for (const auto& [name, value] : request.headers) {
    if (name != "connection") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view option = TrimBlanks(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view()
                                             : rest.substr(comma + 1);
      if (EqualsIgnoringCase(option, "close")) return false;
      if (EqualsIgnoringCase(option, "keep-alive")) keep_alive = true;
    }
  }
  return keep_alive;
}

}  // namespace

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

ParseResult ParseRequestHead(std::string_view data, HttpRequest* out) {
  // Blank lines before a request line are skipped (RFC 9112, 2.2); they
  // count towards the limit like everything else.
  std::size_t start = 0;
  while (start < data.size() && (data[start] == '\r' || data[start] == '\n')) {
    ++start;
  }
  const std::string_view window =
      data.substr(0, std::min(data.size(), kMaxRequestHeadBytes));
  std::size_t end = std::string_view::npos;  // just past the blank line
  for (std::size_t lf = window.find('\n', start); lf != std::string_view::npos;
       lf = window.find('\n', lf + 1)) {
    if (lf + 1 < window.size() && window[lf + 1] == '\n') {
      end = lf + 2;
      break;
    }
    if (lf + 2 < window.size() && window[lf + 1] == '\r' &&
        window[lf + 2] == '\n') {
      end = lf + 3;
      break;
    }
  }
  if (end == std::string_view::npos) {
    // Garbage (a TLS ClientHello on the plain port, a binary probe) is
    // refused at once rather than after 8 KiB or the timeout.
    const std::string_view line = window.substr(start);
    const std::size_t space = line.find(' ');
    const std::string_view method = line.substr(0, space);
    if (!method.empty() && !IsToken(method)) {
      return Error(400, "Malformed method");
    }
    if (window.size() < kMaxRequestHeadBytes) return {};
    if (window.find('\n', start) == std::string_view::npos) {
      return Error(414, "Request line too long");
    }
    return Error(431, "Request header fields too large");
  }

  HttpRequest request;
  std::string_view rest = window.substr(start, end - start);
  if (const ParseResult line = ParseRequestLine(NextLine(rest), &request);
      line.kind == ParseResult::kError) {
    return line;
  }
  bool seen_length = false;
  for (std::string_view line = NextLine(rest); !line.empty();
       line = NextLine(rest)) {
    if (line.front() == ' ' || line.front() == '\t') {
      return Error(400, "Folded header lines are not accepted");
    }
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || !IsToken(name)) {
      return Error(400, "Malformed header field");
    }
    const std::string_view value = TrimBlanks(line.substr(colon + 1));
    if (!IsFieldValue(value)) return Error(400, "Malformed header value");
    if (request.headers.size() == kMaxRequestHeaders) {
      return Error(431, "Too many header fields");
    }
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    if (lower == "content-length") {
      if (seen_length || value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
          })) {
        return Error(400, "Malformed Content-Length");
      }
      seen_length = true;
      if (value.find_first_not_of('0') != std::string_view::npos) {
        return Error(413, "Request bodies are not accepted");
      }
    } else if (lower == "transfer-encoding") {
      return Error(413, "Request bodies are not accepted");
    }
    request.headers.emplace_back(std::move(lower), value);
  }
  request.keep_alive = KeepAlive(request);
  *out = std::move(request);
  ParseResult result;
  result.kind = ParseResult::kComplete;
  result.consumed = end;
  return result;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace synwatch
