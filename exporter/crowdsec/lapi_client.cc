// SPDX-License-Identifier: Apache-2.0
#include "crowdsec/lapi_client.h"

#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <type_traits>

#include "base/file.h"

namespace synwatch {
namespace {

constexpr char kLibcurl[] = "libcurl.so.4";

// The few libcurl functions the client calls, from the library loaded on
// first use. Loaded once per process and never unloaded.
struct Curl {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
  char* (*easy_escape)(CURL*, const char*, int);
  void (*free)(void*);
};

// CURLOPT_XFERINFOFUNCTION: a non-zero return aborts the transfer.
int Progress(void* cancelled, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(cancelled)->load() ? 1 : 0;
}

const Curl& LoadCurl() {
  static const Curl curl = [] {
    void* h = dlopen(kLibcurl, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      throw std::runtime_error(std::string("crowdsec: load ") + kLibcurl +
                               ": " + dlerror());
    }
    auto sym = [h](const char* name) {
      void* p = dlsym(h, name);
      if (p == nullptr) {
        throw std::runtime_error(std::string("crowdsec: ") + kLibcurl +
                                 " lacks " + name);
      }
      return p;
    };
    Curl c{};
    const auto load = [&sym](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym(name));
    };
    load(c.global_init, "curl_global_init");
    load(c.easy_init, "curl_easy_init");
    load(c.easy_setopt, "curl_easy_setopt");
    load(c.easy_perform, "curl_easy_perform");
    load(c.easy_getinfo, "curl_easy_getinfo");
    load(c.easy_cleanup, "curl_easy_cleanup");
    load(c.easy_strerror, "curl_easy_strerror");
    load(c.slist_append, "curl_slist_append");
    load(c.slist_free_all, "curl_slist_free_all");
    load(c.easy_escape, "curl_easy_escape");
    load(c.free, "curl_free");
    // Before any thread uses libcurl; not thread-safe itself, but this
    // initialiser runs once.
    if (c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("crowdsec: curl_global_init failed");
    }
    return c;
  }();
  return curl;
}

struct Body {
  std::string* out;
  size_t max;
  bool too_big = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t len = size * n;
  if (body->out->size() + len > body->max) {
    body->too_big = true;
    return 0;  // aborts the transfer
  }
  body->out->append(data, len);
  return len;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' ||
                        s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

struct LapiClient::Impl {
  const Curl& curl;
  CrowdsecConfig config;
  std::string user_agent;
  std::string key_header;  // "X-Api-Key: ...": never logged
  CURL* handle = nullptr;
  size_t max_body = kMaxLapiBody;
  std::atomic<bool> cancelled{false};
};

LapiClient::LapiClient(const CrowdsecConfig& config, std::string user_agent,
                       size_t max_body)
    : impl_(new Impl{
          LoadCurl(), config, std::move(user_agent), {}, nullptr, max_body}) {
  std::string key = config.api_key;
  if (!config.api_key_file.empty()) {
    std::string error;
    if (!ReadWholeFile(config.api_key_file, 4096, &key, &error)) {
      throw std::runtime_error("crowdsec: read api_key_file " +
                               config.api_key_file + ": " + error);
    }
    key = Trim(key);
    if (key.empty()) {
      throw std::runtime_error("crowdsec: api_key_file " + config.api_key_file +
                               " is empty");
    }
  }
  if (key.find_first_of("\r\n") != std::string::npos) {
    throw std::runtime_error("crowdsec: the API key has a line break");
  }
  if (!key.empty()) impl_->key_header = "X-Api-Key: " + key;
  impl_->handle = impl_->curl.easy_init();
  if (impl_->handle == nullptr) {
    throw std::runtime_error("crowdsec: curl_easy_init failed");
  }
}

void LapiClient::Cancel() { impl_->cancelled = true; }

LapiClient::~LapiClient() {
  if (impl_->handle != nullptr) impl_->curl.easy_cleanup(impl_->handle);
}

std::string LapiClient::StreamUrl(bool startup) const {
  std::string url = impl_->config.lapi_url;
  if (url.empty() || url.back() != '/') url += '/';
  url += "v1/decisions/stream?startup=";
  url += startup ? "true" : "false";
  // The LAPI filters by scope (default "ip,range") and, since 1.4, by
  // origin; the client filters again, so an older LAPI only costs bytes.
  auto join = [this](const std::vector<std::string>& list) {
    std::string out;
    for (const std::string& s : list) {
      char* e = impl_->curl.easy_escape(impl_->handle, s.c_str(),
                                        static_cast<int>(s.size()));
      if (!out.empty()) out += ',';
      if (e != nullptr) out += e;
      impl_->curl.free(e);
    }
    return out;
  };
  url += "&scopes=" + join(impl_->config.scopes);
  if (!impl_->config.origins.empty()) {
    url += "&origins=" + join(impl_->config.origins);
  }
  return url;
}

LapiAnswer LapiClient::Stream(bool startup, std::chrono::seconds timeout) {
  return Perform(StreamUrl(startup), nullptr, impl_->key_header, timeout);
}

LapiAnswer LapiClient::Post(const std::string& path, const std::string& json,
                            const std::string& token,
                            std::chrono::seconds timeout) {
  std::string url = impl_->config.lapi_url;
  if (url.empty() || url.back() != '/') url += '/';
  url += path;
  if (token.find_first_of("\r\n") != std::string::npos) {
    return {0, "", "the token has a line break"};
  }
  return Perform(
      url, &json,
      token.empty() ? std::string() : "Authorization: Bearer " + token,
      timeout);
}

LapiAnswer LapiClient::Perform(const std::string& url, const std::string* post,
                               const std::string& auth_header,
                               std::chrono::seconds timeout) {
  const Curl& c = impl_->curl;
  CURL* h = impl_->handle;
  const CrowdsecConfig& cfg = impl_->config;
  LapiAnswer answer;
  Body body{&answer.body, impl_->max_body};
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  if (!auth_header.empty()) {
    headers = c.slist_append(headers, auth_header.c_str());
  }
  headers = c.slist_append(headers, "Accept: application/json");
  if (post != nullptr) {
    headers = c.slist_append(headers, "Content-Type: application/json");
    headers = c.slist_append(headers, "Expect:");  // no 100-continue wait
    c.easy_setopt(h, CURLOPT_POSTFIELDS, post->data());
    c.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                  static_cast<curl_off_t>(post->size()));
  } else {
    c.easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  c.easy_setopt(h, CURLOPT_URL, url.c_str());
  c.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  c.easy_setopt(h, CURLOPT_USERAGENT, impl_->user_agent.c_str());
  c.easy_setopt(h, CURLOPT_WRITEFUNCTION, &Write);
  c.easy_setopt(h, CURLOPT_WRITEDATA, &body);
  c.easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  c.easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // gzip when offered
  c.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  c.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  c.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  c.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &Progress);
  c.easy_setopt(h, CURLOPT_XFERINFODATA, &impl_->cancelled);
  if (!cfg.cert_file.empty()) {
    c.easy_setopt(h, CURLOPT_SSLCERT, cfg.cert_file.c_str());
    c.easy_setopt(h, CURLOPT_SSLKEY, cfg.key_file.c_str());
  }
  if (!cfg.ca_file.empty()) {
    // ca_file alone: libcurl would also trust its built-in CA directory
    // (Debian's: /etc/ssl/certs), so any public CA could sign the LAPI.
    c.easy_setopt(h, CURLOPT_CAINFO, cfg.ca_file.c_str());
    c.easy_setopt(h, CURLOPT_CAPATH, static_cast<char*>(nullptr));
  }
  const CURLcode rc = c.easy_perform(h);
  c.slist_free_all(headers);
  c.easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  c.easy_setopt(h, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
  if (rc != CURLE_OK) {
    answer.error = body.too_big ? "answer larger than " +
                                      std::to_string(impl_->max_body) + " bytes"
                   : error[0] != '\0' ? std::string(error)
                                      : std::string(c.easy_strerror(rc));
    return answer;
  }
  c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

}  // namespace synwatch
