// SPDX-License-Identifier: Apache-2.0
#include "crowdsec/origins.h"

#include <algorithm>
#include <cstring>

namespace synwatch {
namespace {

// As "origin_names" holds it: NUL-terminated within SW_ORIGIN_NAME_LEN.
std::string Stored(const std::string& label) {
  return label.substr(
      0, std::min<size_t>(label.find('\0'), SW_ORIGIN_NAME_LEN - 1));
}

}  // namespace

std::string OriginLabel(const std::string& origin,
                        const std::string& scenario) {
  if (origin.empty()) return "unknown";
  if (origin == "lists" && !scenario.empty()) return "lists:" + scenario;
  return origin;
}

OriginTable::OriginTable(const std::vector<std::string>& names)
    : names_(kSlots) {
  for (uint32_t i = 0; i < kOther && i < names.size(); ++i) {
    const std::string name = Stored(names[i]);
    // A name twice (a damaged table): the first slot keeps it.
    if (name == kOtherName ||
        std::find(names_.begin(), names_.end(), name) != names_.end()) {
      continue;
    }
    names_[i] = name;
  }
  names_[kOther] = kOtherName;
}

uint32_t OriginTable::Slot(const std::string& label, bool* added) {
  *added = false;
  const std::string name = Stored(label);
  if (name.empty()) return kOther;
  const auto it = std::find(names_.begin(), names_.end(), name);
  if (it != names_.end()) return static_cast<uint32_t>(it - names_.begin());
  for (uint32_t i = 0; i < kOther; ++i) {
    if (names_[i].empty()) {
      names_[i] = name;
      *added = true;
      return i;
    }
  }
  return kOther;
}

sw_origin_name OriginName(const std::string& label) {
  sw_origin_name out{};
  const std::string name = Stored(label);
  std::memcpy(out.name, name.data(), name.size());
  return out;
}

}  // namespace synwatch
