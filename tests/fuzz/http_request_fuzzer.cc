// SPDX-License-Identifier: Apache-2.0
// The HTTP request head parser on arbitrary bytes, as any client can send
// them. Besides not crashing, the answer must follow what the parser
// documents:
//   - an error is one of the statuses it may send, with a reason;
//   - a complete head ends at the first blank line, within the 8 KiB limit,
//     and gives a token method, a path that is "/..." or "*", lower-case
//     token header names, at most kMaxRequestHeaders of them, and no
//     control characters in values;
//   - bytes after a complete head (a pipelined request) change nothing;
//   - every shorter cut of a complete head is incomplete, never an error;
//     an error stays an error when more bytes arrive.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "web/http_request.h"

namespace synwatch {
namespace {

// RFC 9110's token: visible ASCII except the delimiters.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(c) !=
            std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsLowerToken(std::string_view s) {
  return IsToken(s) && s.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
                           std::string_view::npos;
}

bool SameRequest(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.path == b.path &&
         a.minor_version == b.minor_version && a.keep_alive == b.keep_alive &&
         a.headers == b.headers;
}

std::string Detail(std::string_view input) {
  std::string out = "input (" + std::to_string(input.size()) + " bytes): \"";
  for (const char c : input.substr(0, 512)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out + "\"";
}

void Check(std::string_view input) {
  HttpRequest request;
  const ParseResult result = ParseRequestHead(input, &request);
  const std::string detail = Detail(input);
  switch (result.kind) {
    case ParseResult::kError:
      Require(result.status == 400 || result.status == 413 ||
                  result.status == 414 || result.status == 431 ||
                  result.status == 505,
              "unexpected status", detail);
      Require(result.reason != nullptr && result.reason[0] != '\0',
              "error without a reason", detail);
      for (const std::string_view more :
           {"\r\n\r\n", "GET / HTTP/1.1\r\n\r\n"}) {
        HttpRequest again;
        const ParseResult longer =
            ParseRequestHead(std::string(input) + std::string(more), &again);
        Require(longer.kind == ParseResult::kError &&
                    longer.status == result.status,
                "more bytes turned an error into something else", detail);
      }
      return;
    case ParseResult::kIncomplete:
      Require(input.size() < kMaxRequestHeadBytes,
              "incomplete past the size limit", detail);
      return;
    case ParseResult::kComplete:
      break;
  }
  const std::size_t end = result.consumed;
  Require(end >= 2 && end <= input.size() && end <= kMaxRequestHeadBytes,
          "consumed out of range", detail);
  const std::string_view head = input.substr(0, end);
  Require(head.substr(end - 2) == "\n\n" ||
              (end >= 3 && head.substr(end - 3) == "\n\r\n"),
          "head does not end with a blank line", detail);
  Require(IsToken(request.method), "method is not a token", detail);
  Require(request.path == "*" ||
              (!request.path.empty() && request.path.front() == '/'),
          "path is neither /... nor *", detail);
  Require(request.path.find('?') == std::string::npos, "path keeps the query",
          detail);
  Require(request.minor_version == 0 || request.minor_version == 1,
          "HTTP version other than 1.0 or 1.1", detail);
  Require(request.headers.size() <= kMaxRequestHeaders, "too many headers",
          detail);
  for (const auto& [name, value] : request.headers) {
    Require(IsLowerToken(name), "header name not a lower-case token", detail);
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      Require((u >= 0x20 && u != 0x7f) || c == '\t',
              "control character in a header value", detail);
    }
    Require(value.empty() || (value.front() != ' ' && value.back() != ' '),
            "header value not trimmed", detail);
    Require(name != "transfer-encoding", "a body was accepted", detail);
  }

  // A pipelined request after the head changes nothing.
  HttpRequest with_next;
  const ParseResult pipelined = ParseRequestHead(
      std::string(head) + "GET /next HTTP/1.1\r\n\r\n", &with_next);
  Require(pipelined.kind == ParseResult::kComplete &&
              pipelined.consumed == end && SameRequest(with_next, request),
          "bytes after the head changed the result", detail);
  // Cut anywhere before its end, the head is waiting for more bytes.
  for (std::size_t cut = 0; cut < end; cut += 1 + end / 16) {
    HttpRequest partial;
    const ParseResult shorter = ParseRequestHead(head.substr(0, cut), &partial);
    Require(shorter.kind == ParseResult::kIncomplete,
            "a cut of a valid head is not incomplete at " + std::to_string(cut),
            detail);
  }
}

}  // namespace
}  // namespace synwatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  synwatch::Check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
