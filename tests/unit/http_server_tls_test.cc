// SPDX-License-Identifier: Apache-2.0
// The HTTP server with a web config: TLS, client certificates, basic auth,
// headers, and reloads of all of them, against an OpenSSL client.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "http_response.h"
#include "test_bcrypt.h"
#include "test_certs.h"
#include "web/http_server.h"
#include "web/web_config.h"

namespace synwatch {
namespace {

using testing::BcryptHash;
using testing::MakeCert;
using testing::Pem;

using testing::ParseResponseHead;
using testing::Response;

struct ClientOptions {
  bool tls = true;
  std::string ca_pem;             // trusted for the server's certificate
  const Pem* identity = nullptr;  // client certificate
  int max_version = 0;
  std::string cipher_list;    // OpenSSL's names for TLS 1.2; "" = default
  std::string authorization;  // "Basic ..." or ""
};

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  timeval timeout{};
  timeout.tv_sec = 10;  // a hung server fails the test, not the run
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    throw std::runtime_error("connect");
  }
  return fd;
}

void AddCertificates(X509_STORE* store, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
}

// One request over a new connection, HTTPS or plain. Throws when the
// connection, the handshake or the response fails.
Response Fetch(int port, std::string_view path, const ClientOptions& options) {
  const int fd = Connect(port);
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  auto cleanup = [&] {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    close(fd);
  };
  try {
    if (options.tls) {
      ctx = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      AddCertificates(SSL_CTX_get_cert_store(ctx), options.ca_pem);
      if (options.max_version != 0) {
        SSL_CTX_set_max_proto_version(ctx, options.max_version);
      }
      if (!options.cipher_list.empty() &&
          SSL_CTX_set_cipher_list(ctx, options.cipher_list.c_str()) != 1) {
        ERR_clear_error();
        throw std::runtime_error("client cipher list refused");
      }
      if (options.identity != nullptr) {
        X509* cert = testing::ReadCert(options.identity->cert);
        EVP_PKEY* key = testing::ReadKey(options.identity->key);
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, key);
        X509_free(cert);
        EVP_PKEY_free(key);
      }
      ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      SSL_set1_host(ssl, "localhost");
      if (SSL_connect(ssl) != 1) {
        ERR_clear_error();
        throw std::runtime_error("handshake failed");
      }
    }
    std::string request = "GET " + std::string(path) +
                          " HTTP/1.1\r\nHost: localhost\r\nConnection: "
                          "close\r\n";
    if (!options.authorization.empty()) {
      request += "Authorization: " + options.authorization + "\r\n";
    }
    request += "\r\n";
    if (ssl != nullptr) {
      if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <=
          0) {
        ERR_clear_error();
        throw std::runtime_error("write failed");
      }
    } else if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
               static_cast<ssize_t>(request.size())) {
      throw std::runtime_error("send failed");
    }
    std::string data;
    char chunk[16384];
    for (;;) {
      const int n = ssl != nullptr
                        ? SSL_read(ssl, chunk, sizeof(chunk))
                        : static_cast<int>(recv(fd, chunk, sizeof(chunk), 0));
      if (n <= 0) break;
      data.append(chunk, static_cast<size_t>(n));
    }
    ERR_clear_error();
    const size_t header_end = data.find("\r\n\r\n");
    if (data.rfind("HTTP/1.1 ", 0) != 0 || header_end == std::string::npos) {
      throw std::runtime_error("no HTTP response");
    }
    Response response =
        ParseResponseHead(std::string_view(data.data(), header_end));
    response.body = data.substr(header_end + 4);
    cleanup();
    return response;
  } catch (...) {
    cleanup();
    throw;
  }
}

bool Fails(int port, std::string_view path, const ClientOptions& options) {
  try {
    Fetch(port, path, options);
    return false;
  } catch (const std::runtime_error&) {
    return true;
  }
}

std::vector<prometheus::MetricFamily> TestFamilies() {
  prometheus::MetricFamily family;
  family.name = "synwatch_test";
  family.help = "Test.";
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = 1;
  family.metric.push_back(metric);
  return {family};
}

// "Basic base64(user:password)".
std::string Basic(const std::string& user, const std::string& password) {
  const std::string plain = user + ":" + password;
  std::string out((plain.size() + 2) / 3 * 4 + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(plain.data()),
                      static_cast<int>(plain.size()));
  out.resize(static_cast<size_t>(n));
  return "Basic " + out;
}

class HttpServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Pem(MakeCert("test CA", nullptr, true));
    server_ = new Pem(
        MakeCert("localhost", ca_, false, {"DNS:localhost", "IP:127.0.0.1"}));
    client_ = new Pem(MakeCert("client", ca_, false,
                               {"DNS:client.example", "IP:192.0.2.10"}));
    stranger_ = new Pem(MakeCert("stranger", nullptr, false));
    other_ca_ = new Pem(MakeCert("other CA", nullptr, true));
    other_server_ =
        new Pem(MakeCert("localhost", other_ca_, false, {"DNS:localhost"}));
    alice_ = new std::string(BcryptHash("wonderland"));
  }
  static void TearDownTestSuite() {
    for (Pem* pem :
         {ca_, server_, client_, stranger_, other_ca_, other_server_}) {
      delete pem;
    }
    delete alice_;
  }

  static WebSecurityConfig Tls(ClientAuth auth = ClientAuth::kNoClientCert) {
    WebSecurityConfig config;
    config.tls_enabled = true;
    config.tls.cert_pem = server_->cert;
    config.tls.key_pem = server_->key;
    config.tls.client_auth = auth;
    if (auth != ClientAuth::kNoClientCert) config.tls.client_ca_pem = ca_->cert;
    return config;
  }

  void Start(const WebSecurityConfig& config) {
    HttpOptions options;
    options.listen_address = testing::Listening("127.0.0.1:0");
    options.web_config = config;
    server_object_ = std::make_unique<HttpServer>(
        options, GatherFamilies(TestFamilies), [] { return true; });
    port_ = server_object_->ports().at(0);
  }

  ClientOptions Trusting(const Pem* identity = nullptr) const {
    ClientOptions o;
    o.ca_pem = ca_->cert;
    o.identity = identity;
    return o;
  }

  static Pem* ca_;
  static Pem* server_;
  static Pem* client_;
  static Pem* stranger_;
  static Pem* other_ca_;
  static Pem* other_server_;
  static std::string* alice_;
  std::unique_ptr<HttpServer> server_object_;
  int port_ = 0;
};

Pem* HttpServerTlsTest::ca_ = nullptr;
Pem* HttpServerTlsTest::server_ = nullptr;
Pem* HttpServerTlsTest::client_ = nullptr;
Pem* HttpServerTlsTest::stranger_ = nullptr;
Pem* HttpServerTlsTest::other_ca_ = nullptr;
Pem* HttpServerTlsTest::other_server_ = nullptr;
std::string* HttpServerTlsTest::alice_ = nullptr;

TEST_F(HttpServerTlsTest, ServesHttpsAndNotPlainHttp) {
  Start(Tls());
  const Response response = Fetch(port_, "/metrics", Trusting());
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.body.find("synwatch_test 1"), std::string::npos);
  EXPECT_EQ(Fetch(port_, "/-/healthy", Trusting()).body, "Healthy\n");
  ClientOptions plain;
  plain.tls = false;
  EXPECT_TRUE(Fails(port_, "/metrics", plain));
  // A client that does not trust the server's CA refuses it.
  ClientOptions untrusting;
  untrusting.ca_pem = other_ca_->cert;
  EXPECT_TRUE(Fails(port_, "/metrics", untrusting));
}

TEST_F(HttpServerTlsTest, RequireAndVerifyClientCert) {
  Start(Tls(ClientAuth::kRequireAndVerifyClientCert));
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(client_)).status, 200);
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting()));           // none
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting(stranger_)));  // unknown CA
}

TEST_F(HttpServerTlsTest, RequireAnyClientCert) {
  Start(Tls(ClientAuth::kRequireAnyClientCert));
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(stranger_)).status, 200);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(client_)).status, 200);
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting()));
}

TEST_F(HttpServerTlsTest, VerifyClientCertIfGiven) {
  Start(Tls(ClientAuth::kVerifyClientCertIfGiven));
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(client_)).status, 200);
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting(stranger_)));
}

TEST_F(HttpServerTlsTest, RequestClientCert) {
  Start(Tls(ClientAuth::kRequestClientCert));
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(stranger_)).status, 200);
}

TEST_F(HttpServerTlsTest, ClientAllowedSans) {
  WebSecurityConfig config = Tls(ClientAuth::kRequireAndVerifyClientCert);
  config.tls.client_allowed_sans = {"192.0.2.10"};
  Start(config);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(client_)).status, 200);
  config.tls.client_allowed_sans = {"other.example"};
  server_object_->UpdateWebConfig(config);
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting(client_)));
  config.tls.client_allowed_sans = {"client.example"};
  server_object_->UpdateWebConfig(config);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting(client_)).status, 200);
}

TEST_F(HttpServerTlsTest, ProtocolVersions) {
  WebSecurityConfig config = Tls();
  config.tls.max_version = TlsVersion::kTls12;
  Start(config);
  ClientOptions tls12 = Trusting();
  tls12.max_version = TLS1_2_VERSION;
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
  config.tls.min_version = TlsVersion::kTls13;
  config.tls.max_version = TlsVersion::kTls13;
  server_object_->UpdateWebConfig(config);
  EXPECT_TRUE(Fails(port_, "/metrics", tls12));
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
}

TEST_F(HttpServerTlsTest, CipherSuites) {
  WebSecurityConfig config = Tls();
  config.tls.max_version = TlsVersion::kTls12;
  config.tls.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384";
  Start(config);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
  // An RSA-only suite cannot work with the server's EC key.
  config.tls.cipher_list = "ECDHE-RSA-AES128-GCM-SHA256";
  server_object_->UpdateWebConfig(config);
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting()));
}

TEST_F(HttpServerTlsTest, DefaultCipherSuitesAreGos) {
  Start(Tls());
  auto with = [&](const char* cipher) {
    ClientOptions options = Trusting();
    options.max_version = TLS1_2_VERSION;
    options.cipher_list = cipher;
    return !Fails(port_, "/metrics", options);
  };
  // Go's defaults for TLS 1.2 (the server's key is ECDSA).
  EXPECT_TRUE(with("ECDHE-ECDSA-AES128-GCM-SHA256"));
  EXPECT_TRUE(with("ECDHE-ECDSA-AES256-GCM-SHA384"));
  EXPECT_TRUE(with("ECDHE-ECDSA-CHACHA20-POLY1305"));
  EXPECT_TRUE(with("ECDHE-ECDSA-AES128-SHA"));
  EXPECT_TRUE(with("ECDHE-ECDSA-AES256-SHA"));
  // OpenSSL's default has these four CBC-SHA256/384 suites; Go's has not.
  EXPECT_FALSE(with("ECDHE-ECDSA-AES128-SHA256"));
  EXPECT_FALSE(with("ECDHE-ECDSA-AES256-SHA384"));
  EXPECT_FALSE(
      with("ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"
           "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384"));
}

TEST_F(HttpServerTlsTest, PlainHttpOnTheTlsPortGetsGos400) {
  Start(Tls());
  const int fd = Connect(port_);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string data;
  char chunk[4096];
  for (ssize_t n; (n = recv(fd, chunk, sizeof(chunk), 0)) > 0;) {
    data.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_EQ(data,
            "HTTP/1.0 400 Bad Request\r\n\r\n"
            "Client sent an HTTP request to an HTTPS server.\n");
  // TLS clients are served as before.
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
}

TEST_F(HttpServerTlsTest, BasicAuthOverTls) {
  WebSecurityConfig config = Tls();
  config.basic_auth_users = {{"alice", *alice_}};
  Start(config);
  ClientOptions o = Trusting();
  o.authorization = Basic("alice", "wonderland");
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 200);
  for (const std::string& authorization :
       {std::string(), Basic("alice", "wrong"), Basic("mallory", "wonderland"),
        std::string("Bearer x")}) {
    o.authorization = authorization;
    const Response response = Fetch(port_, "/metrics", o);
    EXPECT_EQ(response.status, 401) << authorization;
    EXPECT_EQ(response.Header("www-authenticate"), "Basic") << authorization;
    EXPECT_EQ(response.body, "Unauthorized\n");
  }
  // Every path needs it, as with exporter-toolkit.
  o.authorization.clear();
  EXPECT_EQ(Fetch(port_, "/-/healthy", o).status, 401);
  EXPECT_EQ(Fetch(port_, "/nope", o).status, 401);
}

TEST_F(HttpServerTlsTest, BasicAuthWithoutTls) {
  WebSecurityConfig config;
  config.basic_auth_users = {{"alice", *alice_}};
  Start(config);
  ClientOptions o;
  o.tls = false;
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 401);
  o.authorization = Basic("alice", "wonderland");
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 200);
}

TEST_F(HttpServerTlsTest, ConfiguredHeadersOnEveryResponse) {
  WebSecurityConfig config = Tls();
  config.basic_auth_users = {{"alice", *alice_}};
  config.headers = {{"Strict-Transport-Security", "max-age=63072000"},
                    {"X-Frame-Options", "deny"}};
  Start(config);
  ClientOptions o = Trusting();
  for (const char* authorization : {"", "ok"}) {
    o.authorization =
        authorization[0] != '\0' ? Basic("alice", "wonderland") : std::string();
    for (const char* path : {"/metrics", "/", "/nope"}) {
      const Response response = Fetch(port_, path, o);
      EXPECT_EQ(response.Header("strict-transport-security"),
                "max-age=63072000")
          << path << " " << response.status;
      EXPECT_EQ(response.Header("x-frame-options"), "deny") << path;
    }
  }
}

TEST_F(HttpServerTlsTest, ReloadSwapsUsersHeadersAndCertificate) {
  WebSecurityConfig config = Tls();
  config.basic_auth_users = {{"alice", *alice_}};
  Start(config);
  ClientOptions o = Trusting();
  o.authorization = Basic("alice", "wonderland");
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 200);

  config.basic_auth_users = {{"bob", BcryptHash("builder")}};
  config.headers = {{"X-Content-Type-Options", "nosniff"}};
  server_object_->UpdateWebConfig(config);
  EXPECT_EQ(server_object_->ports().at(0), port_);  // no restart
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 401);
  o.authorization = Basic("bob", "builder");
  const Response response = Fetch(port_, "/metrics", o);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("x-content-type-options"), "nosniff");

  // A new certificate from another CA: new connections get it.
  config.tls.cert_pem = other_server_->cert;
  config.tls.key_pem = other_server_->key;
  server_object_->UpdateWebConfig(config);
  EXPECT_TRUE(Fails(port_, "/metrics", o));
  o.ca_pem = other_ca_->cert;
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 200);
}

TEST_F(HttpServerTlsTest, BadReloadKeepsTheRunningConfig) {
  WebSecurityConfig config = Tls();
  config.basic_auth_users = {{"alice", *alice_}};
  Start(config);
  WebSecurityConfig bad = config;
  bad.tls.key_pem = other_server_->key;  // does not match
  EXPECT_THROW(server_object_->UpdateWebConfig(bad), std::runtime_error);
  bad = config;
  bad.basic_auth_users = {{"bob", "plain"}};
  EXPECT_THROW(server_object_->UpdateWebConfig(bad), std::invalid_argument);
  ClientOptions o = Trusting();
  o.authorization = Basic("alice", "wonderland");
  EXPECT_EQ(Fetch(port_, "/metrics", o).status, 200);
}

TEST_F(HttpServerTlsTest, TurningTlsOnAndOffKeepsTheListener) {
  Start(WebSecurityConfig{});
  ClientOptions plain;
  plain.tls = false;
  EXPECT_EQ(Fetch(port_, "/metrics", plain).status, 200);

  server_object_->UpdateWebConfig(Tls());
  EXPECT_EQ(server_object_->ports().at(0), port_);
  EXPECT_EQ(Fetch(port_, "/metrics", Trusting()).status, 200);
  EXPECT_TRUE(Fails(port_, "/metrics", plain));

  server_object_->UpdateWebConfig(WebSecurityConfig{});
  EXPECT_EQ(Fetch(port_, "/metrics", plain).status, 200);
  EXPECT_TRUE(Fails(port_, "/metrics", Trusting()));
}

}  // namespace
}  // namespace synwatch
