// SPDX-License-Identifier: Apache-2.0
#include "web/basic_auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_bcrypt.h"

namespace synwatch {
namespace {

using testing::BcryptHash;

TEST(BcryptHashTest, AcceptsWhatHtpasswdAndLibcryptWrite) {
  EXPECT_EQ(CheckBcryptHash(BcryptHash("x")), "");
  EXPECT_EQ(CheckBcryptHash(BcryptHash("x", 6)), "");
  std::string hash = BcryptHash("x");
  for (const char variant : {'a', 'b', 'y'}) {
    hash[2] = variant;
    EXPECT_EQ(CheckBcryptHash(hash), "") << hash;
  }
}

TEST(BcryptHashTest, RefusesOtherHashes) {
  const std::string hash = BcryptHash("x");
  EXPECT_NE(CheckBcryptHash(""), "");
  EXPECT_NE(CheckBcryptHash("secret"), "");
  EXPECT_NE(CheckBcryptHash("$6$salt$" + std::string(86, 'a')), "");  // SHA-512
  EXPECT_NE(CheckBcryptHash("$1$" + hash.substr(3)), "");
  EXPECT_NE(CheckBcryptHash("$2z$" + hash.substr(4)), "");
  EXPECT_NE(CheckBcryptHash("$2y$3" + hash.substr(5)), "");
  EXPECT_NE(CheckBcryptHash("$2y$32" + hash.substr(6)), "");
  EXPECT_NE(CheckBcryptHash(hash + "a"), "");
  EXPECT_NE(CheckBcryptHash(hash.substr(0, 59) + "!"), "");
}

TEST(BasicAuthorizationTest, ParsesBasicCredentials) {
  std::string user;
  std::string password;
  // "alice:s3cr:et" (a password may hold colons; the user cannot).
  EXPECT_TRUE(
      ParseBasicAuthorization("Basic YWxpY2U6czNjcjpldA==", &user, &password));
  EXPECT_EQ(user, "alice");
  EXPECT_EQ(password, "s3cr:et");
  EXPECT_TRUE(ParseBasicAuthorization("basic   Ym9iOg==  ", &user, &password));
  EXPECT_EQ(user, "bob");
  EXPECT_EQ(password, "");
  EXPECT_TRUE(ParseBasicAuthorization("BASIC OmE=", &user, &password));
  EXPECT_EQ(user, "");
  EXPECT_EQ(password, "a");
}

TEST(BasicAuthorizationTest, RefusesAnythingElse) {
  std::string user;
  std::string password;
  for (const char* header :
       {"", "Basic", "Basic ", "Bearer YWxpY2U6eA==", "BasicYWxpY2U6eA==",
        "Basic YWxpY2U6eA=", "Basic YWxpY2U6eA==a", "Basic YWxp!2U6eA==",
        "Basic YWxpY2U=", "Basic ====", "Basic YW=xY2U6eA=="}) {
    EXPECT_FALSE(ParseBasicAuthorization(header, &user, &password)) << header;
  }
}

class BasicAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    users_ = new std::map<std::string, std::string>{
        {"alice", BcryptHash("wonderland")}, {"bob", BcryptHash("builder", 5)}};
  }
  static void TearDownTestSuite() { delete users_; }

  static std::map<std::string, std::string>* users_;
};

std::map<std::string, std::string>* BasicAuthTest::users_ = nullptr;

TEST_F(BasicAuthTest, RightPasswordPasses) {
  BasicAuth auth(*users_);
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.Check("alice", "wonderland"));
  EXPECT_TRUE(auth.Check("bob", "builder"));
}

TEST_F(BasicAuthTest, WrongPasswordFails) {
  BasicAuth auth(*users_);
  EXPECT_FALSE(auth.Check("alice", "builder"));
  EXPECT_FALSE(auth.Check("alice", ""));
  EXPECT_FALSE(auth.Check("alice", "wonderlan"));
  EXPECT_FALSE(auth.Check("alice", "wonderland "));
  EXPECT_FALSE(auth.Check("Alice", "wonderland"));
  // A NUL would end the C string libcrypt sees: never a match.
  EXPECT_FALSE(auth.Check("alice", std::string("wonderland\0x", 12)));
  EXPECT_FALSE(auth.Check("alice", std::string(600, 'a')));
  EXPECT_EQ(auth.cached(), 0u);
}

TEST_F(BasicAuthTest, UnknownUserFails) {
  BasicAuth auth(*users_);
  EXPECT_FALSE(auth.Check("mallory", "wonderland"));
  EXPECT_FALSE(auth.Check("", ""));
  EXPECT_FALSE(auth.Check("alice\n", "wonderland"));
}

TEST_F(BasicAuthTest, UnknownUserCostsABcryptToo) {
  // Cost 10 makes one bcrypt take tens of milliseconds: an unknown user must
  // not answer measurably faster than a known one with a wrong password.
  BasicAuth auth({{"alice", BcryptHash("wonderland", 10)}});
  int guess = 0;  // a new password each time: failures are remembered
  auto time = [&](const char* user) {
    const std::string password = "guess" + std::to_string(++guess);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(auth.Check(user, password));
    return std::chrono::steady_clock::now() - start;
  };
  time("alice");  // warm up
  auto fastest = [&](const char* user) {
    auto best = time(user);
    for (int i = 0; i < 4; ++i) best = std::min(best, time(user));
    return best;
  };
  const auto known = fastest("alice");
  const auto unknown = fastest("mallory");
  // Loose bounds (a shared machine is noisy): a skipped bcrypt would be
  // a hundred times faster.
  EXPECT_GT(unknown, known / 4);
  EXPECT_LT(unknown, known * 4);
}

TEST_F(BasicAuthTest, SuccessAndFailureAreRememberedApart) {
  BasicAuth auth(*users_);
  using Verdict = BasicAuth::Verdict;
  EXPECT_EQ(auth.Lookup("alice", "wonderland"), Verdict::kUnknown);
  EXPECT_TRUE(auth.Check("alice", "wonderland"));
  EXPECT_EQ(auth.cached(), 1u);
  EXPECT_EQ(auth.Lookup("alice", "wonderland"), Verdict::kGood);
  EXPECT_TRUE(auth.Check("alice", "wonderland"));
  EXPECT_EQ(auth.cached(), 1u);
  EXPECT_EQ(auth.Lookup("alice", "nope"), Verdict::kUnknown);
  EXPECT_FALSE(auth.Check("alice", "nope"));
  EXPECT_FALSE(auth.Check("bob", "wonderland"));  // another user's password
  EXPECT_EQ(auth.cached(), 1u);
  EXPECT_EQ(auth.cached_failures(), 2u);
  EXPECT_EQ(auth.Lookup("alice", "nope"), Verdict::kBad);
  EXPECT_EQ(auth.Lookup("bob", "wonderland"), Verdict::kBad);
  EXPECT_EQ(auth.Lookup("bob", "builder"), Verdict::kUnknown);
  EXPECT_TRUE(auth.Check("bob", "builder"));
  EXPECT_EQ(auth.cached(), 2u);
  // What no password can be is bad without a bcrypt, and not remembered.
  EXPECT_EQ(auth.Lookup("alice", std::string("a\0b", 3)), Verdict::kBad);
  EXPECT_EQ(auth.cached_failures(), 2u);
}

TEST_F(BasicAuthTest, RememberedFailureCostsNoBcrypt) {
  // Cost 12: a bcrypt takes a quarter second or more; a remembered failure
  // is one HMAC.
  BasicAuth auth({{"alice", BcryptHash("wonderland", 12)}});
  EXPECT_FALSE(auth.Check("alice", "guess"));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(auth.Check("alice", "guess"));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(100));
}

TEST_F(BasicAuthTest, FailureCacheIsBounded) {
  BasicAuth auth(*users_);
  for (size_t i = 0; i < BasicAuth::kMaxCachedFailures + 10; ++i) {
    EXPECT_FALSE(auth.Verify("alice", "wrong" + std::to_string(i)));
  }
  EXPECT_EQ(auth.cached_failures(), BasicAuth::kMaxCachedFailures);
  EXPECT_EQ(auth.Lookup("alice", "wrong0"), BasicAuth::Verdict::kUnknown);
  EXPECT_EQ(auth.Lookup("alice", "wrong1033"), BasicAuth::Verdict::kBad);
}

TEST_F(BasicAuthTest, CacheIsBounded) {
  std::map<std::string, std::string> users;
  const std::string hash = BcryptHash("pw");
  for (size_t i = 0; i < BasicAuth::kMaxCached + 20; ++i) {
    users["user" + std::to_string(i)] = hash;
  }
  BasicAuth auth(users);
  for (const auto& [user, unused] : users) EXPECT_TRUE(auth.Check(user, "pw"));
  EXPECT_EQ(auth.cached(), BasicAuth::kMaxCached);
  // Evicted entries are verified again, and still pass.
  for (const auto& [user, unused] : users) EXPECT_TRUE(auth.Check(user, "pw"));
}

TEST_F(BasicAuthTest, ConcurrentChecks) {
  BasicAuth auth(*users_);
  std::atomic<int> right{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (auth.Check("alice", (i + t) % 2 == 0 ? "wonderland" : "x")) {
          ++right;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(right.load(), 20);
  EXPECT_EQ(wrong.load(), 20);
}

TEST(BasicAuthNoUsersTest, DisabledWithoutUsers) {
  BasicAuth auth(std::map<std::string, std::string>{});
  EXPECT_FALSE(auth.enabled());
  EXPECT_FALSE(auth.Check("", ""));
}

TEST(BasicAuthNoUsersTest, RefusesBadHashes) {
  const std::map<std::string, std::string> users = {{"alice", "plain"}};
  EXPECT_THROW(BasicAuth{users}, std::invalid_argument);
}

}  // namespace
}  // namespace synwatch
