// A layer's attributes as the core receives them: named values of a few plain types, read
// by the layer's op with typed getters. Reading marks a key used; finish() then refuses any
// key the op did not read, so a misspelled or stray attribute is an error, never ignored.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "dropnet/common.hpp"

namespace dropnet {

class Attrs {
 public:
  using Ints = std::vector<std::int64_t>;
  using Value = std::variant<bool, std::int64_t, double, std::string, Ints>;

  void set(const std::string& key, Value v) { values_[key] = std::move(v); }
  bool has(const std::string& key) const { return values_.count(key) > 0; }

  std::int64_t integer(const std::string& key) const {
    const Value& v = at(key);
    if (const auto* p = std::get_if<std::int64_t>(&v)) return *p;
    throw wrong(key, "an integer");
  }
  double real(const std::string& key) const {
    const Value& v = at(key);
    if (const auto* p = std::get_if<double>(&v)) return *p;
    if (const auto* p = std::get_if<std::int64_t>(&v)) return double(*p);
    throw wrong(key, "a number");
  }
  bool flag(const std::string& key) const {
    const Value& v = at(key);
    if (const auto* p = std::get_if<bool>(&v)) return *p;
    throw wrong(key, "true or false");
  }
  const std::string& text(const std::string& key) const {
    const Value& v = at(key);
    if (const auto* p = std::get_if<std::string>(&v)) return *p;
    throw wrong(key, "a string");
  }
  std::vector<index_t> ints(const std::string& key) const {
    const Value& v = at(key);
    if (const auto* p = std::get_if<Ints>(&v)) return std::vector<index_t>(p->begin(), p->end());
    throw wrong(key, "a list of integers");
  }
  // Optional attributes: absent means "not given" (a layer's seed, say).
  bool optional(const std::string& key) const {
    used_.insert(key);
    return has(key);
  }

  // The attributes whose keys start with `prefix`, without it (an op's attributes nested in
  // a wrapper's); they count as read here.
  Attrs nested(const std::string& prefix) const {
    Attrs out;
    for (const auto& entry : values_)
      if (entry.first.compare(0, prefix.size(), prefix) == 0) {
        used_.insert(entry.first);
        out.set(entry.first.substr(prefix.size()), entry.second);
      }
    return out;
  }

  // Every attribute must have been read by now.
  void finish(const std::string& who) const {
    for (const auto& entry : values_)
      if (!used_.count(entry.first))
        throw std::invalid_argument(who + ": unknown attribute '" + entry.first + "'");
  }

 private:
  const Value& at(const std::string& key) const {
    used_.insert(key);
    const auto it = values_.find(key);
    if (it == values_.end()) {
      std::string given;
      for (const auto& entry : values_) given += (given.empty() ? "" : ", ") + entry.first;
      throw std::invalid_argument("missing attribute '" + key +
                                  "' (given: " + (given.empty() ? "none" : given) + ")");
    }
    return it->second;
  }
  static std::invalid_argument wrong(const std::string& key, const char* expected) {
    return std::invalid_argument("attribute '" + key + "': expected " + expected);
  }

  std::map<std::string, Value> values_;
  mutable std::set<std::string> used_;
};

}  // namespace dropnet
