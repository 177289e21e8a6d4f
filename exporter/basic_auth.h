// SPDX-License-Identifier: Apache-2.0
// HTTP basic auth against bcrypt hashes, as exporter-toolkit does it:
// verified with libcrypt (crypt_rn), one bcrypt at a time, an unknown user
// checked against a dummy hash of the same cost (the time taken does not
// tell which names exist), and successful checks cached so the bcrypt cost
// is not paid on every scrape.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace synwatch {

// "" when hash is a bcrypt hash libcrypt can verify ("$2y$10$" and 53
// characters, as `htpasswd -nB` writes), else a short reason.
std::string CheckBcryptHash(std::string_view hash);

// The user and password of an "Authorization: Basic ..." header value;
// false when it is not one (another scheme, bad base64, no colon).
bool ParseBasicAuthorization(std::string_view header, std::string* user,
                             std::string* password);

class BasicAuth {
 public:
  // users: name -> bcrypt hash, each passing CheckBcryptHash (throws
  // std::invalid_argument otherwise). Empty: Check() is never needed.
  explicit BasicAuth(std::map<std::string, std::string> users);
  ~BasicAuth();
  BasicAuth(const BasicAuth&) = delete;
  BasicAuth& operator=(const BasicAuth&) = delete;

  bool enabled() const { return !users_.empty(); }

  // True when the password is the user's. Thread-safe.
  bool Check(std::string_view user, std::string_view password);

  // Successful checks remembered (for tests).
  size_t cached() const;

  static constexpr size_t kMaxCached = 100;

 private:
  using Digest = std::array<uint8_t, 32>;
  Digest CacheKey(std::string_view user, std::string_view password) const;
  bool Verify(const std::string& hash, std::string_view password);

  const std::map<std::string, std::string> users_;
  std::string dummy_;  // a bcrypt setting of the users' highest cost
  std::array<uint8_t, 32> cache_secret_{};

  mutable std::mutex cache_mutex_;
  std::set<Digest> cache_;
  std::deque<Digest> cache_order_;  // oldest first

  // bcrypt is CPU-bound by design: one at a time, so a flood of bad
  // passwords costs one core, and cached scrapes never wait for it.
  std::mutex bcrypt_mutex_;
  std::unique_ptr<char[]> crypt_buffer_;  // struct crypt_data, 32 KiB
};

}  // namespace synwatch
