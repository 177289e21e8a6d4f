// SPDX-License-Identifier: Apache-2.0
// The CrowdSec decision stream (ParseStream, what every LAPI answer goes
// through) on arbitrary text, and the store it feeds. An answer either
// parses or throws std::runtime_error; every record is accounted for (added,
// deleted, ignored or malformed); what is kept is a ban of scope ip or range
// on a prefix without host bits (ip: a whole address). Applied to a store,
// the kernel's view holds one unexpired entry with an origin per prefix;
// deleting everything that was added empties it; the origin slots stay in
// the table's bounds.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/net.h"
#include "crowdsec/decisions.h"
#include "crowdsec/origins.h"
#include "fuzz_check.h"

namespace synwatch {
namespace {

constexpr uint64_t kNow = 1000ULL * 1000000000ULL;

// Records in "new" and "deleted", counted apart from the parser.
size_t Records(std::string_view json) {
  const nlohmann::json root =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  size_t n = 0;
  for (const char* list : {"new", "deleted"}) {
    const auto it = root.find(list);
    if (it != root.end() && it->is_array()) n += it->size();
  }
  return n;
}

void CheckDecision(const Decision& d) {
  const std::string text = FormatCidr(d.prefix);
  Require(d.scope == "ip" || d.scope == "range", "scope kept", d.scope);
  Require(d.prefix.prefix_len <= MaxPrefixLen(d.prefix.family),
          "prefix too long", text);
  std::array<uint8_t, 16> masked = d.prefix.addr;
  MaskAddress(masked, d.prefix.family, d.prefix.prefix_len);
  Require(masked == d.prefix.addr, "prefix with host bits set", text);
  if (d.scope == "ip") {
    Require(d.prefix.prefix_len == MaxPrefixLen(d.prefix.family),
            "scope ip on less than an address", text);
  }
}

void CheckStore(const DecisionStore& store) {
  Require(store.kernel().size() == store.kernel_origins().size(),
          "kernel view and its origins differ in size");
  for (const auto& [prefix, expires] : store.kernel()) {
    Require(expires > kNow, "expired entry in the kernel view",
            FormatCidr(prefix));
    const auto o = store.kernel_origins().find(prefix);
    Require(o != store.kernel_origins().end() && !o->second.empty(),
            "kernel entry without an origin", FormatCidr(prefix));
  }
  Require(store.kernel().size() <= store.decisions(),
          "more prefixes than decisions");
}

}  // namespace
}  // namespace synwatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synwatch;  // NOLINT(google-build-using-namespace)
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  StreamDelta delta;
  std::string error;
  try {
    delta = ParseStream(text, DecisionFilter{}, &error);
  } catch (const std::runtime_error& e) {
    Require(std::string_view(e.what()).size() > 0, "empty error");
    return 0;
  }
  Require(delta.added.size() + delta.deleted.size() + delta.ignored +
                  delta.malformed ==
              Records(text),
          "a record neither kept, ignored nor counted malformed");
  Require((delta.malformed == 0) == error.empty(),
          "malformed records without a reason, or a reason without one", error);
  for (const Decision& d : delta.added) CheckDecision(d);
  for (const Decision& d : delta.deleted) CheckDecision(d);

  DecisionStore store;
  store.Apply(delta, kNow, true);
  CheckStore(store);
  // The same answer again as a delta changes nothing but the expiries.
  store.Apply(delta, kNow, false);
  CheckStore(store);
  OriginTable origins;
  for (const auto& [prefix, label] : store.kernel_origins()) {
    bool added = false;
    const uint32_t slot = origins.Slot(label, &added);
    Require(slot < SW_ORIGIN_SLOTS, "origin slot out of range", label);
    bool again = true;
    Require(origins.Slot(label, &again) == slot && !again,
            "an origin changed slot", label);
  }
  // Everything it added deleted: nothing is left.
  StreamDelta undo;
  undo.deleted = delta.added;
  store.Apply(undo, kNow, false);
  Require(store.kernel().empty() && store.kernel_origins().empty() &&
              store.decisions() == 0,
          "deleting every decision added left some");
  return 0;
}
