// SPDX-License-Identifier: Apache-2.0
// The HTTP side of the bouncer and the reporter: GET /v1/decisions/stream
// and POSTs (watcher login, alerts) to a CrowdSec Local API with libcurl,
// loaded on first use (dlopen, as OpenSSL is: an exporter with the bouncer off
// never maps it).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"

namespace synwatch {

struct LapiAnswer {
  long status = 0;    // HTTP status, 0 when no answer came
  std::string body;   // at most max_body bytes (kMaxLapiBody)
  std::string error;  // transport error ("Connection refused"), "" if none
};

// A community blocklist of 100,000 decisions is about 20 MB of JSON.
inline constexpr size_t kMaxLapiBody = 256u << 20;

class LapiClient {
 public:
  // Loads libcurl and reads the API key file; throws std::runtime_error
  // with context ("crowdsec: load libcurl.so.4: ...").
  // max_body: a longer answer fails (tests lower it).
  LapiClient(const CrowdsecConfig& config, std::string user_agent,
             size_t max_body = kMaxLapiBody);
  ~LapiClient();
  LapiClient(const LapiClient&) = delete;
  LapiClient& operator=(const LapiClient&) = delete;

  // GET /v1/decisions/stream?startup=...&scopes=...[&origins=...]. Never
  // throws; timeout bounds the whole request.
  LapiAnswer Stream(bool startup, std::chrono::seconds timeout);

  // POST of a JSON body to path under lapi_url ("v1/alerts"), with
  // "Authorization: Bearer <token>" unless token is "" (no X-Api-Key: the
  // reporter is a machine, not a bouncer). Never throws.
  LapiAnswer Post(const std::string& path, const std::string& json,
                  const std::string& token, std::chrono::seconds timeout);

  // Ends a request under way in another thread at once (it fails), and
  // every later one: for shutting down without waiting out a timeout.
  void Cancel();

  // The request's URL (no secret in it), for logs.
  std::string StreamUrl(bool startup) const;

 private:
  struct Impl;
  // One request on the handle: a GET, or a POST of *post when given.
  LapiAnswer Perform(const std::string& url, const std::string* post,
                     const std::string& auth_header,
                     std::chrono::seconds timeout);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synwatch
