// SPDX-License-Identifier: Apache-2.0
// TLS for the HTTP endpoint: the names of exporter-toolkit's web config
// (Go's cipher suite, curve and version names) mapped to OpenSSL, PEM checks
// for the config loader, and the server context every connection is made
// from, whose settings can be replaced while it serves. The HTTP server
// (http_server.cc) does the TLS I/O with OpenSSL directly.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace synwatch {

// exporter-toolkit's client_auth_type values, with Go's semantics.
enum class ClientAuth {
  kNoClientCert,                // no certificate asked for
  kRequestClientCert,           // asked for, not required, not verified
  kRequireAnyClientCert,        // required, not verified
  kVerifyClientCertIfGiven,     // not required, verified when sent
  kRequireAndVerifyClientCert,  // required and verified
};

// Protocol versions, with their wire values (OpenSSL's TLS1_x_VERSION).
enum class TlsVersion : int {
  kTls10 = 0x0301,
  kTls11 = 0x0302,
  kTls12 = 0x0303,
  kTls13 = 0x0304,
};

// tls_server_config, resolved: PEM text rather than paths (the loader reads
// the files), OpenSSL names rather than Go's.
struct TlsSettings {
  std::string cert_pem;       // leaf first, then any intermediates
  std::string key_pem;        // unencrypted
  std::string client_ca_pem;  // "" = the system's trust store when verifying
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // OpenSSL cipher list for TLS 1.0-1.2, e.g. "ECDHE-RSA-AES128-GCM-SHA256";
  // "" = Go's default list (ECDHE with AES-GCM, ChaCha20-Poly1305, then
  // AES-CBC-SHA). TLS 1.3 suites are not configurable, as in Go.
  std::string cipher_list;
  std::string groups;  // e.g. "X25519:P-256"; "" = OpenSSL's default
  bool prefer_server_cipher_suites = true;
  // The client certificate must carry one of these (DNS name, e-mail
  // address, IP address or URI); empty = no check.
  std::vector<std::string> client_allowed_sans;

  bool operator==(const TlsSettings&) const = default;
};

// Go's name for a protocol version ("TLS12"); false if unknown.
bool ParseTlsVersion(std::string_view go_name, TlsVersion* out);
std::string_view ToString(TlsVersion version);

// Maps one of Go's tls.CipherSuites() names to OpenSSL's. Returns false and
// sets *error for a name exporter-toolkit refuses. *tls13 is set for the
// TLS 1.3 suites, which Go accepts but does not let anyone configure (the
// caller ignores them, as Go does).
bool MapGoCipherSuite(std::string_view go_name, std::string* openssl_name,
                      bool* tls13, std::string* error);

// Maps exporter-toolkit's curve names ("CurveP256", "X25519") to OpenSSL's
// group names ("P-256").
bool MapGoCurve(std::string_view go_name, std::string* openssl_name);

// PEM checks for the loader: "" when fine, else a short reason.
std::string CheckCertificatePem(std::string_view pem);
std::string CheckPrivateKeyPem(std::string_view pem);
std::string CheckKeyPair(std::string_view cert_pem, std::string_view key_pem);
// Every certificate in a client CA bundle, checked for how an OpenSSL store
// takes it.
std::string CheckCaBundlePem(std::string_view pem);
// OpenSSL's view of a cipher list for TLS 1.0-1.2 ("" when it has ciphers).
std::string CheckCipherList(const std::string& list);

// The SSL_CTX every connection is made from. Its own settings are
// fixed (no renegotiation, no compression, no session resumption, so a
// client cannot resume a session made under settings that were replaced);
// at each ClientHello the connection takes the settings in force then.
class TlsServerContext {
 public:
  // Throws std::runtime_error when OpenSSL refuses the settings.
  explicit TlsServerContext(const TlsSettings& settings);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // The SSL_CTX* (void*: OpenSSL stays out of this header). Owned here.
  void* ssl_ctx() const;

  // New settings for handshakes that start from now on; connections that
  // are already established keep theirs. Throws std::runtime_error and keeps
  // the previous settings when OpenSSL refuses the new ones.
  void Update(const TlsSettings& settings);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synwatch
