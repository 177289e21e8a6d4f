// SPDX-License-Identifier: Apache-2.0
// Requests waiting for something scarce (a scrape slot, a bcrypt), served
// round-robin across their sources rather than first come first served: a
// client that sends a hundred requests waits its turn like one that sends
// one, so a flood from one address cannot starve a scraper at another.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace synwatch {

// The source a connection counts under: its IPv4 address (an IPv4-mapped
// IPv6 address counts as the IPv4 one), or the /64 of its IPv6 address,
// which one host usually holds whole. "" for anything else.
std::string SourceOf(const sockaddr_storage& peer);

class FairQueue {
 public:
  // At most max_per_source ids wait per source, max_total in all.
  FairQueue(std::size_t max_per_source, std::size_t max_total)
      : max_per_source_(max_per_source), max_total_(max_total) {}

  // Queues id behind the source's earlier ones; false, and nothing queued,
  // when the source or the whole queue is full.
  bool Push(const std::string& source, uint64_t id);

  // The oldest id of the source whose turn it is; the source then goes
  // to the back of the turns. nullopt when nothing waits.
  std::optional<uint64_t> Pop();

  // Takes id out of its source's queue (its connection ended); false when
  // it was not queued there.
  bool Remove(const std::string& source, uint64_t id);

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t waiting(const std::string& source) const;

 private:
  std::size_t max_per_source_;
  std::size_t max_total_;
  std::size_t size_ = 0;
  std::unordered_map<std::string, std::deque<uint64_t>> by_source_;
  std::deque<std::string> turns_;  // sources with ids waiting, next first
};

}  // namespace synwatch
