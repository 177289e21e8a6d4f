// SPDX-License-Identifier: Apache-2.0
// HTTP basic auth against bcrypt hashes, as exporter-toolkit does it:
// verified with libcrypt (crypt_rn), one bcrypt at a time, an unknown user
// checked against a dummy hash of the same cost (the time taken does not
// tell which names exist). Checks are remembered, successes and failures
// apart, so that a scrape pays the bcrypt cost once and a wrong password
// sent again costs none: the server looks credentials up (Lookup, cheap)
// before it spends a bcrypt on them (Verify).
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

  enum class Verdict {
    kGood,     // verified before: the user's password
    kBad,      // verified before (or cannot be anyone's): not it
    kUnknown,  // never verified: needs a bcrypt (Verify)
  };

  // What is known about these credentials without a bcrypt: one HMAC and a
  // lookup, cheap enough for the event loop. Thread-safe.
  Verdict Lookup(std::string_view user, std::string_view password) const;

  // True when the password is the user's: a bcrypt (one at a time), whose
  // outcome is remembered. Thread-safe.
  bool Verify(std::string_view user, std::string_view password);

  // Lookup, then Verify when it must.
  bool Check(std::string_view user, std::string_view password);

  // Checks remembered (for tests).
  size_t cached() const;
  size_t cached_failures() const;

  static constexpr size_t kMaxCached = 100;
  // Failures remembered: a flood that repeats a few wrong passwords costs
  // one bcrypt each; one that makes up a new one each time meets the
  // server's bounded queue of unverified attempts instead.
  static constexpr size_t kMaxCachedFailures = 1024;

 private:
  using Digest = std::array<uint8_t, 32>;

  // Credentials remembered in insertion order, the oldest forgotten first.
  struct DigestSet {
    std::set<Digest> digests;
    std::deque<Digest> order;  // oldest first
    void Insert(const Digest& digest, size_t limit);
  };

  Digest CacheKey(std::string_view user, std::string_view password) const;
  bool Bcrypt(const std::string& hash, std::string_view password);

  const std::map<std::string, std::string> users_;
  std::string dummy_;  // a bcrypt setting of the users' highest cost
  std::array<uint8_t, 32> cache_secret_{};

  mutable std::mutex cache_mutex_;
  DigestSet good_;  // guarded by cache_mutex_
  DigestSet bad_;   // guarded by cache_mutex_

  // bcrypt is CPU-bound by design: one at a time, so a flood of bad
  // passwords costs one core, and cached scrapes never wait for it.
  std::mutex bcrypt_mutex_;
  std::unique_ptr<char[]> crypt_buffer_;  // struct crypt_data, 32 KiB
};

}  // namespace synwatch
