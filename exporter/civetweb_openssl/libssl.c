// SPDX-License-Identifier: Apache-2.0
// Stands in for "libssl.so" (this library's SONAME), which Debian 12's
// libcivetweb 1.15 dlopen()s: a name only libssl-dev provides, and an
// OpenSSL 1.1 API that OpenSSL 3 changed in one place civetweb requires.
// synwatch loads this file by path before civetweb looks (tls.cc,
// EnableCivetwebTls); civetweb's dlopen("libssl.so") then finds it, and its
// dlsym() lookups fall through to libssl.so.3, which this library needs.
#include <openssl/ssl.h>

// OpenSSL 3 renamed SSL_get_peer_certificate() to SSL_get1_peer_certificate()
// (same reference counting; the old name is only a macro now).
#undef SSL_get_peer_certificate
__attribute__((visibility("default"))) X509 *SSL_get_peer_certificate(
    const SSL *ssl);

X509 *SSL_get_peer_certificate(const SSL *ssl) {
  return SSL_get1_peer_certificate(ssl);
}
