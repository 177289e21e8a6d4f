// SPDX-License-Identifier: Apache-2.0
#include "xdp/interfaces.h"

#include <gtest/gtest.h>

namespace synwatch {
namespace {

TEST(InterfacesTest, Ipv4DefaultRoutes) {
  const std::string text =
      "Iface\tDestination\tGateway "
      "\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
      "wg0\t00000000\t00000000\t0001\t0\t0\t100\t00000000\t0\t0\t0\n"
      "eth0\t00000000\t010200C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n";
  EXPECT_EQ(ParseIpv4DefaultRoutes(text),
            (std::vector<std::string>{"eth0", "wg0"}));
}

TEST(InterfacesTest, Ipv6DefaultRoutesSkipLoopbackAndReject) {
  const std::string zero(32, '0');
  const std::string text =
      "20010db8000000000000000000000000 40 " + zero + " 00 " + zero +
      " 00000100 00000001 00000000 00000001     eth1\n" + zero + " 00 " + zero +
      " 00 20010db8000000000000000000000001 00000400 00000001 00000000 "
      "00000003     eth1\n" +
      zero + " 00 " + zero + " 00 " + zero +
      " ffffffff 00000001 00000000 00200200       lo\n";
  EXPECT_EQ(ParseIpv6DefaultRoutes(text), (std::vector<std::string>{"eth1"}));
}

TEST(InterfacesTest, EmptyTables) {
  EXPECT_TRUE(ParseIpv4DefaultRoutes("").empty());
  EXPECT_TRUE(ParseIpv6DefaultRoutes("").empty());
}

}  // namespace
}  // namespace synwatch
