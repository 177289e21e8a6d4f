// SPDX-License-Identifier: Apache-2.0
// OpenSSL, loaded on first use. The synwatch binary is not linked against
// libssl and libcrypto: this file defines each OpenSSL function synwatch
// calls as a stub that loads libssl.so.3 (and with it libcrypto.so.3) the
// first time any of them is called, then jumps to the real function. An
// exporter without TLS or basic auth, most of a fleet, never maps them:
// 1.7 MB less resident, 0.46 MB of it private relocated data (README,
// "Design notes"). Loading fails with one clear error, at start or reload.
//
// Only the synwatch executable links these (CMake target
// synwatch_openssl_lazy); tests and tools link OpenSSL as usual.
#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <stdexcept>
#include <string>

static_assert(OPENSSL_VERSION_MAJOR == 3,
              "the stubs load libssl.so.3: built against another OpenSSL");

namespace synwatch {
namespace {

constexpr char kLibssl[] = "libssl.so.3";

void* Library() {
  // Thread-safe, and retried on the next call if it threw.
  static void* const handle = [] {
    void* h = dlopen(kLibssl, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* why = dlerror();
      throw std::runtime_error(
          std::string("TLS and basic auth need ") + kLibssl +
          " (package libssl3): " + (why != nullptr ? why : "dlopen failed"));
    }
    return h;
  }();
  return handle;
}

// A symbol of libssl or of libcrypto (a dependency of the handle, so in
// the scope dlsym searches).
void* Symbol(const char* name) {
  void* const library = Library();
  void* const symbol = dlsym(library, name);
  if (symbol == nullptr) {
    throw std::runtime_error(std::string(kLibssl) + " has no " + name);
  }
  return symbol;
}

}  // namespace

}  // namespace synwatch

// One stub per OpenSSL function synwatch calls: the same signature as the
// header's declaration (the compiler checks it), the real function found
// once and kept. A function missing here is a link error, not a silent
// fallback.
#define SW_LAZY(ret, name, params, args)                              \
  extern "C" ret name params {                                        \
    static const auto real =                                          \
        reinterpret_cast<decltype(&::name)>(synwatch::Symbol(#name)); \
    return real args;                                                 \
  }

// libcrypto
SW_LAZY(const unsigned char*, ASN1_STRING_get0_data, (const ASN1_STRING* x),
        (x))
SW_LAZY(int, ASN1_STRING_length, (const ASN1_STRING* x), (x))
SW_LAZY(int, BIO_free, (BIO * a), (a))
SW_LAZY(BIO*, BIO_new_mem_buf, (const void* buf, int len), (buf, len))
SW_LAZY(int, CRYPTO_get_ex_new_index,
        (int class_index, long argl, void* argp, CRYPTO_EX_new* new_func,
         CRYPTO_EX_dup* dup_func, CRYPTO_EX_free* free_func),
        (class_index, argl, argp, new_func, dup_func, free_func))
SW_LAZY(int, CRYPTO_memcmp, (const void* a, const void* b, size_t len),
        (a, b, len))
SW_LAZY(void, ERR_clear_error, (void), ())
SW_LAZY(void, ERR_error_string_n, (unsigned long e, char* buf, size_t len),
        (e, buf, len))
SW_LAZY(unsigned long, ERR_get_error, (void), ())
SW_LAZY(unsigned long, ERR_peek_error, (void), ())
SW_LAZY(const char*, ERR_reason_error_string, (unsigned long e), (e))
SW_LAZY(void, EVP_PKEY_free, (EVP_PKEY * pkey), (pkey))
SW_LAZY(const EVP_MD*, EVP_sha256, (void), ())
SW_LAZY(void, GENERAL_NAMES_free, (GENERAL_NAMES * a), (a))
SW_LAZY(unsigned char*, HMAC,
        (const EVP_MD* md, const void* key, int key_len,
         const unsigned char* data, size_t data_len, unsigned char* out,
         unsigned int* out_len),
        (md, key, key_len, data, data_len, out, out_len))
SW_LAZY(void, OPENSSL_cleanse, (void* ptr, size_t len), (ptr, len))
SW_LAZY(int, OPENSSL_sk_num, (const OPENSSL_STACK* sk), (sk))
SW_LAZY(void*, OPENSSL_sk_value, (const OPENSSL_STACK* sk, int i), (sk, i))
SW_LAZY(const char*, OpenSSL_version, (int type), (type))
SW_LAZY(EVP_PKEY*, PEM_read_bio_PrivateKey,
        (BIO * bp, EVP_PKEY** x, pem_password_cb* cb, void* u), (bp, x, cb, u))
SW_LAZY(X509*, PEM_read_bio_X509,
        (BIO * bp, X509** x, pem_password_cb* cb, void* u), (bp, x, cb, u))
SW_LAZY(int, RAND_bytes, (unsigned char* buf, int num), (buf, num))
SW_LAZY(X509*, X509_STORE_CTX_get_current_cert, (const X509_STORE_CTX* ctx),
        (ctx))
SW_LAZY(int, X509_STORE_CTX_get_error_depth, (const X509_STORE_CTX* ctx), (ctx))
SW_LAZY(void*, X509_STORE_CTX_get_ex_data, (const X509_STORE_CTX* ctx, int i),
        (ctx, i))
SW_LAZY(void, X509_STORE_CTX_set_error, (X509_STORE_CTX * ctx, int s), (ctx, s))
SW_LAZY(int, X509_STORE_add_cert, (X509_STORE * store, X509* x), (store, x))
SW_LAZY(void, X509_STORE_free, (X509_STORE * store), (store))
SW_LAZY(X509_STORE*, X509_STORE_new, (void), ())
SW_LAZY(int, X509_check_private_key, (const X509* x, const EVP_PKEY* pkey),
        (x, pkey))
SW_LAZY(void, X509_free, (X509 * x), (x))
SW_LAZY(void*, X509_get_ext_d2i, (const X509* x, int nid, int* crit, int* idx),
        (x, nid, crit, idx))

// libssl
SW_LAZY(int, SSL_CTX_add_client_CA, (SSL_CTX * ctx, X509* x), (ctx, x))
SW_LAZY(int, SSL_CTX_check_private_key, (const SSL_CTX* ctx), (ctx))
SW_LAZY(long, SSL_CTX_ctrl, (SSL_CTX * ctx, int cmd, long larg, void* parg),
        (ctx, cmd, larg, parg))
SW_LAZY(void, SSL_CTX_free, (SSL_CTX * ctx), (ctx))
SW_LAZY(X509_STORE*, SSL_CTX_get_cert_store, (const SSL_CTX* ctx), (ctx))
SW_LAZY(STACK_OF(X509_NAME) *, SSL_CTX_get_client_CA_list, (const SSL_CTX* ctx),
        (ctx))
SW_LAZY(void*, SSL_CTX_get_ex_data, (const SSL_CTX* ctx, int idx), (ctx, idx))
SW_LAZY(SSL_CTX*, SSL_CTX_new, (const SSL_METHOD* method), (method))
SW_LAZY(int, SSL_CTX_set_cipher_list, (SSL_CTX * ctx, const char* str),
        (ctx, str))
SW_LAZY(void, SSL_CTX_set_client_hello_cb,
        (SSL_CTX * ctx, SSL_client_hello_cb_fn cb, void* arg), (ctx, cb, arg))
SW_LAZY(int, SSL_CTX_set_default_verify_paths, (SSL_CTX * ctx), (ctx))
SW_LAZY(int, SSL_CTX_set_ex_data, (SSL_CTX * ctx, int idx, void* data),
        (ctx, idx, data))
SW_LAZY(int, SSL_CTX_set_num_tickets, (SSL_CTX * ctx, size_t n), (ctx, n))
SW_LAZY(uint64_t, SSL_CTX_set_options, (SSL_CTX * ctx, uint64_t op), (ctx, op))
SW_LAZY(int, SSL_CTX_set_session_id_context,
        (SSL_CTX * ctx, const unsigned char* sid, unsigned int sid_len),
        (ctx, sid, sid_len))
SW_LAZY(int, SSL_CTX_up_ref, (SSL_CTX * ctx), (ctx))
SW_LAZY(int, SSL_CTX_use_PrivateKey, (SSL_CTX * ctx, EVP_PKEY* pkey),
        (ctx, pkey))
SW_LAZY(int, SSL_CTX_use_certificate, (SSL_CTX * ctx, X509* x), (ctx, x))
SW_LAZY(uint64_t, SSL_clear_options, (SSL * s, uint64_t op), (s, op))
SW_LAZY(long, SSL_ctrl, (SSL * s, int cmd, long larg, void* parg),
        (s, cmd, larg, parg))
SW_LAZY(int, SSL_do_handshake, (SSL * s), (s))
SW_LAZY(STACK_OF(X509_NAME) *, SSL_dup_CA_list,
        (const STACK_OF(X509_NAME) * sk), (sk))
SW_LAZY(void, SSL_free, (SSL * s), (s))
SW_LAZY(SSL_CTX*, SSL_get_SSL_CTX, (const SSL* s), (s))
SW_LAZY(int, SSL_get_error, (const SSL* s, int ret), (s, ret))
SW_LAZY(int, SSL_get_ex_data_X509_STORE_CTX_idx, (void), ())
SW_LAZY(SSL*, SSL_new, (SSL_CTX * ctx), (ctx))
SW_LAZY(int, SSL_read, (SSL * s, void* buf, int num), (s, buf, num))
SW_LAZY(SSL_CTX*, SSL_set_SSL_CTX, (SSL * s, SSL_CTX* ctx), (s, ctx))
SW_LAZY(void, SSL_set_accept_state, (SSL * s), (s))
SW_LAZY(int, SSL_set_cipher_list, (SSL * s, const char* str), (s, str))
SW_LAZY(void, SSL_set_client_CA_list, (SSL * s, STACK_OF(X509_NAME) * names),
        (s, names))
SW_LAZY(int, SSL_set_fd, (SSL * s, int fd), (s, fd))
SW_LAZY(uint64_t, SSL_set_options, (SSL * s, uint64_t op), (s, op))
SW_LAZY(void, SSL_set_verify, (SSL * s, int mode, SSL_verify_cb cb),
        (s, mode, cb))
SW_LAZY(int, SSL_shutdown, (SSL * s), (s))
SW_LAZY(int, SSL_write, (SSL * s, const void* buf, int num), (s, buf, num))
SW_LAZY(const SSL_METHOD*, TLS_server_method, (void), ())
