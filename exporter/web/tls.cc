// SPDX-License-Identifier: Apache-2.0
#include "web/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace synwatch {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// Go's names as exporter-toolkit takes them: tls.CipherSuites(), the ones
// Go considers secure. OpenSSL's standard name of each is the Go name
// (tls_test.cc checks that).
struct GoCipher {
  std::string_view go;
  std::string_view openssl;  // "" for TLS 1.3
};
constexpr GoCipher kGoCiphers[] = {
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
     "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
     "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
     "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

// Go's default for TLS 1.0-1.2 when no cipher_suites are given (Go 1.23's
// crypto/tls defaults.go: its preference order without the CBC-SHA256 and
// RC4 suites, RSA key exchange and 3DES): ECDHE only, AEADs first, then
// AES-CBC with SHA-1 for old clients. OpenSSL's own default would add the
// CBC-SHA256/384 suites Go leaves out.
constexpr const char* kGoDefaultCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
    "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";

// Go's tls.InsecureCipherSuites(): exporter-toolkit refuses them as unknown;
// naming them here gives a better reason.
constexpr std::string_view kGoInsecureCiphers[] = {
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
};

struct GoCurve {
  std::string_view go;
  std::string_view openssl;
};
constexpr GoCurve kGoCurves[] = {{"CurveP256", "P-256"},
                                 {"CurveP384", "P-384"},
                                 {"CurveP521", "P-521"},
                                 {"X25519", "X25519"}};

struct GoVersion {
  std::string_view go;
  TlsVersion version;
};
constexpr GoVersion kGoVersions[] = {{"TLS10", TlsVersion::kTls10},
                                     {"TLS11", TlsVersion::kTls11},
                                     {"TLS12", TlsVersion::kTls12},
                                     {"TLS13", TlsVersion::kTls13}};

// The first queued OpenSSL error as text (and the queue cleared), for
// messages that must say why.
std::string OpenSslError(std::string_view fallback) {
  const unsigned long code = ERR_peek_error();
  std::string out(fallback);
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    if (reason != nullptr) out = reason;
  }
  ERR_clear_error();
  return out;
}

// A password callback that refuses: an encrypted key must never make
// OpenSSL prompt on the terminal.
int NoPassword(char*, int, int, void*) { return -1; }

BioPtr MemoryBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::vector<X509Ptr> ReadCertificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = MemoryBio(pem);
  if (!bio) return out;
  // Other PEM blocks (a key in a combined file) are skipped.
  while (X509* cert =
             PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr)) {
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the last read fails at the end of the input
  return out;
}

PkeyPtr ReadPrivateKey(std::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (!bio) return nullptr;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  ERR_clear_error();
  return key;
}

// What the per-connection callbacks need, kept with the SSL_CTX it belongs
// to (ex_data, freed with the SSL_CTX): a connection holds a reference to
// its SSL_CTX for as long as it lives, whatever the server does meanwhile.
struct Policy {
  int verify_mode = SSL_VERIFY_NONE;
  bool verify_chain = false;  // false: any certificate is taken
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::string cipher_list;
  std::string groups;
  bool prefer_server = true;
  std::vector<std::string> allowed_sans;
};

void FreePolicy(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<Policy*>(ptr);
}

int PolicyIndex() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreePolicy);
  return index;
}

const Policy* PolicyOf(const SSL_CTX* ctx) {
  return ctx == nullptr ? nullptr
                        : static_cast<const Policy*>(
                              SSL_CTX_get_ex_data(ctx, PolicyIndex()));
}

constexpr unsigned char kSessionContext[] = "synwatch";

// Every SAN value of a certificate in the form Go prints it.
std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    const ASN1_STRING* text = nullptr;
    switch (name->type) {
      case GEN_DNS:
        text = name->d.dNSName;
        break;
      case GEN_EMAIL:
        text = name->d.rfc822Name;
        break;
      case GEN_URI:
        text = name->d.uniformResourceIdentifier;
        break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        char buf[INET6_ADDRSTRLEN] = {};
        const int family = ip->length == 4    ? AF_INET
                           : ip->length == 16 ? AF_INET6
                                              : AF_UNSPEC;
        if (family != AF_UNSPEC &&
            inet_ntop(family, ip->data, buf, sizeof(buf)) != nullptr) {
          out.emplace_back(buf);
        }
        break;
      }
      default:
        break;
    }
    if (text != nullptr) {
      out.emplace_back(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
          static_cast<size_t>(ASN1_STRING_length(text)));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

int VerifyClient(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const Policy* policy =
      ssl != nullptr ? PolicyOf(SSL_get_SSL_CTX(ssl)) : nullptr;
  if (policy == nullptr) return 0;
  // RequestClientCert and RequireAnyClientCert take any certificate.
  int ok = policy->verify_chain ? preverify_ok : 1;
  if (ok != 0 && !policy->allowed_sans.empty() &&
      X509_STORE_CTX_get_error_depth(store) == 0) {
    bool found = false;
    for (const std::string& san :
         SubjectAltNames(X509_STORE_CTX_get_current_cert(store))) {
      if (std::find(policy->allowed_sans.begin(), policy->allowed_sans.end(),
                    san) != policy->allowed_sans.end()) {
        found = true;
        break;
      }
    }
    if (!found) {
      X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
      ok = 0;
    }
  }
  return ok;
}

// The SSL_CTX that holds one set of settings: certificate, key, trust
// store and the policy the ClientHello callback applies.
CtxPtr BuildContext(const TlsSettings& s) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) throw std::runtime_error("TLS: " + OpenSslError("out of memory"));
  auto fail = [](std::string_view what, std::string_view fallback) {
    throw std::runtime_error("TLS: " + std::string(what) + ": " +
                             OpenSslError(fallback));
  };

  std::vector<X509Ptr> chain = ReadCertificates(s.cert_pem);
  if (chain.empty()) fail("certificate", "no certificate found");
  if (SSL_CTX_use_certificate(ctx.get(), chain[0].get()) != 1) {
    fail("certificate", "refused");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), chain[i].get()) != 1) {
      fail("certificate chain", "refused");
    }
  }
  PkeyPtr key = ReadPrivateKey(s.key_pem);
  if (!key) fail("private key", "no private key found");
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    fail("private key", "does not match the certificate");
  }

  auto policy = std::make_unique<Policy>();
  switch (s.client_auth) {
    case ClientAuth::kNoClientCert:
      policy->verify_mode = SSL_VERIFY_NONE;
      break;
    case ClientAuth::kRequestClientCert:
      policy->verify_mode = SSL_VERIFY_PEER;
      break;
    case ClientAuth::kRequireAnyClientCert:
      policy->verify_mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      break;
    case ClientAuth::kVerifyClientCertIfGiven:
      policy->verify_mode = SSL_VERIFY_PEER;
      policy->verify_chain = true;
      break;
    case ClientAuth::kRequireAndVerifyClientCert:
      policy->verify_mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      policy->verify_chain = true;
      break;
  }
  if (!s.client_ca_pem.empty()) {
    std::vector<X509Ptr> cas = ReadCertificates(s.client_ca_pem);
    if (cas.empty()) fail("client CA", "no certificate found");
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    for (const X509Ptr& ca : cas) {
      // The names go into the CertificateRequest, as Go sends them.
      if (X509_STORE_add_cert(store, ca.get()) != 1 ||
          SSL_CTX_add_client_CA(ctx.get(), ca.get()) != 1) {
        fail("client CA", "refused");
      }
    }
  } else if (policy->verify_chain &&
             SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    // Go verifies against the system roots when no client CA is given.
    fail("system trust store", "cannot be loaded");
  }

  policy->min_version = static_cast<int>(s.min_version);
  policy->max_version = static_cast<int>(s.max_version);
  policy->cipher_list =
      s.cipher_list.empty() ? kGoDefaultCipherList : s.cipher_list;
  policy->groups = s.groups;
  policy->prefer_server = s.prefer_server_cipher_suites;
  policy->allowed_sans = s.client_allowed_sans;
  // Applied here too, so that what OpenSSL refuses is refused now rather
  // than at the next handshake.
  if (SSL_CTX_set_min_proto_version(ctx.get(), policy->min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), policy->max_version) != 1) {
    fail("protocol versions", "refused");
  }
  if (SSL_CTX_set_cipher_list(ctx.get(), policy->cipher_list.c_str()) != 1) {
    fail("cipher suites", "none of them is available");
  }
  if (!s.groups.empty() &&
      SSL_CTX_set1_groups_list(ctx.get(), s.groups.c_str()) != 1) {
    fail("curves", "refused");
  }
  SSL_CTX_set_session_id_context(ctx.get(), kSessionContext,
                                 sizeof(kSessionContext) - 1);
  if (SSL_CTX_set_ex_data(ctx.get(), PolicyIndex(), policy.get()) != 1) {
    fail("context", "out of memory");
  }
  static_cast<void>(policy.release());  // owned by the SSL_CTX now
  return ctx;
}

}  // namespace

bool ParseTlsVersion(std::string_view go_name, TlsVersion* out) {
  for (const GoVersion& v : kGoVersions) {
    if (v.go == go_name) {
      *out = v.version;
      return true;
    }
  }
  return false;
}

std::string_view ToString(TlsVersion version) {
  for (const GoVersion& v : kGoVersions) {
    if (v.version == version) return v.go;
  }
  return "unknown";
}

bool MapGoCipherSuite(std::string_view go_name, std::string* openssl_name,
                      bool* tls13, std::string* error) {
  for (const GoCipher& c : kGoCiphers) {
    if (c.go == go_name) {
      *openssl_name = std::string(c.openssl);
      *tls13 = c.openssl.empty();
      return true;
    }
  }
  if (std::find(std::begin(kGoInsecureCiphers), std::end(kGoInsecureCiphers),
                go_name) != std::end(kGoInsecureCiphers)) {
    *error =
        "insecure cipher suite (Go lists it in InsecureCipherSuites; "
        "exporter-toolkit refuses it too)";
  } else {
    *error =
        "unknown cipher suite (want a name from Go's tls.CipherSuites(), "
        "e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)";
  }
  return false;
}

bool MapGoCurve(std::string_view go_name, std::string* openssl_name) {
  for (const GoCurve& c : kGoCurves) {
    if (c.go == go_name) {
      *openssl_name = std::string(c.openssl);
      return true;
    }
  }
  return false;
}

std::string CheckCertificatePem(std::string_view pem) {
  return ReadCertificates(pem).empty() ? "no certificate found (want PEM, "
                                         "\"-----BEGIN CERTIFICATE-----\")"
                                       : "";
}

std::string CheckPrivateKeyPem(std::string_view pem) {
  if (ReadPrivateKey(pem)) return "";
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return "encrypted private keys are not supported";
  }
  return "no private key found (want PEM, \"-----BEGIN PRIVATE KEY-----\")";
}

std::string CheckKeyPair(std::string_view cert_pem, std::string_view key_pem) {
  std::vector<X509Ptr> chain = ReadCertificates(cert_pem);
  PkeyPtr key = ReadPrivateKey(key_pem);
  if (chain.empty() || !key) return "cannot be read";
  const bool match = X509_check_private_key(chain[0].get(), key.get()) == 1;
  ERR_clear_error();
  return match ? "" : "the private key does not match the certificate";
}

std::string CheckCaBundlePem(std::string_view pem) {
  std::vector<X509Ptr> cas = ReadCertificates(pem);
  if (cas.empty()) {
    return "no certificate found (want PEM, \"-----BEGIN CERTIFICATE-----\")";
  }
  X509_STORE* store = X509_STORE_new();
  bool ok = store != nullptr;
  for (const X509Ptr& ca : cas) {
    if (ok && X509_STORE_add_cert(store, ca.get()) != 1) ok = false;
  }
  X509_STORE_free(store);
  return ok ? "" : OpenSslError("a certificate cannot be used as a CA");
}

std::string CheckCipherList(const std::string& list) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return OpenSslError("out of memory");
  if (SSL_CTX_set_cipher_list(ctx.get(), list.c_str()) != 1) {
    ERR_clear_error();
    return "not available in this OpenSSL (" +
           std::string(OpenSSL_version(OPENSSL_VERSION)) +
           ") at its security level";
  }
  return "";
}

struct TlsServerContext::Impl {
  CtxPtr base;
  std::mutex mutex;
  CtxPtr current;  // guarded by mutex

  // A reference to the current SSL_CTX, for one handshake.
  CtxPtr Acquire() {
    std::lock_guard lock(mutex);
    SSL_CTX_up_ref(current.get());
    return CtxPtr(current.get());
  }

  // Runs before the server looks at anything in the ClientHello: the
  // connection switches to the settings in force now.
  static int OnClientHello(SSL* ssl, int* alert, void* arg);
};

int TlsServerContext::Impl::OnClientHello(SSL* ssl, int* alert, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  const CtxPtr ctx = impl->Acquire();
  const Policy* policy = PolicyOf(ctx.get());
  bool ok = policy != nullptr && SSL_set_SSL_CTX(ssl, ctx.get()) == ctx.get();
  if (ok) {
    // SSL_set_SSL_CTX() switches certificate, key and trust store; the rest
    // was copied from the base context when the connection was made.
    SSL_set_verify(
        ssl, policy->verify_mode,
        policy->verify_mode == SSL_VERIFY_NONE ? nullptr : VerifyClient);
    ok = SSL_set_min_proto_version(ssl, policy->min_version) == 1 &&
         SSL_set_max_proto_version(ssl, policy->max_version) == 1 &&
         (policy->cipher_list.empty() ||
          SSL_set_cipher_list(ssl, policy->cipher_list.c_str()) == 1) &&
         (policy->groups.empty() ||
          SSL_set1_groups_list(ssl, policy->groups.c_str()) == 1);
    if (policy->prefer_server) {
      SSL_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
    } else {
      SSL_clear_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    STACK_OF(X509_NAME)* names =
        SSL_dup_CA_list(SSL_CTX_get_client_CA_list(ctx.get()));
    if (names != nullptr) SSL_set_client_CA_list(ssl, names);
  }
  if (!ok) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

TlsServerContext::TlsServerContext(const TlsSettings& settings)
    : impl_(std::make_unique<Impl>()) {
  impl_->current = BuildContext(settings);
  impl_->base.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* base = impl_->base.get();
  if (base == nullptr) {
    throw std::runtime_error("TLS: " + OpenSslError("out of memory"));
  }
  // No session resumption (tickets or cache): a resumed session would skip
  // the client certificate check of settings that replaced its own.
  SSL_CTX_set_options(base, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                SSL_OP_NO_TICKET |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(base, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(base, 0);
  SSL_CTX_set_session_id_context(base, kSessionContext,
                                 sizeof(kSessionContext) - 1);
  // The versions the ClientHello callback may choose from; each connection
  // gets the current settings' range there.
  SSL_CTX_set_min_proto_version(base, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(base, TLS1_3_VERSION);
  SSL_CTX_set_client_hello_cb(base, Impl::OnClientHello, impl_.get());
}

TlsServerContext::~TlsServerContext() = default;

void* TlsServerContext::ssl_ctx() const { return impl_->base.get(); }

void TlsServerContext::Update(const TlsSettings& settings) {
  CtxPtr next = BuildContext(settings);
  std::lock_guard lock(impl_->mutex);
  impl_->current.swap(next);
}

}  // namespace synwatch
