// SPDX-License-Identifier: Apache-2.0
#include "web/web_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "base/text.h"
#include "test_bcrypt.h"
#include "test_certs.h"

namespace synwatch {
namespace {

using testing::BcryptHash;
using testing::MakeCert;
using testing::Pem;

constexpr char kName[] = "/cfg/web.yml";

// Certificates and keys the configs below name, served from memory.
class WebConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Pem(MakeCert("test CA", nullptr, true));
    server_ = new Pem(MakeCert("localhost", ca_, false, {"DNS:localhost"}));
    other_ = new Pem(MakeCert("other", nullptr, false));
    hash_ = new std::string(BcryptHash("secret"));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete server_;
    delete other_;
    delete hash_;
  }

  void SetUp() override {
    files_ = {{"/cfg/cert.pem", server_->cert},
              {"/cfg/key.pem", server_->key},
              {"/cfg/ca.pem", ca_->cert},
              {"/cfg/both.pem", server_->key + server_->cert},
              {"/cfg/other-key.pem", other_->key},
              {"/cfg/junk.pem", "not a certificate\n"}};
  }

  ReadFileFunction Reader() {
    return
        [this](const std::string& path, std::string* text, std::string* error) {
          reads_.push_back(path);
          const auto it = files_.find(path);
          if (it == files_.end()) {
            *error = "No such file or directory";
            return false;
          }
          *text = it->second;
          return true;
        };
  }

  WebSecurityConfig Parse(const std::string& yaml) {
    return ParseWebConfig(yaml, kName, Reader());
  }

  // The one-line error for yaml, or "" when it parses.
  std::string Error(const std::string& yaml) {
    try {
      Parse(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  static Pem* ca_;
  static Pem* server_;
  static Pem* other_;
  static std::string* hash_;
  std::map<std::string, std::string> files_;
  std::vector<std::string> reads_;
};

Pem* WebConfigTest::ca_ = nullptr;
Pem* WebConfigTest::server_ = nullptr;
Pem* WebConfigTest::other_ = nullptr;
std::string* WebConfigTest::hash_ = nullptr;

constexpr char kTls[] =
    "tls_server_config:\n"
    "  cert_file: cert.pem\n"
    "  key_file: key.pem\n";

TEST_F(WebConfigTest, EmptyFileIsPlainHttpWithoutAuth) {
  for (const char* text : {"", "# nothing\n", "---\n", "~\n"}) {
    EXPECT_EQ(Parse(text), WebSecurityConfig{}) << text;
  }
  EXPECT_EQ(Parse("tls_server_config:\nhttp_server_config:\n"
                  "basic_auth_users:\n"),
            WebSecurityConfig{});
}

TEST_F(WebConfigTest, EveryTlsKey) {
  const WebSecurityConfig c = Parse(
      "tls_server_config:\n"
      "  cert_file: cert.pem\n"
      "  key_file: /cfg/key.pem\n"
      "  client_ca_file: ca.pem\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  min_version: TLS11\n"
      "  max_version: TLS12\n"
      "  cipher_suites:\n"
      "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
      "    - TLS_AES_128_GCM_SHA256\n"
      "    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"
      "  curve_preferences: [X25519, CurveP256, CurveP384, CurveP521]\n"
      "  prefer_server_cipher_suites: false\n"
      "  client_allowed_sans: [client.example, 192.0.2.10]\n");
  EXPECT_TRUE(c.tls_enabled);
  EXPECT_EQ(c.tls.cert_pem, server_->cert);
  EXPECT_EQ(c.tls.key_pem, server_->key);
  EXPECT_EQ(c.tls.client_ca_pem, ca_->cert);
  EXPECT_EQ(c.tls.client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(c.tls.min_version, TlsVersion::kTls11);
  EXPECT_EQ(c.tls.max_version, TlsVersion::kTls12);
  // TLS 1.3 suites are not configurable, as in Go: left out.
  EXPECT_EQ(c.tls.cipher_list,
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_EQ(c.tls.groups, "X25519:P-256:P-384:P-521");
  EXPECT_FALSE(c.tls.prefer_server_cipher_suites);
  EXPECT_EQ(c.tls.client_allowed_sans,
            (std::vector<std::string>{"client.example", "192.0.2.10"}));
  // Relative paths are taken from the config file's directory.
  EXPECT_EQ(reads_, (std::vector<std::string>{"/cfg/cert.pem", "/cfg/key.pem",
                                              "/cfg/ca.pem"}));
}

TEST_F(WebConfigTest, TlsDefaults) {
  const WebSecurityConfig c = Parse(kTls);
  EXPECT_TRUE(c.tls_enabled);
  EXPECT_EQ(c.tls.client_auth, ClientAuth::kNoClientCert);
  EXPECT_EQ(c.tls.min_version, TlsVersion::kTls12);
  EXPECT_EQ(c.tls.max_version, TlsVersion::kTls13);
  EXPECT_EQ(c.tls.cipher_list, "");
  EXPECT_EQ(c.tls.groups, "");
  EXPECT_TRUE(c.tls.prefer_server_cipher_suites);
  EXPECT_TRUE(c.tls.client_allowed_sans.empty());
  EXPECT_EQ(c.tls.client_ca_pem, "");
}

TEST_F(WebConfigTest, InlineCertificateKeyAndCa) {
  auto indent = [](const std::string& pem) {
    std::string out;
    for (char ch : pem) {
      out += ch;
      if (ch == '\n') out += "    ";
    }
    return out;
  };
  const WebSecurityConfig c = Parse(
      "tls_server_config:\n  cert: |\n    " + indent(server_->cert) +
      "\n  key: |\n    " + indent(server_->key) + "\n  client_ca: |\n    " +
      indent(ca_->cert) + "\n  client_auth_type: VerifyClientCertIfGiven\n");
  EXPECT_TRUE(c.tls_enabled);
  EXPECT_EQ(c.tls.cert_pem, server_->cert);
  EXPECT_EQ(c.tls.key_pem, server_->key);
  EXPECT_EQ(c.tls.client_ca_pem, ca_->cert);
  EXPECT_TRUE(reads_.empty());
}

TEST_F(WebConfigTest, KeyAndCertificateInOneFile) {
  const WebSecurityConfig c = Parse(
      "tls_server_config:\n  cert_file: both.pem\n  key_file: both.pem\n");
  EXPECT_TRUE(c.tls_enabled);
}

TEST_F(WebConfigTest, ClientAuthTypes) {
  const std::pair<const char*, ClientAuth> cases[] = {
      {"NoClientCert", ClientAuth::kNoClientCert},
      {"RequestClientCert", ClientAuth::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
      {"RequireClientCert", ClientAuth::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
  };
  for (const auto& [name, value] : cases) {
    const WebSecurityConfig c =
        Parse(std::string(kTls) + "  client_auth_type: " + name + "\n");
    EXPECT_EQ(c.tls.client_auth, value) << name;
  }
}

TEST_F(WebConfigTest, VersionsAndVerifyWithoutCaUseSystemTrust) {
  const std::pair<const char*, TlsVersion> cases[] = {
      {"TLS10", TlsVersion::kTls10},
      {"TLS11", TlsVersion::kTls11},
      {"TLS12", TlsVersion::kTls12},
      {"TLS13", TlsVersion::kTls13}};
  for (const auto& [name, value] : cases) {
    const WebSecurityConfig c =
        Parse(std::string(kTls) + "  min_version: " + name +
              "\n  max_version: TLS13\n");
    EXPECT_EQ(c.tls.min_version, value) << name;
  }
  // As in Go: verified against the system's roots.
  const WebSecurityConfig c = Parse(
      std::string(kTls) + "  client_auth_type: RequireAndVerifyClientCert\n");
  EXPECT_EQ(c.tls.client_ca_pem, "");
}

TEST_F(WebConfigTest, TlsSettingsWithoutCertificateLeavePlainHttp) {
  // exporter-toolkit: TLS is on only when a certificate, key, client CA or
  // client_auth_type is set.
  const WebSecurityConfig c =
      Parse("tls_server_config:\n  min_version: TLS13\n  cert_file: \"\"\n");
  EXPECT_FALSE(c.tls_enabled);
  EXPECT_EQ(c.tls.min_version, TlsVersion::kTls13);
}

TEST_F(WebConfigTest, BasicAuthUsers) {
  const std::string other = BcryptHash("other", 5);
  const WebSecurityConfig c = Parse("basic_auth_users:\n  alice: " + *hash_ +
                                    "\n  \"bob smith\": '" + other + "'\n");
  EXPECT_FALSE(c.tls_enabled);
  EXPECT_EQ(c.basic_auth_users, (std::map<std::string, std::string>{
                                    {"alice", *hash_}, {"bob smith", other}}));
}

TEST_F(WebConfigTest, Headers) {
  const WebSecurityConfig c = Parse(
      "http_server_config:\n"
      "  http2: false\n"
      "  headers:\n"
      "    X-Frame-Options: deny\n"
      "    Strict-Transport-Security: max-age=31536000; includeSubDomains\n"
      "    X-Content-Type-Options: nosniff\n"
      "    X-XSS-Protection: \"1; mode=block\"\n"
      "    Content-Security-Policy: default-src 'self'\n");
  EXPECT_EQ(
      c.headers,
      (std::vector<std::pair<std::string, std::string>>{
          {"Content-Security-Policy", "default-src 'self'"},
          {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
          {"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "deny"},
          {"X-XSS-Protection", "1; mode=block"}}));
  EXPECT_EQ(Parse("http_server_config:\n  headers:\n"
                  "    X-Frame-Options: sameorigin\n")
                .headers[0]
                .second,
            "sameorigin");
  EXPECT_NO_THROW(Parse("http_server_config:\n  http2: true\n"));
}

TEST_F(WebConfigTest, Errors) {
  const std::string hash = *hash_;
  const struct {
    std::string yaml;
    std::string error;
  } cases[] = {
      // Structure.
      {"foo: 1\n", "/cfg/web.yml:1: foo: unknown key"},
      {std::string(kTls) + "  foo: bar\n",
       "/cfg/web.yml:4: tls_server_config.foo: unknown key"},
      {"http_server_config:\n  header: {}\n",
       "/cfg/web.yml:2: http_server_config.header: unknown key"},
      {"rate_limit:\n  burst: 1\n",
       "/cfg/web.yml:1: rate_limit: not supported by synwatch "
       "(exporter-toolkit's request rate limit)"},
      {"basic_auth_users:\n  a: " + hash + "\n  a: " + hash + "\n",
       "/cfg/web.yml:3: basic_auth_users.a: duplicate key"},
      {"[1, 2]\n",
       "/cfg/web.yml:1: web config: expected a mapping (tls_server_config, "
       "http_server_config, basic_auth_users), got a list"},
      {"tls_server_config: [1, 2\n",
       "/cfg/web.yml:2: syntax error: end of sequence flow not found"},
      {"tls_server_config: 3\n",
       "/cfg/web.yml:1: tls_server_config: expected a mapping, got a scalar"},
      {"? [a]\n: 1\n",
       "/cfg/web.yml:1: web config: keys must be plain strings, got a list"},
      {"tls_server_config:\n  cert_file: [a]\n",
       "/cfg/web.yml:2: tls_server_config.cert_file: expected a string, got a "
       "list"},
      // TLS.
      {"tls_server_config:\n  key_file: key.pem\n",
       "/cfg/web.yml:1: tls_server_config: missing one of cert or cert_file"},
      {"tls_server_config:\n  cert_file: cert.pem\n",
       "/cfg/web.yml:1: tls_server_config: missing one of key or key_file"},
      {"tls_server_config:\n  client_auth_type: RequireAnyClientCert\n",
       "/cfg/web.yml:1: tls_server_config: missing one of cert or cert_file"},
      {std::string(kTls) + "  cert: x\n",
       "/cfg/web.yml:4: tls_server_config.cert: set either cert_file or cert, "
       "not both"},
      {"tls_server_config:\n  cert_file: missing.pem\n  key_file: key.pem\n",
       "/cfg/web.yml:2: tls_server_config.cert_file: cannot read "
       "/cfg/missing.pem: No such file or directory"},
      {"tls_server_config:\n  cert_file: junk.pem\n  key_file: key.pem\n",
       "/cfg/web.yml:2: tls_server_config.cert_file: no certificate found "
       "(want PEM, \"-----BEGIN CERTIFICATE-----\")"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: junk.pem\n",
       "/cfg/web.yml:3: tls_server_config.key_file: no private key found "
       "(want PEM, \"-----BEGIN PRIVATE KEY-----\")"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: "
       "other-key.pem\n",
       "/cfg/web.yml:3: tls_server_config.key_file: the private key does not "
       "match the certificate"},
      {std::string(kTls) + "  client_ca_file: junk.pem\n  client_auth_type: "
                           "RequireAndVerifyClientCert\n",
       "/cfg/web.yml:4: tls_server_config.client_ca_file: no certificate "
       "found (want PEM, \"-----BEGIN CERTIFICATE-----\")"},
      {std::string(kTls) + "  client_ca_file: ca.pem\n",
       "/cfg/web.yml:4: tls_server_config.client_ca_file: client CAs are set "
       "but client_auth_type is NoClientCert (want RequireAndVerifyClientCert "
       "or VerifyClientCertIfGiven)"},
      {std::string(kTls) + "  client_auth_type: Always\n",
       "/cfg/web.yml:4: tls_server_config.client_auth_type: unknown "
       "client_auth_type \"Always\" (want NoClientCert, RequestClientCert, "
       "RequireAnyClientCert, VerifyClientCertIfGiven or "
       "RequireAndVerifyClientCert)"},
      {std::string(kTls) + "  min_version: TLS1.2\n",
       "/cfg/web.yml:4: tls_server_config.min_version: unknown TLS version "
       "\"TLS1.2\" (want TLS10, TLS11, TLS12 or TLS13)"},
      {std::string(kTls) + "  min_version: TLS13\n  max_version: TLS12\n",
       "/cfg/web.yml:5: tls_server_config.max_version: TLS12 is below "
       "min_version TLS13"},
      {std::string(kTls) + "  max_version: TLS11\n",
       "/cfg/web.yml:4: tls_server_config.max_version: TLS11 is below "
       "min_version TLS12"},
      {std::string(kTls) + "  cipher_suites: [TLS_FOO]\n",
       "/cfg/web.yml:4: tls_server_config.cipher_suites[0]: \"TLS_FOO\": "
       "unknown cipher suite (want a name from Go's tls.CipherSuites(), e.g. "
       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"},
      {std::string(kTls) + "  cipher_suites:\n    - TLS_AES_128_GCM_SHA256\n"
                           "    - TLS_RSA_WITH_RC4_128_SHA\n",
       "/cfg/web.yml:6: tls_server_config.cipher_suites[1]: "
       "\"TLS_RSA_WITH_RC4_128_SHA\": insecure cipher suite (Go lists it in "
       "InsecureCipherSuites; exporter-toolkit refuses it too)"},
      {std::string(kTls) + "  cipher_suites: [TLS_AES_256_GCM_SHA384]\n",
       "/cfg/web.yml:4: tls_server_config.cipher_suites: lists only TLS 1.3 "
       "suites, which cannot be configured (as in Go); list TLS 1.2 suites or "
       "leave cipher_suites out"},
      {std::string(kTls) + "  cipher_suites: TLS_AES_256_GCM_SHA384\n",
       "/cfg/web.yml:4: tls_server_config.cipher_suites: expected a list of "
       "strings, got a scalar"},
      {std::string(kTls) + "  curve_preferences: [CurveP256, P-256]\n",
       "/cfg/web.yml:4: tls_server_config.curve_preferences[1]: unknown curve "
       "\"P-256\" (want CurveP256, CurveP384, CurveP521 or X25519)"},
      {std::string(kTls) + "  prefer_server_cipher_suites: maybe\n",
       "/cfg/web.yml:4: tls_server_config.prefer_server_cipher_suites: "
       "expected true or false"},
      {std::string(kTls) + "  client_auth_type: VerifyClientCertIfGiven\n"
                           "  client_allowed_sans: [a]\n",
       "/cfg/web.yml:5: tls_server_config.client_allowed_sans: needs "
       "client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert"},
      {std::string(kTls) + "  client_allowed_sans: [[a]]\n",
       "/cfg/web.yml:4: tls_server_config.client_allowed_sans[0]: expected a "
       "string, got a list"},
      // Users.
      {"basic_auth_users:\n  alice: secret\n",
       "/cfg/web.yml:2: basic_auth_users.alice: not a bcrypt hash (want "
       "\"$2y$\" followed by the cost, as `htpasswd -nBC 10 USER` writes)"},
      {"basic_auth_users:\n  alice:\n",
       "/cfg/web.yml:2: basic_auth_users.alice: missing bcrypt hash"},
      {"basic_auth_users:\n  alice: " + hash.substr(0, 59) + "\n",
       "/cfg/web.yml:2: basic_auth_users.alice: malformed bcrypt hash (want "
       "60 characters)"},
      {"basic_auth_users:\n  alice: $2y$03$" + hash.substr(7) + "\n",
       "/cfg/web.yml:2: basic_auth_users.alice: bcrypt cost out of range "
       "(04..31)"},
      {"basic_auth_users:\n  \"a:b\": " + hash + "\n",
       "/cfg/web.yml:2: basic_auth_users.\"a:b\": a user name cannot contain "
       "\":\" or control characters"},
      {"basic_auth_users: [alice]\n",
       "/cfg/web.yml:1: basic_auth_users: expected a mapping, got a list"},
      // Headers.
      {"http_server_config:\n  headers:\n    Server: synwatch\n",
       "/cfg/web.yml:3: http_server_config.headers.Server: this header cannot "
       "be set (exporter-toolkit allows Strict-Transport-Security, "
       "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection and "
       "Content-Security-Policy)"},
      {"http_server_config:\n  headers:\n    x-frame-options: deny\n",
       "/cfg/web.yml:3: http_server_config.headers.x-frame-options: this "
       "header cannot be set (exporter-toolkit allows "
       "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
       "X-XSS-Protection and Content-Security-Policy)"},
      {"http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
       "/cfg/web.yml:3: http_server_config.headers.X-Frame-Options: bad value "
       "\"allow\" (want \"deny\" or \"sameorigin\")"},
      {"http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
       "/cfg/web.yml:3: http_server_config.headers.X-Content-Type-Options: "
       "bad value \"sniff\" (want \"nosniff\")"},
      {"http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\r\\nX: "
       "y\"\n",
       "/cfg/web.yml:3: http_server_config.headers.X-XSS-Protection: control "
       "characters in the value"},
      {"http_server_config:\n  headers:\n    X-XSS-Protection:\n",
       "/cfg/web.yml:3: http_server_config.headers.X-XSS-Protection: empty "
       "value"},
      {"http_server_config:\n  http2: sometimes\n",
       "/cfg/web.yml:2: http_server_config.http2: expected true or false"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Error(c.yaml), c.error) << c.yaml;
  }
}

// yaml-cpp ends some messages with the raw character it stopped at, and
// a file name is shown unquoted: the error still is one line (found by
// tests/fuzz/web_config_fuzzer.cc; inputs in tests/fuzz/corpus/web_config/
// crash_*.yml).
TEST_F(WebConfigTest, ErrorsStayOneLine) {
  EXPECT_EQ(Error(std::string("tls_server_config:\0\n", 20)),
            "/cfg/web.yml:2: syntax error: unknown escape character: \\x0a");
  EXPECT_EQ(Error("a: \"\\\x01\"\n"),
            "/cfg/web.yml:1: syntax error: unknown escape character: \\x01");
  EXPECT_EQ(Error("tls_server_config:\n  cert_file: \"a\\x1c\\n.pem\"\n"
                  "  key_file: key.pem\n"),
            "/cfg/web.yml:2: tls_server_config.cert_file: cannot read "
            "/cfg/a\\x1c\\x0a.pem: No such file or directory");
}

TEST_F(WebConfigTest, FirstErrorInTheFileIsReported) {
  EXPECT_EQ(Error("basic_auth_users:\n  a: x\n"
                  "tls_server_config:\n  foo: 1\n"),
            "/cfg/web.yml:2: basic_auth_users.a: not a bcrypt hash (want "
            "\"$2y$\" followed by the cost, as `htpasswd -nBC 10 USER` "
            "writes)");
  EXPECT_EQ(Error("tls_server_config:\n  foo: 1\n"
                  "basic_auth_users:\n  a: x\n"),
            "/cfg/web.yml:2: tls_server_config.foo: unknown key");
}

TEST_F(WebConfigTest, KeyProblemsComeBeforeWhatTheyLeaveMissing) {
  // The misspelt key_file, not the missing key_file, though line 1 comes
  // first.
  EXPECT_EQ(Error("tls_server_config:\n  cert_file: cert.pem\n"
                  "  key_flie: key.pem\n"),
            "/cfg/web.yml:3: tls_server_config.key_flie: unknown key");
  EXPECT_EQ(Error("tls_server_config:\n  cert_file: cert.pem\n"
                  "basic_auth_users:\n  a: x\n"),
            "/cfg/web.yml:4: basic_auth_users.a: not a bcrypt hash (want "
            "\"$2y$\" followed by the cost, as `htpasswd -nBC 10 USER` "
            "writes)");
}

TEST_F(WebConfigTest, ErrorsStayOnOneLine) {
  const std::string error = Error("\"fo\\no\": 1\n");
  EXPECT_EQ(error, "/cfg/web.yml:1: \"fo\\x0ao\": unknown key");
}

TEST_F(WebConfigTest, RelativeNameResolvesAgainstWorkingDirectory) {
  ParseWebConfig(
      "tls_server_config:\n  cert_file: cert.pem\n  key_file: "
      "/cfg/key.pem\n",
      "web.yml",
      [this](const std::string& path, std::string* text, std::string*) {
        reads_.push_back(path);
        *text = path == "cert.pem" ? server_->cert : files_.at(path);
        return true;
      });
  EXPECT_EQ(reads_, (std::vector<std::string>{"cert.pem", "/cfg/key.pem"}));
}

TEST(WebConfigLoadTest, ReadsFilesAndNamesUnreadableOnes) {
  EXPECT_EQ(LoadWebConfig(""), WebSecurityConfig{});
  try {
    LoadWebConfig("/nonexistent/web.yml");
    FAIL() << "loaded a missing file";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/web.yml: cannot read: No such file or directory");
  }
  char path[] = "/tmp/synwatch-web-config-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "basic_auth_users:\n  alice: nope\n";
  ASSERT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(fd);
  try {
    LoadWebConfig(path);
    FAIL() << "loaded a bad file";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string(path) +
                  ":2: basic_auth_users.alice: not a bcrypt hash (want "
                  "\"$2y$\" followed by the cost, as `htpasswd -nBC 10 USER` "
                  "writes)");
  }
  std::remove(path);
}

}  // namespace
}  // namespace synwatch
