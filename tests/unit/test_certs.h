// SPDX-License-Identifier: Apache-2.0
// Certificates for the TLS tests, made fresh by OpenSSL in each run: a CA,
// certificates it signs, self-signed ones. Nothing is checked in.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace synwatch::testing {

struct Pem {
  std::string cert;
  std::string key;
};

inline std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

inline EVP_PKEY* ReadKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

inline X509* ReadCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

inline void AddExtension(X509* cert, X509* issuer, int nid,
                         const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 key and a certificate for it, signed by issuer (self-signed when
// issuer is null). sans: "DNS:localhost", "IP:127.0.0.1", "email:a@b".
inline Pem MakeCert(const std::string& common_name, const Pem* issuer, bool ca,
                    const std::vector<std::string>& sans = {}) {
  static long serial = 1;
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer != nullptr ? ReadCert(issuer->cert) : nullptr;
  EVP_PKEY* issuer_key = issuer != nullptr ? ReadKey(issuer->key) : nullptr;
  X509_set_issuer_name(
      cert, issuer_cert != nullptr ? X509_get_subject_name(issuer_cert) : name);
  X509* signer = issuer_cert != nullptr ? issuer_cert : cert;
  if (ca) {
    AddExtension(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
  }
  AddExtension(cert, signer, NID_subject_key_identifier, "hash");
  if (!sans.empty()) {
    std::string list;
    for (const std::string& san : sans) list += (list.empty() ? "" : ",") + san;
    AddExtension(cert, signer, NID_subject_alt_name, list);
  }
  X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());

  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  Pem out{BioText(cert_bio), BioText(key_bio)};
  X509_free(cert);
  EVP_PKEY_free(key);
  X509_free(issuer_cert);
  EVP_PKEY_free(issuer_key);
  return out;
}

}  // namespace synwatch::testing
