// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crowdsec/origins.h"

namespace synwatch {
namespace {

TEST(OriginLabelTest, ListsAreNamedByTheirList) {
  EXPECT_EQ(OriginLabel("lists", "firehol_level1"), "lists:firehol_level1");
  EXPECT_EQ(OriginLabel("lists", ""), "lists");
  EXPECT_EQ(OriginLabel("cscli", "manual 'ban' from 'x'"), "cscli");
  EXPECT_EQ(OriginLabel("CAPI", "crowdsecurity/ssh-bf"), "CAPI");
  EXPECT_EQ(OriginLabel("", "x"), "unknown");
}

TEST(OriginTableTest, FirstSeenFirstServedThenOther) {
  OriginTable t;
  bool added = false;
  EXPECT_EQ(t.Slot("crowdsec", &added), 0U);
  EXPECT_TRUE(added);
  EXPECT_EQ(t.Slot("cscli", &added), 1U);
  EXPECT_TRUE(added);
  EXPECT_EQ(t.Slot("crowdsec", &added), 0U);
  EXPECT_FALSE(added);
  for (uint32_t i = 2; i < OriginTable::kOther; ++i) {
    EXPECT_EQ(t.Slot("lists:l" + std::to_string(i), &added), i);
    EXPECT_TRUE(added);
  }
  // Full: the rest share the last slot, which is never given a name.
  EXPECT_EQ(t.Slot("lists:late", &added), OriginTable::kOther);
  EXPECT_FALSE(added);
  EXPECT_EQ(t.Slot("other", &added), OriginTable::kOther);
  EXPECT_EQ(t.Slot("", &added), OriginTable::kOther);
  EXPECT_EQ(t.names().size(), size_t{SW_ORIGIN_SLOTS});
  EXPECT_EQ(t.names()[OriginTable::kOther], "other");
  EXPECT_EQ(t.names()[1], "cscli");
}

TEST(OriginTableTest, KeepsTheSlotsReadBack) {
  std::vector<std::string> pinned(SW_ORIGIN_SLOTS);
  pinned[0] = "CAPI";
  pinned[3] = "cscli";
  pinned[4] = "CAPI";                        // twice: the first keeps it
  pinned[OriginTable::kOther] = "crowdsec";  // not a name the last slot has
  OriginTable t(pinned);
  bool added = true;
  EXPECT_EQ(t.Slot("cscli", &added), 3U);
  EXPECT_FALSE(added);
  EXPECT_EQ(t.Slot("CAPI", &added), 0U);
  EXPECT_EQ(t.Slot("crowdsec", &added), 1U);  // the first free slot
  EXPECT_TRUE(added);
  EXPECT_EQ(t.Slot("console", &added), 2U);
  EXPECT_EQ(t.Slot("appsec", &added), 4U);
  EXPECT_EQ(t.names()[OriginTable::kOther], "other");
}

TEST(OriginTableTest, LongNamesAreCutAsStored) {
  const std::string long_name = "lists:" + std::string(100, 'x');
  OriginTable t;
  bool added = false;
  const uint32_t slot = t.Slot(long_name, &added);
  EXPECT_EQ(t.names()[slot].size(), size_t{SW_ORIGIN_NAME_LEN - 1});
  EXPECT_EQ(t.Slot(long_name + "y", &added), slot);  // same stored name
  const sw_origin_name stored = OriginName(long_name);
  EXPECT_EQ(stored.name[SW_ORIGIN_NAME_LEN - 1], '\0');
  EXPECT_EQ(std::string(stored.name), t.names()[slot]);
  // What the kernel gives back maps to the same slot.
  OriginTable again(t.names());
  EXPECT_EQ(again.Slot(stored.name, &added), slot);
  EXPECT_FALSE(added);
}

}  // namespace
}  // namespace synwatch
