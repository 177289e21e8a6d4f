// SPDX-License-Identifier: Apache-2.0
// Content negotiation of /metrics on arbitrary headers. The input is the
// Accept header, a newline, and the Accept-Encoding header (a header value
// cannot hold a newline). Besides not crashing, the answers must follow the
// rules both functions document, checked through transformations whose
// effect is known without re-implementing the parser:
//   - the format is one of the two, with one of the two content types;
//   - no "openmetrics-text" in Accept means the text format;
//   - case and blanks after "," and ";" never matter;
//   - an entry with q=0 never changes the answer, wherever it goes;
//   - an OpenMetrics (gzip) entry at full quality always wins.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "metrics/exposition.h"

namespace synwatch {
namespace {

char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// A blank after every separator: optional whitespace in RFC 9110 terms.
std::string Spaced(std::string_view s) {
  std::string out;
  for (const char c : s) {
    out += c;
    if (c == ',' || c == ';') out += " \t";
  }
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return AsciiLower(haystack).find(needle) != std::string::npos;
}

std::string Detail(std::string_view header) {
  return "header: \"" + std::string(header) + "\"";
}

void CheckNegotiateFormat(std::string_view accept) {
  const ExpositionFormat f = NegotiateFormat(accept);
  const std::string detail = Detail(accept);
  Require(
      f == ExpositionFormat::kText004 || f == ExpositionFormat::kOpenMetrics100,
      "unknown format", detail);
  const std::string_view type = ContentType(f);
  Require(type == (f == ExpositionFormat::kText004
                       ? "text/plain; version=0.0.4; charset=utf-8"
                       : "application/openmetrics-text; version=1.0.0; "
                         "charset=utf-8"),
          "content type does not match the format", detail);
  if (!Contains(accept, "openmetrics-text")) {
    Require(f == ExpositionFormat::kText004,
            "OpenMetrics without asking for it", detail);
  }
  const std::string a(accept);
  Require(NegotiateFormat(AsciiUpper(accept)) == f, "case matters", detail);
  Require(NegotiateFormat(AsciiLower(accept)) == f, "case matters", detail);
  Require(NegotiateFormat(Spaced(accept)) == f, "blanks matter", detail);
  Require(NegotiateFormat("application/openmetrics-text;q=0," + a) == f,
          "a leading q=0 entry changed the format", detail);
  Require(NegotiateFormat(a + ",application/openmetrics-text;q=0") == f,
          "a trailing q=0 entry changed the format", detail);
  Require(NegotiateFormat(a + ",text/plain;version=0.0.4;q=0") == f,
          "a q=0 text entry changed the format", detail);
  Require(NegotiateFormat(a + ",application/openmetrics-text") ==
              ExpositionFormat::kOpenMetrics100,
          "OpenMetrics at q=1 did not win", detail);
  Require(
      NegotiateFormat(a + ",application/openmetrics-text;q=1.0;"
                          "version=1.0.0") == ExpositionFormat::kOpenMetrics100,
      "OpenMetrics 1.0.0 at q=1 did not win", detail);
}

void CheckAcceptsGzip(std::string_view accept_encoding) {
  const bool gzip = AcceptsGzip(accept_encoding);
  const std::string detail = Detail(accept_encoding);
  if (!Contains(accept_encoding, "gzip") &&
      accept_encoding.find('*') == std::string_view::npos) {
    Require(!gzip, "gzip without asking for it", detail);
  }
  const std::string e(accept_encoding);
  Require(AcceptsGzip(AsciiUpper(accept_encoding)) == gzip, "case matters",
          detail);
  Require(AcceptsGzip(AsciiLower(accept_encoding)) == gzip, "case matters",
          detail);
  Require(AcceptsGzip(Spaced(accept_encoding)) == gzip, "blanks matter",
          detail);
  Require(AcceptsGzip("identity;q=0," + e) == gzip,
          "an identity entry changed gzip", detail);
  Require(AcceptsGzip(e + ",br,deflate;q=0.5") == gzip,
          "another coding changed gzip", detail);
  Require(AcceptsGzip(e + ",gzip"), "gzip at q=1 refused", detail);
  Require(AcceptsGzip(e + ",x-gzip;q=1"), "x-gzip at q=1 refused", detail);
}

}  // namespace
}  // namespace synwatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view accept = input.substr(0, newline);
  const std::string_view accept_encoding = newline == std::string_view::npos
                                               ? std::string_view()
                                               : input.substr(newline + 1);
  synwatch::CheckNegotiateFormat(accept);
  synwatch::CheckAcceptsGzip(accept_encoding);
  return 0;
}
