// SPDX-License-Identifier: Apache-2.0
#include "crowdsec/decisions.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "crowdsec/origins.h"

namespace synwatch {

using std::chrono::nanoseconds;

bool ParseGoDuration(std::string_view text, nanoseconds* out) {
  // time.Duration.String(): [-]{number unit}..., units ns us µs ms s m h.
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return false;
  if (text == "0") {
    *out = nanoseconds(0);
    return true;
  }
  long double total = 0;
  while (!text.empty()) {
    size_t i = 0;
    bool digits = false;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) != 0 ||
            text[i] == '.')) {
      digits = digits || text[i] != '.';
      ++i;
    }
    if (!digits || i > 40) return false;
    const std::string number(text.substr(0, i));
    if (std::count(number.begin(), number.end(), '.') > 1) return false;
    text.remove_prefix(i);
    struct Unit {
      std::string_view name;
      long double ns;
    };
    static constexpr Unit kUnits[] = {
        {"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9},
    };
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      // Longest first where they share a letter: "ms" before "m".
      if (text.substr(0, u.name.size()) == u.name &&
          (unit == nullptr || u.name.size() > unit->name.size())) {
        unit = &u;
      }
    }
    if (unit == nullptr) return false;
    text.remove_prefix(unit->name.size());
    total += std::stold(number) * unit->ns;
  }
  // Go's durations end near 292 years; anything past that is not one.
  if (total > 9.2e18L) return false;
  *out = nanoseconds(static_cast<int64_t>(negative ? -total : total));
  return true;
}

namespace {

std::string Lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Wanted(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// One record; false (and *why) when it cannot be read.
bool ReadDecision(const nlohmann::json& j, Decision* d, std::string* type,
                  std::string* why) {
  if (!j.is_object()) {
    *why = "a record that is not an object";
    return false;
  }
  auto str = [&j](const char* key) -> const std::string* {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>()
                                            : nullptr;
  };
  auto id = j.find("id");
  const std::string* scope = str("scope");
  const std::string* value = str("value");
  const std::string* t = str("type");
  if (id == j.end() || !id->is_number_integer() || scope == nullptr ||
      value == nullptr || t == nullptr) {
    *why = "a record without id, scope, value or type";
    return false;
  }
  d->id = id->get<int64_t>();
  d->scope = Lower(*scope);
  *type = Lower(*t);
  if (const std::string* o = str("origin")) d->origin = *o;
  if (const std::string* s = str("scenario")) d->scenario = *s;
  if (const std::string* dur = str("duration")) {
    if (!ParseGoDuration(*dur, &d->duration)) {
      *why = "decision " + std::to_string(d->id) + ": bad duration";
      return false;
    }
  }
  if (d->scope != "ip" && d->scope != "range") return true;  // ignored later
  if (d->scope == "ip" && value->find('/') != std::string::npos) {
    *why = "decision " + std::to_string(d->id) + ": scope Ip with a prefix";
    return false;
  }
  std::string error;
  const std::optional<Cidr> cidr = ParseCidr(*value, &error);
  if (!cidr) {
    *why = "decision " + std::to_string(d->id) + ": " + error;
    return false;
  }
  d->prefix = *cidr;
  return true;
}

}  // namespace

StreamDelta ParseStream(std::string_view json, const DecisionFilter& filter,
                        std::string* error) {
  const nlohmann::json root =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (root.is_discarded()) throw std::runtime_error("not JSON");
  if (!root.is_object()) throw std::runtime_error("not a JSON object");
  StreamDelta out;
  for (const char* list : {"new", "deleted"}) {
    auto it = root.find(list);
    if (it == root.end() || it->is_null()) continue;
    if (!it->is_array()) {
      throw std::runtime_error(std::string("\"") + list + "\" is not a list");
    }
    for (const nlohmann::json& j : *it) {
      Decision d;
      std::string type;
      std::string why;
      if (!ReadDecision(j, &d, &type, &why)) {
        if (error->empty()) *error = why;
        ++out.malformed;
        continue;
      }
      if (type != "ban" || !Wanted(filter.scopes, d.scope) ||
          !Wanted(filter.origins, d.origin)) {
        ++out.ignored;
        continue;
      }
      (list[0] == 'n' ? out.added : out.deleted).push_back(std::move(d));
    }
  }
  return out;
}

void DecisionStore::Remove(int64_t id, std::set<Cidr>* touched) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto p = by_prefix_.find(it->second.prefix);
  if (p != by_prefix_.end()) {
    p->second.erase(id);
    if (p->second.empty()) by_prefix_.erase(p);
  }
  touched->insert(it->second.prefix);
  by_expiry_.erase({it->second.expires_ns, id});
  auto c = counts_.find(CountKey(it->second));
  if (c != counts_.end() && --c->second == 0) counts_.erase(c);
  by_id_.erase(it);
}

DecisionStore::Key DecisionStore::CountKey(const Entry& e) {
  return {e.origin, e.scope,
          e.prefix.family == Family::kIpv4 ? "ipv4" : "ipv6"};
}

std::vector<KernelChange> DecisionStore::Apply(const StreamDelta& delta,
                                               uint64_t now_ns, bool startup) {
  std::set<Cidr> touched;
  if (startup) {
    // The full set: whatever it lacks is gone. Computed as a difference so
    // a prefix in both is never deleted from the kernel, not even briefly.
    std::set<int64_t> keep;
    for (const Decision& d : delta.added) keep.insert(d.id);
    std::vector<int64_t> gone;
    for (const auto& [id, e] : by_id_) {
      if (keep.count(id) == 0) gone.push_back(id);
    }
    for (int64_t id : gone) Remove(id, &touched);
  }
  // Deleted first: an answer that deletes and re-adds one id keeps it.
  for (const Decision& d : delta.deleted) {
    if (by_id_.count(d.id) != 0) {
      Remove(d.id, &touched);
      continue;
    }
    // An id never sent: the LAPI (1.4) streams one decision per value, the
    // longest, and reports a value deleted only once no decision remains on
    // it (the fix of crowdsec#1244). So the value is clear.
    auto p = by_prefix_.find(d.prefix);
    if (p == by_prefix_.end()) continue;
    const std::set<int64_t> ids = p->second;
    for (int64_t id : ids) Remove(id, &touched);
  }
  for (const Decision& d : delta.added) {
    if (d.duration.count() <= 0) continue;  // already over
    Remove(d.id, &touched);  // sent again: the new one replaces it
    Entry e{d.prefix, now_ns + static_cast<uint64_t>(d.duration.count()),
            d.origin, d.scope, OriginLabel(d.origin, d.scenario)};
    by_prefix_[d.prefix].insert(d.id);
    ++counts_[CountKey(e)];
    by_expiry_.emplace(e.expires_ns, d.id);
    by_id_.emplace(d.id, std::move(e));
    touched.insert(d.prefix);
  }
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now_ns) {
    Remove(by_expiry_.begin()->second, &touched);
  }

  std::vector<KernelChange> changes;
  for (const Cidr& prefix : touched) {
    auto p = by_prefix_.find(prefix);
    auto k = kernel_.find(prefix);
    if (p == by_prefix_.end()) {
      if (k != kernel_.end()) {
        kernel_.erase(k);
        kernel_origins_.erase(prefix);
        changes.push_back({prefix, std::nullopt, {}});
      }
      continue;
    }
    // Ids ascend: on a tie in expiry the one sent last wins.
    const Entry* last = nullptr;
    for (int64_t id : p->second) {
      const Entry& e = by_id_.at(id);
      if (last == nullptr || e.expires_ns >= last->expires_ns) last = &e;
    }
    std::string& origin = kernel_origins_[prefix];
    if (k == kernel_.end() || k->second != last->expires_ns ||
        origin != last->label) {
      kernel_[prefix] = last->expires_ns;
      origin = last->label;
      changes.push_back({prefix, last->expires_ns, origin});
    }
  }
  return changes;
}

}  // namespace synwatch
