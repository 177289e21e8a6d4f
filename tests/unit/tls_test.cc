// SPDX-License-Identifier: Apache-2.0
#include "web/tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <string>

#include "test_certs.h"

namespace synwatch {
namespace {

using testing::MakeCert;
using testing::Pem;

// Go's tls.CipherSuites() names.
constexpr const char* kGoSecure[] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
};

TEST(GoCipherTest, EveryGoNameMapsToTheSameSuiteInOpenSsl) {
  // OpenSSL's standard (IANA) name of the suite is Go's name.
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_EQ(SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0"), 1);
  SSL* ssl = SSL_new(ctx);
  const STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl);
  for (const char* go : kGoSecure) {
    std::string openssl;
    bool tls13 = true;
    std::string error;
    ASSERT_TRUE(MapGoCipherSuite(go, &openssl, &tls13, &error)) << go;
    EXPECT_FALSE(tls13) << go;
    bool found = false;
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
      const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
      if (openssl == SSL_CIPHER_get_name(cipher)) {
        EXPECT_STREQ(SSL_CIPHER_standard_name(cipher), go);
        found = true;
      }
    }
    EXPECT_TRUE(found) << go << " -> " << openssl;
    EXPECT_EQ(CheckCipherList(openssl), "") << openssl;
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

TEST(GoCipherTest, Tls13SuitesAreAcceptedButNotConfigurable) {
  for (const char* go : {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                         "TLS_CHACHA20_POLY1305_SHA256"}) {
    std::string openssl = "x";
    bool tls13 = false;
    std::string error;
    EXPECT_TRUE(MapGoCipherSuite(go, &openssl, &tls13, &error));
    EXPECT_TRUE(tls13);
    EXPECT_EQ(openssl, "");
  }
}

TEST(GoCipherTest, InsecureAndUnknownNamesAreRefused) {
  std::string openssl;
  bool tls13 = false;
  std::string error;
  EXPECT_FALSE(MapGoCipherSuite("TLS_RSA_WITH_3DES_EDE_CBC_SHA", &openssl,
                                &tls13, &error));
  EXPECT_NE(error.find("insecure"), std::string::npos);
  EXPECT_FALSE(MapGoCipherSuite("ECDHE-RSA-AES128-GCM-SHA256", &openssl, &tls13,
                                &error));
  EXPECT_NE(error.find("unknown"), std::string::npos);
  EXPECT_NE(CheckCipherList("NO-SUCH-CIPHER"), "");
}

TEST(GoNamesTest, CurvesAndVersions) {
  std::string group;
  EXPECT_TRUE(MapGoCurve("CurveP256", &group));
  EXPECT_EQ(group, "P-256");
  EXPECT_TRUE(MapGoCurve("X25519", &group));
  EXPECT_EQ(group, "X25519");
  EXPECT_FALSE(MapGoCurve("P-256", &group));
  TlsVersion version;
  EXPECT_TRUE(ParseTlsVersion("TLS13", &version));
  EXPECT_EQ(static_cast<int>(version), TLS1_3_VERSION);
  EXPECT_TRUE(ParseTlsVersion("TLS10", &version));
  EXPECT_EQ(static_cast<int>(version), TLS1_VERSION);
  EXPECT_FALSE(ParseTlsVersion("tls13", &version));
  EXPECT_EQ(ToString(TlsVersion::kTls12), "TLS12");
}

TEST(PemTest, Checks) {
  const Pem ca = MakeCert("ca", nullptr, true);
  const Pem leaf = MakeCert("leaf", &ca, false);
  EXPECT_EQ(CheckCertificatePem(leaf.cert), "");
  EXPECT_EQ(CheckCertificatePem(leaf.key + leaf.cert), "");
  EXPECT_NE(CheckCertificatePem(leaf.key), "");
  EXPECT_NE(CheckCertificatePem(""), "");
  EXPECT_EQ(CheckPrivateKeyPem(leaf.key), "");
  EXPECT_NE(CheckPrivateKeyPem(leaf.cert), "");
  EXPECT_EQ(CheckPrivateKeyPem("-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n"),
            "encrypted private keys are not supported");
  EXPECT_EQ(CheckKeyPair(leaf.cert, leaf.key), "");
  EXPECT_EQ(CheckKeyPair(leaf.cert, ca.key),
            "the private key does not match the certificate");
  EXPECT_EQ(CheckCaBundlePem(ca.cert + leaf.cert), "");
  EXPECT_NE(CheckCaBundlePem("junk"), "");
}

TEST(TlsServerContextTest, BuildsAndRefusesBadUpdates) {
  const Pem ca = MakeCert("ca", nullptr, true);
  const Pem leaf = MakeCert("leaf", &ca, false);
  TlsSettings settings;
  settings.cert_pem = leaf.cert;
  settings.key_pem = leaf.key;
  TlsServerContext context(settings);
  EXPECT_NE(context.ssl_ctx(), nullptr);

  TlsSettings bad = settings;
  bad.key_pem = ca.key;
  EXPECT_THROW(context.Update(bad), std::runtime_error);
  bad = settings;
  bad.cipher_list = "NO-SUCH-CIPHER";
  EXPECT_THROW(context.Update(bad), std::runtime_error);
  bad = settings;
  bad.groups = "P-999";
  EXPECT_THROW(context.Update(bad), std::runtime_error);
  bad = settings;
  bad.client_ca_pem = "junk";
  EXPECT_THROW(context.Update(bad), std::runtime_error);

  settings.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  settings.client_ca_pem = ca.cert;
  settings.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256";
  settings.groups = "X25519:P-256";
  EXPECT_NO_THROW(context.Update(settings));
  EXPECT_THROW(TlsServerContext{bad}, std::runtime_error);
}

}  // namespace
}  // namespace synwatch
