// SPDX-License-Identifier: Apache-2.0
#include "web/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace synwatch {
namespace {

constexpr std::string_view kBcryptAlphabet =
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// "$2y$10$..." -> 10; -1 when the prefix is not bcrypt's.
int BcryptCost(std::string_view hash) {
  if (hash.size() < 7 || hash.substr(0, 2) != "$2" || hash[3] != '$' ||
      hash[6] != '$' ||
      std::string_view("abxy").find(hash[2]) == std::string_view::npos ||
      hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') {
    return -1;
  }
  return (hash[4] - '0') * 10 + (hash[5] - '0');
}

int DecodeBase64Char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with padding, strictly (Go's base64.StdEncoding, which
// net/http uses for basic auth).
bool DecodeBase64(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  out->clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // data after padding
      v[j] = DecodeBase64Char(c);
      if (v[j] < 0) return false;
    }
    const unsigned bits = (static_cast<unsigned>(v[0]) << 18) |
                          (static_cast<unsigned>(v[1]) << 12) |
                          (static_cast<unsigned>(v[2]) << 6) |
                          static_cast<unsigned>(v[3]);
    out->push_back(static_cast<char>((bits >> 16) & 0xff));
    if (pad < 2) out->push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(bits & 0xff));
  }
  return true;
}

}  // namespace

std::string CheckBcryptHash(std::string_view hash) {
  const int cost = BcryptCost(hash);
  if (cost < 0) {
    return "not a bcrypt hash (want \"$2y$\" followed by the cost, as "
           "`htpasswd -nBC 10 USER` writes)";
  }
  if (cost < 4 || cost > 31) return "bcrypt cost out of range (04..31)";
  if (hash.size() != 60 ||
      hash.find_first_not_of(kBcryptAlphabet, 7) != std::string_view::npos) {
    return "malformed bcrypt hash (want 60 characters)";
  }
  const std::string setting(hash);
  const int check = crypt_checksalt(setting.c_str());
  if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY) {
    return "bcrypt hash refused by libcrypt";
  }
  return "";
}

bool ParseBasicAuthorization(std::string_view header, std::string* user,
                             std::string* password) {
  constexpr std::string_view kScheme = "basic ";
  if (header.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = header[i];
    if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != kScheme[i]) return false;
  }
  std::string_view encoded = header.substr(kScheme.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  std::string decoded;
  if (!DecodeBase64(encoded, &decoded)) return false;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  *user = decoded.substr(0, colon);
  *password = decoded.substr(colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return true;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users)
    : users_(std::move(users)) {
  int cost = 0;
  for (const auto& [user, hash] : users_) {
    const std::string error = CheckBcryptHash(hash);
    if (!error.empty()) {
      std::string message = "basic auth user ";
      message.append(user).append(": ").append(error);
      throw std::invalid_argument(message);
    }
    cost = std::max(cost, BcryptCost(hash));
  }
  // Without users nothing below is used. Drawing random bytes would also
  // start OpenSSL's DRBG and providers: 2.3 MB more resident, mostly
  // libcrypto's pages, in every exporter without TLS or auth.
  if (users_.empty()) return;
  if (RAND_bytes(cache_secret_.data(),
                 static_cast<int>(cache_secret_.size())) != 1) {
    throw std::runtime_error("basic auth: no random bytes for the cache key");
  }
  // A fresh salt (libcrypt draws the random bytes), so the dummy cannot
  // match anything and nobody can know it in advance.
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0,
                       setting, sizeof(setting)) == nullptr) {
    throw std::runtime_error("basic auth: crypt_gensalt_rn failed");
  }
  dummy_ = setting;
  // Zeroed, as crypt_rn wants its first use.
  crypt_buffer_ = std::make_unique<char[]>(sizeof(crypt_data));
}

BasicAuth::~BasicAuth() = default;

BasicAuth::Digest BasicAuth::CacheKey(std::string_view user,
                                      std::string_view password) const {
  // A keyed hash (HMAC-SHA256 with a per-process secret) rather than a
  // plain SHA-256: the cache holds nothing a memory dump could brute-force
  // faster than bcrypt. Lengths first, so user and password cannot shift.
  std::string message;
  message.reserve(16 + user.size() + password.size());
  const uint64_t lengths[2] = {user.size(), password.size()};
  message.append(reinterpret_cast<const char*>(lengths), sizeof(lengths));
  message.append(user);
  message.append(password);
  Digest digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), cache_secret_.data(),
       static_cast<int>(cache_secret_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       digest.data(), &length);
  OPENSSL_cleanse(message.data(), message.size());
  return digest;
}

void BasicAuth::DigestSet::Insert(const Digest& digest, size_t limit) {
  if (!digests.insert(digest).second) return;
  order.push_back(digest);
  if (order.size() > limit) {
    digests.erase(order.front());
    order.pop_front();
  }
}

bool BasicAuth::Bcrypt(const std::string& hash, std::string_view password) {
  std::string phrase(password);
  bool match = false;
  {
    std::lock_guard lock(bcrypt_mutex_);
    const char* out = crypt_rn(phrase.c_str(), hash.c_str(),
                               crypt_buffer_.get(), sizeof(crypt_data));
    match = out != nullptr && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  }
  OPENSSL_cleanse(phrase.data(), phrase.size());
  return match;
}

BasicAuth::Verdict BasicAuth::Lookup(std::string_view user,
                                     std::string_view password) const {
  if (users_.empty()) return Verdict::kBad;
  // libcrypt takes C strings of bounded length; such a password cannot be
  // anyone's, and refusing it early says nothing about the user.
  if (password.find('\0') != std::string_view::npos ||
      password.size() >= CRYPT_MAX_PASSPHRASE_SIZE) {
    return Verdict::kBad;
  }
  const Digest key = CacheKey(user, password);
  std::lock_guard lock(cache_mutex_);
  if (good_.digests.count(key) != 0) return Verdict::kGood;
  if (bad_.digests.count(key) != 0) return Verdict::kBad;
  return Verdict::kUnknown;
}

bool BasicAuth::Verify(std::string_view user, std::string_view password) {
  if (users_.empty()) return false;
  if (password.find('\0') != std::string_view::npos ||
      password.size() >= CRYPT_MAX_PASSPHRASE_SIZE) {
    return false;
  }
  const auto it = users_.find(std::string(user));
  const bool known = it != users_.end();
  // An unknown user costs the same bcrypt as a known one.
  const bool ok = Bcrypt(known ? it->second : dummy_, password) && known;
  const Digest key = CacheKey(user, password);
  std::lock_guard lock(cache_mutex_);
  if (ok) {
    good_.Insert(key, kMaxCached);
  } else {
    bad_.Insert(key, kMaxCachedFailures);
  }
  return ok;
}

bool BasicAuth::Check(std::string_view user, std::string_view password) {
  switch (Lookup(user, password)) {
    case Verdict::kGood:
      return true;
    case Verdict::kBad:
      return false;
    case Verdict::kUnknown:
      break;
  }
  return Verify(user, password);
}

size_t BasicAuth::cached() const {
  std::lock_guard lock(cache_mutex_);
  return good_.digests.size();
}

size_t BasicAuth::cached_failures() const {
  std::lock_guard lock(cache_mutex_);
  return bad_.digests.size();
}

}  // namespace synwatch
