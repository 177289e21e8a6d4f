// SPDX-License-Identifier: Apache-2.0
// Decision origins as the kernel counts them: each origin label gets one of
// SW_ORIGIN_SLOTS slots in the per-CPU array "origin_syns" (banned SYNs by
// origin), first seen first served; once the slots are taken, further
// origins share the last one, "other". The labels live in the array
// "origin_names", pinned with the counters, so a later synwatch keeps each
// origin in its slot (bpf/synwatch.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/abi.h"

namespace synwatch {

// The label of a decision's origin: "lists:<scenario>" for a blocklist
// (origin "lists", the list's name in scenario, as CrowdSec's own bouncers
// label them), "unknown" for none, else the origin ("crowdsec", "cscli",
// "CAPI", "console", ...).
std::string OriginLabel(const std::string& origin, const std::string& scenario);

class OriginTable {
 public:
  static constexpr uint32_t kSlots = SW_ORIGIN_SLOTS;
  static constexpr uint32_t kOther = SW_ORIGIN_OTHER;
  static constexpr const char* kOtherName = "other";

  // names[i]: the label in slot i, "" while free (what "origin_names"
  // holds; entries past kSlots and a name in kOther are ignored).
  explicit OriginTable(const std::vector<std::string>& names = {});

  // The slot of label (cut to SW_ORIGIN_NAME_LEN - 1 bytes, as it is
  // stored): its own, else the first free one (*added set), else kOther.
  uint32_t Slot(const std::string& label, bool* added);

  // kSlots names: "" for a free slot, kOtherName in kOther.
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
};

// The stored form of a slot's name.
sw_origin_name OriginName(const std::string& label);

}  // namespace synwatch
