// Bencode values (BEP 3): integers, byte strings, lists and dictionaries with sorted keys.
// Used for client<->tracker messages (docs/protocol.md) and BitTorrent metadata. Pure, any thread.
#pragma once

#include "shared/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gs::proto {

class Value;
using List = std::vector<Value>;
using Dict = std::map<std::string, Value, std::less<>>;  // std::map keeps keys sorted (BEP 3)

class Value {
public:
    Value() : v_(std::int64_t{0}) {}
    Value(std::int64_t i) : v_(i) {}                   // NOLINT: implicit by design
    Value(int i) : v_(std::int64_t{i}) {}              // NOLINT
    Value(std::string s) : v_(std::move(s)) {}         // NOLINT
    Value(std::string_view s) : v_(std::string(s)) {}  // NOLINT
    Value(const char* s) : v_(std::string(s)) {}       // NOLINT
    Value(List l) : v_(std::move(l)) {}                // NOLINT
    Value(Dict d) : v_(std::move(d)) {}                // NOLINT

    bool is_int() const { return std::holds_alternative<std::int64_t>(v_); }
    bool is_string() const { return std::holds_alternative<std::string>(v_); }
    bool is_list() const { return std::holds_alternative<List>(v_); }
    bool is_dict() const { return std::holds_alternative<Dict>(v_); }

    std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
    const std::string& as_string() const { return std::get<std::string>(v_); }
    const List& as_list() const { return std::get<List>(v_); }
    List& as_list() { return std::get<List>(v_); }
    const Dict& as_dict() const { return std::get<Dict>(v_); }
    Dict& as_dict() { return std::get<Dict>(v_); }

    // Dictionary look-ups that return nothing when this is not a dict, the key is
    // missing, or the value has another type.
    const Value* find(std::string_view key) const;
    std::optional<std::int64_t> get_int(std::string_view key) const;
    std::optional<std::string_view> get_string(std::string_view key) const;
    const List* get_list(std::string_view key) const;
    const Dict* get_dict(std::string_view key) const;

    bool operator==(const Value& other) const = default;

private:
    std::variant<std::int64_t, std::string, List, Dict> v_;
};

struct DecodeLimits {
    std::size_t max_depth = 32;
    std::size_t max_items = 1'000'000;  // list elements + dict entries, in total
};

void encode_to(const Value& value, std::string& out);
std::string encode(const Value& value);

// Decodes exactly one value spanning all of `text`. Rejects non-canonical input (leading
// zeros, "-0", unsorted or duplicate dict keys) so that re-encoding gives the same bytes —
// info hashes depend on it.
Result<Value> decode(std::string_view text, DecodeLimits limits = {});

// Decodes one value from the front of `text`; on success `consumed` is its length.
Result<Value> decode_prefix(std::string_view text, std::size_t& consumed, DecodeLimits limits = {});

}  // namespace gs::proto
