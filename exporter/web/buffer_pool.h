// SPDX-License-Identifier: Apache-2.0
// Response buffers kept from one scrape to the next.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace synwatch {

// Response buffers kept from one scrape to the next. Writing tens of MB
// into fresh pages costs a page fault per 4 KiB on every scrape (6 us each
// on the benchmark VM: more than serializing); a kept buffer's pages stay
// mapped. Two buffers cover a gzip scrape (text plus compressed); anything
// larger than kMaxKeptBytes is a one-off and goes back to the system.
class BufferPool {
 public:
  // The largest buffer kept: the text of a scrape takes the one the last
  // text was written to, and its gzip the smaller one, whatever order they
  // came back in (else they trade places and both grow again each time).
  std::string Take() {
    std::lock_guard lock(mutex_);
    if (buffers_.empty()) return {};
    const auto largest = std::max_element(buffers_.begin(), buffers_.end(),
                                          [](const auto& a, const auto& b) {
                                            return a.capacity() < b.capacity();
                                          });
    std::string buffer = std::move(*largest);
    buffers_.erase(largest);
    return buffer;
  }

  void Give(std::string buffer) {
    // Small bodies (every other response goes through here too) are not
    // worth a slot: they would push out the scrape buffers.
    if (buffer.capacity() < kMinKeptBytes ||
        buffer.capacity() > kMaxKeptBytes) {
      return;
    }
    buffer.clear();
    std::lock_guard lock(mutex_);
    if (buffers_.size() < kMaxBuffers) buffers_.push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t kMaxBuffers = 2;
  static constexpr std::size_t kMinKeptBytes = std::size_t{64} << 10;
  static constexpr std::size_t kMaxKeptBytes = std::size_t{64} << 20;
  std::mutex mutex_;
  std::vector<std::string> buffers_;
};

// A buffer from the pool, returned to it on every path out of a request.
class PooledBuffer {
 public:
  explicit PooledBuffer(BufferPool& pool) : pool_(pool), buffer_(pool.Take()) {}
  ~PooledBuffer() { pool_.Give(std::move(buffer_)); }
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  std::string& get() { return buffer_; }
  // Takes the buffer out; whoever holds it then gives it back.
  std::string Release() { return std::exchange(buffer_, {}); }

 private:
  BufferPool& pool_;
  std::string buffer_;
};

}  // namespace synwatch
