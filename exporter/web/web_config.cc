// SPDX-License-Identifier: Apache-2.0
#include "web/web_config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "base/file.h"
#include "base/text.h"
#include "web/basic_auth.h"

namespace synwatch {
namespace {

// The web config and the files it names are small; anything larger is a
// mistake (--web.config.file /dev/zero), not a certificate.
constexpr size_t kMaxFileBytes = 1 << 20;

// The headers exporter-toolkit lets a web config set, with the values it
// allows ({} = any value).
struct AllowedHeader {
  std::string_view name;
  std::array<std::string_view, 2> values;  // unused slots are ""
};
constexpr AllowedHeader kAllowedHeaders[] = {
    {"Strict-Transport-Security", {}},
    {"X-Content-Type-Options", {"nosniff"}},
    {"X-Frame-Options", {"deny", "sameorigin"}},
    {"X-XSS-Protection", {}},
    {"Content-Security-Policy", {}},
};

struct ClientAuthName {
  std::string_view name;
  ClientAuth value;
};
constexpr ClientAuthName kClientAuthNames[] = {
    {"NoClientCert", ClientAuth::kNoClientCert},
    {"RequestClientCert", ClientAuth::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
    // exporter-toolkit keeps this older name for RequireAnyClientCert.
    {"RequireClientCert", ClientAuth::kRequireAnyClientCert},
    {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
};

// A map key in a key path: bare when it is a plain word, else quoted
// (YAML's plain scalars; config.cc's TomlKeyText follows TOML's).
std::string YamlKeyText(std::string_view key) {
  const bool bare =
      !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
               c == '@';
      });
  return bare ? std::string(key) : QuoteValue(key);
}

std::string_view TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

bool HasControlCharacters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// One map entry: the key's text and line (errors point at keys: a null
// value has no useful position of its own) and the value.
struct Entry {
  std::string key;
  int line = 0;
  YAML::Node value;
};

struct Problem {
  int phase = 0;  // 0: one key is wrong; 1: keys do not fit together
  int line = 0;
  std::string text;  // "KEY: reason"
};

class Parser {
 public:
  Parser(const std::string& name, const ReadFileFunction& read)
      : name_(name), read_(read) {
    const std::filesystem::path parent =
        std::filesystem::path(name).parent_path();
    dir_ = parent.string();
  }

  WebSecurityConfig Parse(const YAML::Node& root) {
    WebSecurityConfig c;
    if (root.IsNull()) return c;  // an empty file: plain HTTP, no auth
    if (!root.IsMap()) {
      Report(Line(root), "web config",
             "expected a mapping (tls_server_config, http_server_config, "
             "basic_auth_users), got " +
                 std::string(TypeName(root)));
      Throw();
    }
    for (const Entry& e : Entries(root, "")) {
      if (e.key == "tls_server_config") {
        ParseTls(e, c);
      } else if (e.key == "http_server_config") {
        ParseHttp(e, c);
      } else if (e.key == "basic_auth_users") {
        ParseUsers(e, c);
      } else if (e.key == "rate_limit") {
        Report(e.line, e.key,
               "not supported by synwatch (exporter-toolkit's request rate "
               "limit)");
      } else {
        Report(e.line, YamlKeyText(e.key), "unknown key");
      }
    }
    Throw();
    return c;
  }

 private:
  static int Line(const YAML::Node& node) {
    return node.Mark().is_null() ? 0 : node.Mark().line + 1;
  }

  // The entries of a mapping in file order; unusable keys and duplicates
  // are reported and left out.
  std::vector<Entry> Entries(const YAML::Node& map, const std::string& path) {
    std::vector<Entry> out;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const int line = Line(it->first);
      if (!it->first.IsScalar()) {
        Report(line, path.empty() ? "web config" : path,
               "keys must be plain strings, got " +
                   std::string(TypeName(it->first)));
        continue;
      }
      std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        Report(line, Join(path, YamlKeyText(key)), "duplicate key");
        continue;
      }
      out.push_back({std::move(key), line, it->second});
    }
    return out;
  }

  // A mapping value, or nullopt (null: treated as absent; else reported).
  std::optional<std::vector<Entry>> Map(const Entry& e,
                                        const std::string& path) {
    if (e.value.IsNull()) return std::nullopt;
    if (!e.value.IsMap()) {
      Report(e.line, path,
             "expected a mapping, got " + std::string(TypeName(e.value)));
      return std::nullopt;
    }
    return Entries(e.value, path);
  }

  // A scalar as text, or nullopt (null: absent, as in Go; else reported).
  std::optional<std::string> String(const Entry& e, const std::string& path) {
    if (e.value.IsNull()) return std::nullopt;
    if (!e.value.IsScalar()) {
      Report(e.line, path,
             "expected a string, got " + std::string(TypeName(e.value)));
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  void Bool(const Entry& e, const std::string& path, bool* out) {
    if (e.value.IsNull()) return;
    bool value = false;
    if (!e.value.IsScalar() || !YAML::convert<bool>::decode(e.value, value)) {
      Report(e.line, path, "expected true or false");
      return;
    }
    *out = value;
  }

  // A list of strings with each element's line; nullopt when absent or
  // not a list of strings (reported).
  std::optional<std::vector<std::pair<std::string, int>>> Strings(
      const Entry& e, const std::string& path) {
    if (e.value.IsNull()) return std::nullopt;
    if (!e.value.IsSequence()) {
      Report(
          e.line, path,
          "expected a list of strings, got " + std::string(TypeName(e.value)));
      return std::nullopt;
    }
    std::vector<std::pair<std::string, int>> out;
    bool ok = true;
    for (size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node item = e.value[i];
      const int line = Line(item) > 0 ? Line(item) : e.line;
      if (!item.IsScalar()) {
        Report(line, path + "[" + std::to_string(i) + "]",
               "expected a string, got " + std::string(TypeName(item)));
        ok = false;
        continue;
      }
      out.emplace_back(item.Scalar(), line);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // Reads a file the config names; relative paths are taken from the
  // config file's directory.
  std::optional<std::string> File(const std::string& path, int line,
                                  const std::string& key) {
    std::string full = path;
    if (!full.empty() && full[0] != '/' && !dir_.empty()) {
      full = (std::filesystem::path(dir_) / path).string();
    }
    std::string text;
    std::string error;
    if (!read_(full, &text, &error)) {
      Report(line, key,
             "cannot read " + EscapeControlCharacters(full) + ": " + error);
      return std::nullopt;
    }
    return text;
  }

  void ParseTls(const Entry& section, WebSecurityConfig& c) {
    const std::string base = "tls_server_config";
    const auto entries = Map(section, base);
    if (!entries) return;
    TlsSettings& tls = c.tls;
    // Where each key sits, for the checks that combine keys.
    std::map<std::string, int> lines;
    std::map<std::string, std::string> text;
    for (const Entry& e : *entries) {
      const std::string path = Join(base, YamlKeyText(e.key));
      lines[e.key] = e.line;
      if (e.key == "cert_file" || e.key == "key_file" ||
          e.key == "client_ca_file" || e.key == "cert" || e.key == "key" ||
          e.key == "client_ca") {
        if (auto value = String(e, path)) text[e.key] = *value;
      } else if (e.key == "client_auth_type") {
        if (auto value = String(e, path)) {
          text[e.key] = *value;
          if (!value->empty()) ParseClientAuth(*value, e.line, path, tls);
        }
      } else if (e.key == "min_version" || e.key == "max_version") {
        if (auto value = String(e, path)) {
          TlsVersion* out =
              e.key == "min_version" ? &tls.min_version : &tls.max_version;
          if (!ParseTlsVersion(*value, out)) {
            Report(e.line, path,
                   "unknown TLS version " + QuoteValue(*value) +
                       " (want TLS10, TLS11, TLS12 or TLS13)");
          }
        }
      } else if (e.key == "cipher_suites") {
        ParseCiphers(e, path, tls);
      } else if (e.key == "curve_preferences") {
        if (auto curves = Strings(e, path)) {
          std::string groups;
          for (size_t i = 0; i < curves->size(); ++i) {
            const auto& [name, line] = (*curves)[i];
            std::string group;
            if (!MapGoCurve(name, &group)) {
              Report(line, path + "[" + std::to_string(i) + "]",
                     "unknown curve " + QuoteValue(name) +
                         " (want CurveP256, CurveP384, CurveP521 or X25519)");
              continue;
            }
            groups += (groups.empty() ? "" : ":") + group;
          }
          tls.groups = groups;
        }
      } else if (e.key == "prefer_server_cipher_suites") {
        Bool(e, path, &tls.prefer_server_cipher_suites);
      } else if (e.key == "client_allowed_sans") {
        if (auto sans = Strings(e, path)) {
          for (const auto& [san, line] : *sans) {
            tls.client_allowed_sans.push_back(san);
          }
        }
      } else {
        Report(e.line, path, "unknown key");
      }
    }

    // A misspelt or mistyped key explains more than what it leaves missing:
    // the checks across keys rank after every problem of a single key.
    phase_ = 1;
    CheckTls(section, base, lines, text, c);
    phase_ = 0;
  }

  void ParseClientAuth(const std::string& name, int line,
                       const std::string& path, TlsSettings& tls) {
    const auto it =
        std::find_if(std::begin(kClientAuthNames), std::end(kClientAuthNames),
                     [&](const ClientAuthName& n) { return n.name == name; });
    if (it == std::end(kClientAuthNames)) {
      Report(line, path,
             "unknown client_auth_type " + QuoteValue(name) +
                 " (want NoClientCert, RequestClientCert, "
                 "RequireAnyClientCert, VerifyClientCertIfGiven or "
                 "RequireAndVerifyClientCert)");
    } else {
      tls.client_auth = it->value;
    }
  }

  // The checks that combine keys of tls_server_config, and the files.
  void CheckTls(const Entry& section, const std::string& base,
                std::map<std::string, int>& lines,
                std::map<std::string, std::string>& text,
                WebSecurityConfig& c) {
    TlsSettings& tls = c.tls;
    auto has = [&](const std::string& key) {
      const auto it = text.find(key);
      return it != text.end() && !it->second.empty();
    };
    if (tls.min_version > tls.max_version && lines.count("max_version") != 0) {
      Report(lines["max_version"], base + ".max_version",
             std::string(ToString(tls.max_version)) + " is below min_version " +
                 std::string(ToString(tls.min_version)));
    } else if (tls.min_version > tls.max_version) {
      Report(lines["min_version"], base + ".min_version",
             std::string(ToString(tls.min_version)) + " is above max_version " +
                 std::string(ToString(tls.max_version)));
    }
    if (!tls.client_allowed_sans.empty() &&
        tls.client_auth != ClientAuth::kRequireAnyClientCert &&
        tls.client_auth != ClientAuth::kRequireAndVerifyClientCert) {
      Report(lines["client_allowed_sans"], base + ".client_allowed_sans",
             "needs client_auth_type RequireAnyClientCert or "
             "RequireAndVerifyClientCert");
    }

    c.tls_enabled = has("cert_file") || has("cert") || has("key_file") ||
                    has("key") || has("client_ca_file") || has("client_ca") ||
                    has("client_auth_type");
    if (!c.tls_enabled) return;

    // PEM from a file or inline; one or the other.
    auto pem = [&](const std::string& file_key, const std::string& inline_key,
                   std::string* out) -> int {
      if (has(file_key) && has(inline_key)) {
        Report(lines[inline_key], base + "." + inline_key,
               "set either " + file_key + " or " + inline_key + ", not both");
        return 0;
      }
      if (has(inline_key)) {
        *out = text[inline_key];
        return lines[inline_key];
      }
      if (has(file_key)) {
        if (auto data =
                File(text[file_key], lines[file_key], base + "." + file_key)) {
          *out = *data;
          return lines[file_key];
        }
      }
      return 0;
    };
    const int cert_line = pem("cert_file", "cert", &tls.cert_pem);
    const int key_line = pem("key_file", "key", &tls.key_pem);
    const int ca_line = pem("client_ca_file", "client_ca", &tls.client_ca_pem);
    auto where = [&](const std::string& file_key, const std::string& key) {
      return base + "." + (has(file_key) ? file_key : key);
    };
    if (!has("cert_file") && !has("cert")) {
      Report(section.line, base, "missing one of cert or cert_file");
    } else if (cert_line > 0) {
      const std::string error = CheckCertificatePem(tls.cert_pem);
      if (!error.empty()) Report(cert_line, where("cert_file", "cert"), error);
    }
    if (!has("key_file") && !has("key")) {
      Report(section.line, base, "missing one of key or key_file");
    } else if (key_line > 0) {
      std::string error = CheckPrivateKeyPem(tls.key_pem);
      if (error.empty() && cert_line > 0 &&
          CheckCertificatePem(tls.cert_pem).empty()) {
        error = CheckKeyPair(tls.cert_pem, tls.key_pem);
      }
      if (!error.empty()) Report(key_line, where("key_file", "key"), error);
    }
    if (ca_line > 0) {
      const std::string error = CheckCaBundlePem(tls.client_ca_pem);
      if (!error.empty()) {
        Report(ca_line, where("client_ca_file", "client_ca"), error);
      } else if (tls.client_auth == ClientAuth::kNoClientCert) {
        Report(ca_line, where("client_ca_file", "client_ca"),
               "client CAs are set but client_auth_type is NoClientCert (want "
               "RequireAndVerifyClientCert or VerifyClientCertIfGiven)");
      }
    }
  }

  void ParseCiphers(const Entry& e, const std::string& path, TlsSettings& tls) {
    const auto names = Strings(e, path);
    if (!names) return;
    std::string list;
    bool ok = true;
    for (size_t i = 0; i < names->size(); ++i) {
      const auto& [name, line] = (*names)[i];
      const std::string item = path + "[" + std::to_string(i) + "]";
      std::string openssl;
      bool tls13 = false;
      std::string error;
      if (!MapGoCipherSuite(name, &openssl, &tls13, &error)) {
        Report(line, item, QuoteValue(name) + ": " + error);
        ok = false;
        continue;
      }
      if (tls13) continue;  // not configurable, as in Go
      error = CheckCipherList(openssl);
      if (!error.empty()) {
        std::string reason = name;
        reason.append(" (OpenSSL ").append(openssl).append("): ").append(error);
        Report(line, item, reason);
        ok = false;
        continue;
      }
      list += (list.empty() ? "" : ":") + openssl;
    }
    if (ok && !names->empty() && list.empty()) {
      Report(e.line, path,
             "lists only TLS 1.3 suites, which cannot be configured (as in "
             "Go); list TLS 1.2 suites or leave cipher_suites out");
      return;
    }
    if (ok) tls.cipher_list = list;
  }

  void ParseHttp(const Entry& section, WebSecurityConfig& c) {
    const std::string base = "http_server_config";
    const auto entries = Map(section, base);
    if (!entries) return;
    for (const Entry& e : *entries) {
      const std::string path = Join(base, YamlKeyText(e.key));
      if (e.key == "http2") {
        // Accepted for compatibility: synwatch speaks HTTP/1.1 only.
        bool ignored = true;
        Bool(e, path, &ignored);
      } else if (e.key == "headers") {
        ParseHeaders(e, path, c);
      } else {
        Report(e.line, path, "unknown key");
      }
    }
  }

  void ParseHeaders(const Entry& section, const std::string& base,
                    WebSecurityConfig& c) {
    const auto entries = Map(section, base);
    if (!entries) return;
    std::map<std::string, std::string> headers;
    for (const Entry& e : *entries) {
      const std::string path = Join(base, YamlKeyText(e.key));
      const auto allowed =
          std::find_if(std::begin(kAllowedHeaders), std::end(kAllowedHeaders),
                       [&](const AllowedHeader& h) { return h.name == e.key; });
      if (allowed == std::end(kAllowedHeaders)) {
        Report(e.line, path,
               "this header cannot be set (exporter-toolkit allows "
               "Strict-Transport-Security, X-Content-Type-Options, "
               "X-Frame-Options, X-XSS-Protection and "
               "Content-Security-Policy)");
        continue;
      }
      const auto value = String(e, path);
      if (!value) {
        if (e.value.IsNull()) Report(e.line, path, "empty value");
        continue;
      }
      if (HasControlCharacters(*value)) {
        Report(e.line, path, "control characters in the value");
        continue;
      }
      if (!allowed->values[0].empty() &&
          std::find(allowed->values.begin(), allowed->values.end(), *value) ==
              allowed->values.end()) {
        std::string want;
        for (std::string_view v : allowed->values) {
          if (!v.empty()) want += (want.empty() ? "" : " or ") + QuoteValue(v);
        }
        Report(e.line, path,
               "bad value " + QuoteValue(*value) + " (want " + want + ")");
        continue;
      }
      headers[e.key] = *value;
    }
    c.headers.assign(headers.begin(), headers.end());
  }

  void ParseUsers(const Entry& section, WebSecurityConfig& c) {
    const std::string base = "basic_auth_users";
    const auto entries = Map(section, base);
    if (!entries) return;
    for (const Entry& e : *entries) {
      const std::string path = Join(base, YamlKeyText(e.key));
      if (e.key.find(':') != std::string::npos || HasControlCharacters(e.key)) {
        // Basic auth splits user and password at the first colon.
        Report(e.line, path,
               "a user name cannot contain \":\" or control characters");
        continue;
      }
      const auto hash = String(e, path);
      if (!hash) {
        if (e.value.IsNull()) Report(e.line, path, "missing bcrypt hash");
        continue;
      }
      const std::string error = CheckBcryptHash(*hash);
      if (!error.empty()) {
        Report(e.line, path, error);
        continue;
      }
      c.basic_auth_users[e.key] = *hash;
    }
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  void Report(int line, const std::string& key, const std::string& reason) {
    problems_.push_back({phase_, line, key + ": " + reason});
  }

  // The first problem in the file (of the earliest phase), as one line.
  void Throw() {
    if (problems_.empty()) return;
    const auto first = std::min_element(problems_.begin(), problems_.end(),
                                        [](const Problem& a, const Problem& b) {
                                          return std::pair(a.phase, a.line) <
                                                 std::pair(b.phase, b.line);
                                        });
    const std::string where =
        first->line > 0 ? name_ + ":" + std::to_string(first->line) : name_;
    throw ConfigError(where + ": " + first->text);
  }

  const std::string& name_;
  const ReadFileFunction& read_;
  std::string dir_;
  int phase_ = 0;  // of the problems reported now
  std::vector<Problem> problems_;
};

}  // namespace

bool ReadSmallFile(const std::string& path, std::string* text,
                   std::string* error) {
  return ReadWholeFile(path, kMaxFileBytes, text, error);
}

WebSecurityConfig ParseWebConfig(std::string_view text, const std::string& name,
                                 const ReadFileFunction& read) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    const std::string where =
        e.mark.is_null() ? name : name + ":" + std::to_string(e.mark.line + 1);
    throw ConfigError(where +
                      ": syntax error: " + EscapeControlCharacters(e.msg));
  }
  try {
    return Parser(name, read).Parse(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp can still throw while walking (a bad alias, say).
    throw ConfigError(name + ": " + EscapeControlCharacters(e.msg));
  }
}

WebSecurityConfig LoadWebConfig(const std::string& path,
                                const ReadFileFunction& read) {
  if (path.empty()) return {};
  std::string text;
  std::string error;
  if (!read(path, &text, &error)) {
    throw ConfigError(path + ": cannot read: " + error);
  }
  return ParseWebConfig(text, path, read);
}

}  // namespace synwatch
