// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cstdio>

#include "crowdsec/decisions.h"

namespace synwatch {
namespace {

using std::chrono::nanoseconds;
constexpr uint64_t kSec = 1000000000ULL;

Cidr P(const char* text) {
  std::string error;
  auto c = ParseCidr(text, &error);
  EXPECT_TRUE(c.has_value()) << text << ": " << error;
  return c.value_or(Cidr{});
}

Decision D(int64_t id, const char* prefix, int64_t seconds,
           const char* origin = "cscli") {
  Decision d;
  d.id = id;
  d.origin = origin;
  d.scope = std::string(prefix).find('/') == std::string::npos ? "ip" : "range";
  d.prefix = P(prefix);
  d.duration = std::chrono::seconds(seconds);
  return d;
}

TEST(GoDurationTest, ParsesWhatTheLapiSends) {
  nanoseconds d{};
  ASSERT_TRUE(ParseGoDuration("3h59m59.9s", &d));
  EXPECT_EQ(d.count(), (3 * 3600 + 59 * 60 + 59) * 1000000000LL + 900000000LL);
  ASSERT_TRUE(ParseGoDuration("1m0.123456789s", &d));
  EXPECT_EQ(d.count(), 60123456789LL);
  ASSERT_TRUE(ParseGoDuration("500ms", &d));
  EXPECT_EQ(d.count(), 500000000LL);
  ASSERT_TRUE(ParseGoDuration("-2s", &d));
  EXPECT_EQ(d.count(), -2000000000LL);
  ASSERT_TRUE(ParseGoDuration("0", &d));
  EXPECT_EQ(d.count(), 0);
  ASSERT_TRUE(ParseGoDuration("1.5\xc2\xb5s", &d));
  EXPECT_EQ(d.count(), 1500);
}

TEST(GoDurationTest, RefusesOtherText) {
  nanoseconds d{};
  for (const char* bad :
       {"", "4", "h", "3x", "1.2.3s", "-", "10 s", "999999999999h"}) {
    EXPECT_FALSE(ParseGoDuration(bad, &d)) << bad;
  }
}

TEST(ParseStreamTest, ReadsIpAndRangeOfBothFamilies) {
  const char* json = R"({"new":[
    {"duration":"3h59m59.9s","id":1,"origin":"cscli","scenario":"x","scope":"Ip","type":"ban","value":"203.0.113.9"},
    {"duration":"1h","id":2,"origin":"cscli","scope":"Range","type":"ban","value":"2001:db8:66::/48"},
    {"duration":"1h","id":3,"origin":"CAPI","scope":"Ip","type":"ban","value":"2001:db8::7"}],
    "deleted":null})";
  std::string error;
  const StreamDelta d = ParseStream(json, DecisionFilter{}, &error);
  ASSERT_EQ(d.added.size(), 3U) << error;
  EXPECT_EQ(d.added[0].prefix, P("203.0.113.9"));
  EXPECT_EQ(d.added[0].scope, "ip");
  EXPECT_EQ(d.added[1].prefix, P("2001:db8:66::/48"));
  EXPECT_EQ(d.added[1].scope, "range");
  EXPECT_EQ(d.added[2].prefix.prefix_len, 128);
  EXPECT_EQ(d.added[2].origin, "CAPI");
  EXPECT_TRUE(d.deleted.empty());
  EXPECT_EQ(d.malformed, 0U);
}

TEST(ParseStreamTest, IgnoresOtherTypesScopesAndOrigins) {
  const char* json = R"({"new":[
    {"duration":"1h","id":1,"origin":"cscli","scope":"Ip","type":"captcha","value":"192.0.2.1"},
    {"duration":"1h","id":2,"origin":"cscli","scope":"Country","type":"ban","value":"FR"},
    {"duration":"1h","id":3,"origin":"CAPI","scope":"Ip","type":"ban","value":"192.0.2.3"},
    {"duration":"1h","id":4,"origin":"cscli","scope":"Range","type":"ban","value":"192.0.2.0/24"},
    {"duration":"1h","id":5,"origin":"cscli","scope":"Ip","type":"ban","value":"192.0.2.5"}],
    "deleted":[]})";
  DecisionFilter filter;
  filter.origins = {"cscli"};
  filter.scopes = {"ip"};
  std::string error;
  const StreamDelta d = ParseStream(json, filter, &error);
  ASSERT_EQ(d.added.size(), 1U);
  EXPECT_EQ(d.added[0].id, 5);
  EXPECT_EQ(d.ignored, 4U);
}

TEST(ParseStreamTest, CountsHostileRecordsAndKeepsTheRest) {
  const char* json = R"({"new":[
    {"duration":"1h","id":1,"scope":"Range","type":"ban","value":"192.0.2.1/24"},
    {"duration":"1h","id":2,"scope":"Ip","type":"ban","value":"::ffff:192.0.2.1"},
    {"duration":"1h","id":3,"scope":"Ip","type":"ban","value":"192.0.2.0/24"},
    {"duration":"forever","id":4,"scope":"Ip","type":"ban","value":"192.0.2.4"},
    {"id":"5","scope":"Ip","type":"ban","value":"192.0.2.5"},
    7,
    {"duration":"1h","id":8,"scope":"Ip","type":"ban","value":"192.0.2.8"}]})";
  std::string error;
  const StreamDelta d = ParseStream(json, DecisionFilter{}, &error);
  EXPECT_EQ(d.malformed, 6U);
  EXPECT_NE(error.find("host bits"), std::string::npos) << error;
  ASSERT_EQ(d.added.size(), 1U);
  EXPECT_EQ(d.added[0].id, 8);
}

TEST(ParseStreamTest, ThrowsOnWhatIsNotAStreamAnswer) {
  std::string error;
  EXPECT_THROW(ParseStream("{\"new\": [", DecisionFilter{}, &error),
               std::runtime_error);
  EXPECT_THROW(ParseStream("[]", DecisionFilter{}, &error), std::runtime_error);
  EXPECT_THROW(ParseStream("{\"new\": 3}", DecisionFilter{}, &error),
               std::runtime_error);
  const StreamDelta d = ParseStream("{}", DecisionFilter{}, &error);
  EXPECT_TRUE(d.added.empty());
}

StreamDelta Added(std::vector<Decision> d) {
  StreamDelta s;
  s.added = std::move(d);
  return s;
}

StreamDelta Deleted(std::vector<Decision> d) {
  StreamDelta s;
  s.deleted = std::move(d);
  return s;
}

TEST(DecisionStoreTest, TwoDecisionsOnOnePrefixLastUntilBothGo) {
  DecisionStore store;
  auto c = store.Apply(Added({D(1, "203.0.113.9", 100)}), 10 * kSec, true);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(c[0].expires_ns, 110 * kSec);
  // A second, longer decision on the same address: the kernel holds the
  // later expiry.
  c = store.Apply(Added({D(2, "203.0.113.9", 300)}), 20 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(c[0].expires_ns, 320 * kSec);
  // The longer one deleted: still banned, until the first one's end.
  c = store.Apply(Deleted({D(2, "203.0.113.9", 0)}), 30 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  ASSERT_TRUE(c[0].expires_ns.has_value());
  EXPECT_EQ(*c[0].expires_ns, 110 * kSec);
  EXPECT_EQ(store.decisions(), 1U);
  // The last one deleted: the entry goes.
  c = store.Apply(Deleted({D(1, "203.0.113.9", 0)}), 40 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_FALSE(c[0].expires_ns.has_value());
  EXPECT_TRUE(store.kernel().empty());
}

TEST(DecisionStoreTest, DeletingTheShorterOneChangesNothingInTheKernel) {
  DecisionStore store;
  store.Apply(
      Added({D(1, "2001:db8:66::/48", 100), D(2, "2001:db8:66::/48", 50)}), 0,
      true);
  EXPECT_EQ(store.kernel().at(P("2001:db8:66::/48")), 100 * kSec);
  const auto c =
      store.Apply(Deleted({D(2, "2001:db8:66::/48", 0)}), kSec, false);
  EXPECT_TRUE(c.empty());
}

TEST(DecisionStoreTest, ExpiredDecisionsGoAndUnknownDeletesAreHarmless) {
  DecisionStore store;
  store.Apply(Added({D(1, "192.0.2.1", 10), D(2, "192.0.2.0/24", 100)}), 0,
              true);
  auto c = store.Apply(Deleted({D(99, "198.51.100.1", 0)}), 50 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(c[0].prefix, P("192.0.2.1"));
  EXPECT_FALSE(c[0].expires_ns.has_value());
  EXPECT_EQ(store.decisions(), 1U);
  // A decision already over when it arrives is not written.
  c = store.Apply(Added({D(3, "192.0.2.3", 0)}), 51 * kSec, false);
  EXPECT_TRUE(c.empty());
}

TEST(DecisionStoreTest, StartupReplacesTheSetWithoutDeletingWhatStays) {
  DecisionStore store;
  store.Apply(Added({D(1, "192.0.2.1", 100), D(2, "192.0.2.2", 100)}), 0, true);
  // A restart of the stream: 1 stays (same prefix, new id), 2 is gone.
  const auto c = store.Apply(Added({D(5, "192.0.2.1", 100)}), kSec, true);
  ASSERT_EQ(c.size(), 2U);
  EXPECT_EQ(c[0].prefix, P("192.0.2.1"));
  ASSERT_TRUE(c[0].expires_ns.has_value());  // rewritten, never deleted
  EXPECT_EQ(c[1].prefix, P("192.0.2.2"));
  EXPECT_FALSE(c[1].expires_ns.has_value());
}

TEST(DecisionStoreTest, ADeleteOfAnIdNeverSentClearsItsPrefix) {
  // LAPI 1.4.6: two decisions on 203.0.113.9 stream as the longest (id 2);
  // deleting id 2 sends nothing while id 1 holds; deleting id 1 then sends
  // "deleted" id 1, once no decision remains on the address.
  DecisionStore store;
  store.Apply(Added({D(2, "203.0.113.9", 7200), D(3, "192.0.2.0/24", 60)}), 0,
              true);
  const auto c = store.Apply(Deleted({D(1, "203.0.113.9", 0)}), kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(c[0].prefix, P("203.0.113.9"));
  EXPECT_FALSE(c[0].expires_ns.has_value());
  EXPECT_EQ(store.decisions(), 1U);
  // Unknown id and prefix: nothing to do.
  EXPECT_TRUE(
      store.Apply(Deleted({D(9, "198.51.100.1", 0)}), kSec, false).empty());
}

TEST(DecisionStoreTest, CountsByOriginScopeAndFamily) {
  DecisionStore store;
  store.Apply(
      Added({D(1, "192.0.2.1", 100), D(2, "192.0.2.0/24", 100),
             D(3, "2001:db8::/32", 100, "CAPI"), D(4, "192.0.2.1", 100)}),
      0, true);
  const auto counts = store.Counts();
  EXPECT_EQ(counts.at({"cscli", "ip", "ipv4"}), 2U);
  EXPECT_EQ(counts.at({"cscli", "range", "ipv4"}), 1U);
  EXPECT_EQ(counts.at({"CAPI", "range", "ipv6"}), 1U);
  EXPECT_EQ(store.kernel().size(), 3U);
  // Kept as decisions go: deleted, expired, left out of a full answer, or
  // sent again under the same id.
  store.Apply(Deleted({D(1, "192.0.2.1", 0)}), kSec, false);
  EXPECT_EQ(store.Counts().at({"cscli", "ip", "ipv4"}), 1U);
  store.Apply(Added({D(2, "192.0.2.0/24", 100, "CAPI")}), kSec, false);
  EXPECT_EQ(store.Counts().count({"cscli", "range", "ipv4"}), 0U);
  EXPECT_EQ(store.Counts().at({"CAPI", "range", "ipv4"}), 1U);
  store.Apply(Added({D(3, "2001:db8::/32", 100, "CAPI")}), 2 * kSec, true);
  EXPECT_EQ(store.Counts().size(), 1U);
  EXPECT_EQ(store.Counts().at({"CAPI", "range", "ipv6"}), 1U);
  store.Apply(Added({}), 200 * kSec, false);  // expired
  EXPECT_TRUE(store.Counts().empty());
  EXPECT_EQ(store.decisions(), 0U);
}

// A community blocklist's size in one startup answer: every decision is
// read and becomes one prefix (IPv6 /128s inside 2001:db8::/32).
TEST(DecisionStoreTest, AHundredThousandDecisionsInOneAnswer) {
  std::string json = R"({"deleted":null,"new":[)";
  char value[64];
  for (int i = 1; i <= 100000; ++i) {
    std::snprintf(value, sizeof(value), "2001:db8::%x:%x", i >> 16, i & 0xffff);
    if (i > 1) json += ',';
    json +=
        R"({"duration":"23h59m59.5s","id":)" + std::to_string(i) +
        R"(,"origin":"lists","scenario":"l","scope":"Ip","type":"ban","value":")" +
        value + "\"}";
  }
  json += "]}";
  std::string error;
  const StreamDelta d = ParseStream(json, DecisionFilter{}, &error);
  ASSERT_EQ(d.added.size(), 100000U) << error;
  DecisionStore store;
  const auto changes = store.Apply(d, kSec, true);
  EXPECT_EQ(changes.size(), 100000U);
  EXPECT_EQ(store.kernel().size(), 100000U);
  EXPECT_EQ(store.Counts().at({"lists", "ip", "ipv6"}), 100000U);
  // The next full answer with the same set rewrites the ends, deletes none.
  EXPECT_EQ(store.Apply(d, 2 * kSec, true).size(), 100000U);
  EXPECT_EQ(store.kernel().size(), 100000U);
}

}  // namespace
}  // namespace synwatch

namespace synwatch {
namespace {

TEST(DecisionStoreTest, APrefixCarriesTheOriginOfTheDecisionEndingLast) {
  DecisionStore store;
  Decision list = D(3, "198.51.100.0/24", 600, "lists");
  list.scenario = "firehol_level1";
  auto c =
      store.Apply(Added({D(1, "203.0.113.9", 100, "crowdsec"), list}), 0, true);
  ASSERT_EQ(c.size(), 2U);
  EXPECT_EQ(c[0].origin, "lists:firehol_level1");  // 198.51.100.0/24 first
  EXPECT_EQ(c[1].origin, "crowdsec");
  // A longer decision of another origin on the address takes it over.
  c = store.Apply(Added({D(2, "203.0.113.9", 300, "cscli")}), kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(*c[0].expires_ns, 301 * kSec);
  EXPECT_EQ(c[0].origin, "cscli");
  EXPECT_EQ(store.kernel_origins().at(P("203.0.113.9")), "cscli");
  // Deleted, the first one's origin comes back with its expiry.
  c = store.Apply(Deleted({D(2, "203.0.113.9", 0)}), 2 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(*c[0].expires_ns, 100 * kSec);
  EXPECT_EQ(c[0].origin, "crowdsec");
  // Same expiry, other origin: the one sent last (higher id) counts, and
  // the change alone is written.
  c = store.Apply(Added({D(7, "203.0.113.9", 98, "CAPI")}), 2 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(*c[0].expires_ns, 100 * kSec);
  EXPECT_EQ(c[0].origin, "CAPI");
  c = store.Apply(Deleted({D(7, "203.0.113.9", 0)}), 3 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(c[0].origin, "crowdsec");
  c = store.Apply(Deleted({D(1, "203.0.113.9", 0)}), 4 * kSec, false);
  ASSERT_EQ(c.size(), 1U);
  EXPECT_FALSE(c[0].expires_ns.has_value());
  EXPECT_EQ(store.kernel_origins().count(P("203.0.113.9")), 0U);
}

TEST(ParseStreamTest, ReadsTheScenarioOfAList) {
  std::string error;
  const StreamDelta d = ParseStream(
      R"({"new":[{"duration":"1h","id":1,"origin":"lists","scenario":"tor_exit","scope":"Ip","type":"ban","value":"192.0.2.1"}]})",
      DecisionFilter{}, &error);
  ASSERT_EQ(d.added.size(), 1U);
  EXPECT_EQ(d.added[0].origin, "lists");
  EXPECT_EQ(d.added[0].scenario, "tor_exit");
}

}  // namespace
}  // namespace synwatch
