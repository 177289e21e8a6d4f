// SPDX-License-Identifier: Apache-2.0
#include "web/http_request.h"

#include <gtest/gtest.h>

#include <string>

namespace synwatch {
namespace {

ParseResult Parse(const std::string& data, HttpRequest* request) {
  return ParseRequestHead(data, request);
}

TEST(HttpRequestTest, ParsesAPrometheusScrape) {
  HttpRequest r;
  const std::string head =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9632\r\n"
      "Accept:  text/plain;version=0.0.4 \t\r\nACCEPT-ENCODING: gzip\r\n\r\n";
  const ParseResult result = Parse(head + "GET /next", &r);
  ASSERT_EQ(result.kind, ParseResult::kComplete);
  EXPECT_EQ(result.consumed, head.size());
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/metrics");
  EXPECT_EQ(r.minor_version, 1);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.Header("accept"), "text/plain;version=0.0.4");
  EXPECT_EQ(r.Header("accept-encoding"), "gzip");
  EXPECT_EQ(r.Header("authorization"), "");
}

TEST(HttpRequestTest, IncompleteUntilTheBlankLine) {
  HttpRequest r;
  for (const char* partial :
       {"", "G", "GET /metrics HTTP/1.1", "GET / HTTP/1.1\r\nHost: x\r\n",
        "\r\n\r\nGET / HTTP/1.1\r\n"}) {
    EXPECT_EQ(Parse(partial, &r).kind, ParseResult::kIncomplete) << partial;
  }
}

TEST(HttpRequestTest, KeepAliveFollowsVersionAndConnection) {
  struct Case {
    const char* head;
    bool keep_alive;
  };
  for (const Case& c : {
           Case{"GET / HTTP/1.1\r\n\r\n", true},
           Case{"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false},
           Case{"GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\n\r\n", false},
           Case{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
       }) {
    HttpRequest r;
    ASSERT_EQ(Parse(c.head, &r).kind, ParseResult::kComplete) << c.head;
    EXPECT_EQ(r.keep_alive, c.keep_alive) << c.head;
  }
}

TEST(HttpRequestTest, TargetForms) {
  struct Case {
    const char* head;
    const char* path;
  };
  for (const Case& c : {
           Case{"GET http://h:9632/metrics?a HTTP/1.1\r\n\r\n", "/metrics"},
           Case{"GET HTTPS://h HTTP/1.1\r\n\r\n", "/"},
           Case{"OPTIONS * HTTP/1.1\r\n\r\n", "*"},
           Case{"\r\nGET /-/ready HTTP/1.1\nHost: x\n\n", "/-/ready"},
       }) {
    HttpRequest r;
    ASSERT_EQ(Parse(c.head, &r).kind, ParseResult::kComplete) << c.head;
    EXPECT_EQ(r.path, c.path) << c.head;
  }
}

TEST(HttpRequestTest, RefusesWithTheRightStatus) {
  struct Case {
    std::string head;
    int status;
  };
  const Case cases[] = {
      {"GET /" + std::string(kMaxRequestHeadBytes, 'a'), 414},
      {"GET / HTTP/1.1\r\nX: " + std::string(kMaxRequestHeadBytes, 'b'), 431},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"\x16\x03\x01\x02", 400},  // refused before the head is complete
      {"GET /\x7f HTTP/1.1\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\n\r\n", 400},
      {"GET metrics HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTX/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX : y\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 413},
      {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413},
  };
  for (const Case& c : cases) {
    HttpRequest r;
    const ParseResult result = Parse(c.head, &r);
    EXPECT_EQ(result.kind, ParseResult::kError) << c.head.substr(0, 40);
    EXPECT_EQ(result.status, c.status) << c.head.substr(0, 40);
  }
}

TEST(HttpRequestTest, HeaderCountLimit) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < kMaxRequestHeaders; ++i) head += "X: y\r\n";
  HttpRequest r;
  EXPECT_EQ(Parse(head + "\r\n", &r).kind, ParseResult::kComplete);
  EXPECT_EQ(Parse(head + "X: y\r\n\r\n", &r).status, 431);
  EXPECT_EQ(
      Parse(std::string("GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n"), &r)
          .kind,
      ParseResult::kComplete);
}

}  // namespace
}  // namespace synwatch
