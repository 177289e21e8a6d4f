// SPDX-License-Identifier: Apache-2.0
// The web config loader (ParseWebConfig: exporter-toolkit YAML) on arbitrary
// text, with the certificates and keys it names served from memory. Every
// input must either load or fail with a ConfigError of one line that names
// the file. A config that loads must be one the server can run, as
// web_config.h promises: its TLS settings build a server context, its users
// a BasicAuth, every header it adds is an allowed one with a value that
// cannot split a response, and the TLS keys agree with each other.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/text.h"
#include "fuzz_check.h"
#include "test_certs.h"
#include "web/basic_auth.h"
#include "web/tls.h"
#include "web/web_config.h"

namespace synwatch {
namespace {

constexpr char kName[] = "/cfg/web.yml";

// The files a config may name (relative names are read from /cfg), made
// once per process: a CA, a server certificate it signed, an unrelated
// self-signed pair, and files that are not what their names say.
const std::map<std::string, std::string>& Files() {
  static const auto* files = [] {
    const testing::Pem ca = testing::MakeCert("fuzz CA", nullptr, true);
    const testing::Pem server =
        testing::MakeCert("localhost", &ca, false, {"DNS:localhost"});
    const testing::Pem other = testing::MakeCert("other", nullptr, false);
    return new std::map<std::string, std::string>{
        {"/cfg/cert.pem", server.cert},
        {"/cfg/key.pem", server.key},
        {"/cfg/ca.pem", ca.cert},
        {"/cfg/both.pem", server.key + server.cert},
        {"/cfg/other-cert.pem", other.cert},
        {"/cfg/other-key.pem", other.key},
        {"/cfg/empty.pem", ""},
        {"/cfg/junk.pem", "not a certificate\n"}};
  }();
  return *files;
}

bool ReadFromMemory(const std::string& path, std::string* text,
                    std::string* error) {
  const auto it = Files().find(path);
  if (it == Files().end()) {
    *error = "No such file or directory";
    return false;
  }
  *text = it->second;
  return true;
}

bool HasControlCharacters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

void CheckTls(const WebSecurityConfig& c) {
  const TlsSettings& tls = c.tls;
  Require(tls.min_version <= tls.max_version, "min_version above max_version");
  if (!tls.client_allowed_sans.empty()) {
    Require(tls.client_auth == ClientAuth::kRequireAnyClientCert ||
                tls.client_auth == ClientAuth::kRequireAndVerifyClientCert,
            "client_allowed_sans without a required client certificate");
  }
  if (!tls.cipher_list.empty()) {
    Require(CheckCipherList(tls.cipher_list).empty(), "cipher list refused",
            tls.cipher_list);
  }
  if (!c.tls_enabled) {
    Require(tls.cert_pem.empty() && tls.key_pem.empty() &&
                tls.client_ca_pem.empty() &&
                tls.client_auth == ClientAuth::kNoClientCert,
            "TLS material without TLS");
    return;
  }
  Require(!tls.cert_pem.empty() && !tls.key_pem.empty(),
          "TLS without a certificate and key");
  Require(CheckCertificatePem(tls.cert_pem).empty(), "bad certificate",
          CheckCertificatePem(tls.cert_pem));
  Require(CheckPrivateKeyPem(tls.key_pem).empty(), "bad key",
          CheckPrivateKeyPem(tls.key_pem));
  Require(CheckKeyPair(tls.cert_pem, tls.key_pem).empty(),
          "key does not match the certificate");
  if (!tls.client_ca_pem.empty()) {
    Require(CheckCaBundlePem(tls.client_ca_pem).empty(), "bad client CAs");
    Require(tls.client_auth != ClientAuth::kNoClientCert,
            "client CAs without client certificates");
  }
  try {
    TlsServerContext context(tls);
  } catch (const std::exception& e) {
    Fail("loaded TLS settings that OpenSSL refuses", e.what());
  }
}

void CheckUsers(const WebSecurityConfig& c) {
  for (const auto& [user, hash] : c.basic_auth_users) {
    Require(user.find(':') == std::string::npos && !HasControlCharacters(user),
            "user name that basic auth cannot carry", user);
    Require(CheckBcryptHash(hash).empty(), "bad bcrypt hash", hash);
  }
  try {
    BasicAuth auth(c.basic_auth_users);
    Require(auth.enabled() == !c.basic_auth_users.empty(),
            "basic auth on without users, or off with them");
  } catch (const std::exception& e) {
    Fail("loaded users that BasicAuth refuses", e.what());
  }
}

void CheckHeaders(const WebSecurityConfig& c) {
  const std::map<std::string_view, std::string_view> allowed = {
      {"Strict-Transport-Security", ""},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "deny|sameorigin"},
      {"X-XSS-Protection", ""},
      {"Content-Security-Policy", ""}};
  for (size_t i = 0; i < c.headers.size(); ++i) {
    const auto& [name, value] = c.headers[i];
    if (i > 0) {
      Require(c.headers[i - 1].first < name, "headers not sorted and unique",
              name);
    }
    const auto it = allowed.find(name);
    Require(it != allowed.end(), "header exporter-toolkit does not allow",
            name);
    // CR or LF in a value would let the file split responses.
    Require(!HasControlCharacters(value), "control characters in a header",
            name);
    if (!it->second.empty()) {
      const std::string values = "|" + std::string(it->second) + "|";
      Require(values.find("|" + value + "|") != std::string::npos,
              "header value exporter-toolkit does not allow", value);
    }
  }
}

}  // namespace
}  // namespace synwatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using synwatch::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  synwatch::WebSecurityConfig config;
  try {
    config = synwatch::ParseWebConfig(text, synwatch::kName,
                                      synwatch::ReadFromMemory);
  } catch (const synwatch::ConfigError& e) {
    const std::string_view what = e.what();
    Require(what.starts_with(std::string(synwatch::kName) + ":"),
            "error does not name the file", what);
    Require(std::none_of(what.begin(), what.end(),
                         [](char c) {
                           const auto u = static_cast<unsigned char>(c);
                           return u < 0x20 || u == 0x7f;
                         }),
            "error is not one line of text", what);
    return 0;
  }
  synwatch::CheckTls(config);
  synwatch::CheckUsers(config);
  synwatch::CheckHeaders(config);
  Require(synwatch::ParseWebConfig(text, synwatch::kName,
                                   synwatch::ReadFromMemory) == config,
          "the same text loads differently");
  return 0;
}
