// SPDX-License-Identifier: Apache-2.0
#include "web/fair_queue.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace synwatch {

std::string SourceOf(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& in4 = reinterpret_cast<const sockaddr_in&>(peer);
    return std::string(reinterpret_cast<const char*>(&in4.sin_addr), 4);
  }
  if (peer.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer);
    const auto* bytes = reinterpret_cast<const char*>(&in6.sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return std::string(bytes + 12, 4);
    // Eight bytes: never equal to an IPv4 source's four.
    return std::string(bytes, 8);
  }
  return "";
}

bool FairQueue::Push(const std::string& source, uint64_t id) {
  if (size_ >= max_total_) return false;
  std::deque<uint64_t>& ids = by_source_[source];
  if (ids.size() >= max_per_source_) return false;
  if (ids.empty()) turns_.push_back(source);
  ids.push_back(id);
  ++size_;
  return true;
}

std::optional<uint64_t> FairQueue::Pop() {
  if (turns_.empty()) return std::nullopt;
  std::string source = std::move(turns_.front());
  turns_.pop_front();
  const auto it = by_source_.find(source);
  const uint64_t id = it->second.front();
  it->second.pop_front();
  --size_;
  if (it->second.empty()) {
    by_source_.erase(it);
  } else {
    turns_.push_back(std::move(source));
  }
  return id;
}

bool FairQueue::Remove(const std::string& source, uint64_t id) {
  const auto it = by_source_.find(source);
  if (it == by_source_.end()) return false;
  std::deque<uint64_t>& ids = it->second;
  const auto found = std::find(ids.begin(), ids.end(), id);
  if (found == ids.end()) return false;
  ids.erase(found);
  --size_;
  if (ids.empty()) {
    by_source_.erase(it);
    turns_.erase(std::find(turns_.begin(), turns_.end(), source));
  }
  return true;
}

std::size_t FairQueue::waiting(const std::string& source) const {
  const auto it = by_source_.find(source);
  return it == by_source_.end() ? 0 : it->second.size();
}

}  // namespace synwatch
