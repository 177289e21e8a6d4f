// SPDX-License-Identifier: Apache-2.0
#include "web/fair_queue.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <optional>
#include <string>
#include <vector>

namespace synwatch {
namespace {

std::vector<uint64_t> Drain(FairQueue& queue) {
  std::vector<uint64_t> out;
  while (std::optional<uint64_t> id = queue.Pop()) out.push_back(*id);
  return out;
}

TEST(FairQueueTest, TurnsGoRoundTheSources) {
  FairQueue queue(8, 100);
  // A floods first; B and C come later with one each.
  for (uint64_t id = 1; id <= 5; ++id) ASSERT_TRUE(queue.Push("A", id));
  ASSERT_TRUE(queue.Push("B", 10));
  ASSERT_TRUE(queue.Push("C", 20));
  ASSERT_TRUE(queue.Push("B", 11));
  EXPECT_EQ(queue.size(), 8u);
  EXPECT_EQ(Drain(queue), (std::vector<uint64_t>{1, 10, 20, 2, 11, 3, 4, 5}));
  EXPECT_TRUE(queue.empty());
}

TEST(FairQueueTest, BoundedPerSourceAndInAll) {
  FairQueue queue(2, 3);
  EXPECT_TRUE(queue.Push("A", 1));
  EXPECT_TRUE(queue.Push("A", 2));
  EXPECT_FALSE(queue.Push("A", 3));  // A's share is full
  EXPECT_TRUE(queue.Push("B", 4));
  EXPECT_FALSE(queue.Push("C", 5));  // the queue is full
  EXPECT_EQ(queue.waiting("A"), 2u);
  EXPECT_EQ(queue.waiting("C"), 0u);
  EXPECT_EQ(Drain(queue), (std::vector<uint64_t>{1, 4, 2}));
}

TEST(FairQueueTest, RemoveTakesOutOneAndItsTurnWhenLast) {
  FairQueue queue(8, 100);
  queue.Push("A", 1);
  queue.Push("B", 2);
  queue.Push("A", 3);
  EXPECT_FALSE(queue.Remove("A", 2));
  EXPECT_TRUE(queue.Remove("B", 2));
  EXPECT_EQ(queue.waiting("B"), 0u);
  EXPECT_TRUE(queue.Remove("A", 1));
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(Drain(queue), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(queue.Push("B", 4));  // a source that left comes back
  EXPECT_EQ(Drain(queue), (std::vector<uint64_t>{4}));
}

sockaddr_storage Address(int family, const char* text) {
  sockaddr_storage out{};
  out.ss_family = static_cast<sa_family_t>(family);
  if (family == AF_INET) {
    inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in&>(out).sin_addr);
  } else {
    inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6&>(out).sin6_addr);
  }
  return out;
}

TEST(FairQueueTest, SourceIsTheIpv4AddressOrTheIpv6Slash64) {
  const std::string a = SourceOf(Address(AF_INET, "192.0.2.1"));
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(SourceOf(Address(AF_INET6, "::ffff:192.0.2.1")), a);
  EXPECT_NE(SourceOf(Address(AF_INET, "192.0.2.2")), a);
  EXPECT_EQ(SourceOf(Address(AF_INET6, "2001:db8:1:2::1")),
            SourceOf(Address(AF_INET6, "2001:db8:1:2:ffff::9")));
  EXPECT_NE(SourceOf(Address(AF_INET6, "2001:db8:1:2::1")),
            SourceOf(Address(AF_INET6, "2001:db8:1:3::1")));
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  EXPECT_EQ(SourceOf(unix_peer), "");
}

}  // namespace
}  // namespace synwatch
