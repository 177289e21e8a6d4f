// SPDX-License-Identifier: Apache-2.0
// Small string helpers used by more than one room, and the error type of
// the configuration layer (docs/architecture.md, "Errors").
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace synwatch {

// A config that cannot be used. what() is one line that names the file, the
// line and the key: "/etc/synwatch/synwatch.toml:12: rules.deny[1]: bad CIDR
// "192.0.2.0/33": prefix length out of range".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// For error messages about text from a file, so that a message stays on one
// line whatever the file holds: control characters as \xNN (file names,
// parser messages shown bare), and a value quoted with '"' and '\' escaped.
std::string EscapeControlCharacters(std::string_view text);
std::string QuoteValue(std::string_view text);

// For HTTP header field values (web/http_request.cc, the Accept and
// Accept-Encoding parsing in metrics/exposition.cc): ASCII case-insensitive
// equality, and a value without its leading and trailing blanks (space, tab).
// "&<>\"'" escaped for HTML text and attribute values.
void AppendHtmlText(std::string& out, std::string_view s);

bool EqualsIgnoringCase(std::string_view a, std::string_view b);
std::string_view TrimBlanks(std::string_view s);

}  // namespace synwatch
