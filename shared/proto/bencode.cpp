#include "shared/proto/bencode.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace gs::proto {

const Value* Value::find(std::string_view key) const {
    if (!is_dict()) return nullptr;
    const auto& d = as_dict();
    auto it = d.find(key);
    return it == d.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> Value::get_int(std::string_view key) const {
    const Value* v = find(key);
    if (v == nullptr || !v->is_int()) return std::nullopt;
    return v->as_int();
}

std::optional<std::string_view> Value::get_string(std::string_view key) const {
    const Value* v = find(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string_view(v->as_string());
}

const List* Value::get_list(std::string_view key) const {
    const Value* v = find(key);
    return v != nullptr && v->is_list() ? &v->as_list() : nullptr;
}

const Dict* Value::get_dict(std::string_view key) const {
    const Value* v = find(key);
    return v != nullptr && v->is_dict() ? &v->as_dict() : nullptr;
}

namespace {

void encode_string(std::string_view s, std::string& out) {
    fmt::format_to(std::back_inserter(out), "{}:", s.size());
    out.append(s);
}

class Decoder {
public:
    Decoder(std::string_view text, DecodeLimits limits) : text_(text), limits_(limits) {}

    Result<Value> value(std::size_t depth) {
        if (depth > limits_.max_depth) return fail("nesting too deep");
        if (pos_ >= text_.size()) return fail("unexpected end of input");
        char c = text_[pos_];
        if (c == 'i') return integer();
        if (c >= '0' && c <= '9') {
            auto s = string();
            if (!s) return s.error();
            return Value(std::move(s).value());
        }
        if (c == 'l') return list(depth);
        if (c == 'd') return dict(depth);
        return fail(fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c)));
    }

    std::size_t pos() const { return pos_; }

private:
    Error fail(std::string what) const {
        return make_error(Errc::BadInput, fmt::format("bad bencode at byte {}: {}", pos_, what));
    }

    Result<Value> integer() {
        ++pos_;  // 'i'
        std::size_t end = text_.find('e', pos_);
        if (end == std::string_view::npos) return fail("unterminated integer");
        std::string_view digits = text_.substr(pos_, end - pos_);
        bool negative = !digits.empty() && digits[0] == '-';
        std::string_view magnitude = negative ? digits.substr(1) : digits;
        if (magnitude.empty()) return fail("empty integer");
        if (magnitude.size() > 1 && magnitude[0] == '0') return fail("leading zero in integer");
        if (negative && magnitude == "0") return fail("negative zero");
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (ec != std::errc() || p != digits.data() + digits.size()) return fail("bad integer");
        pos_ = end + 1;
        return Value(v);
    }

    Result<std::string> string() {
        std::size_t colon = text_.find(':', pos_);
        if (colon == std::string_view::npos || colon - pos_ > 19) return fail("bad string length");
        std::string_view digits = text_.substr(pos_, colon - pos_);
        if (digits.size() > 1 && digits[0] == '0') return fail("leading zero in string length");
        std::uint64_t len = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
        if (ec != std::errc() || p != digits.data() + digits.size())
            return fail("bad string length");
        if (len > text_.size() - colon - 1) return fail("string runs past end of input");
        pos_ = colon + 1;
        std::string s(text_.substr(pos_, len));
        pos_ += len;
        return s;
    }

    Result<Value> list(std::size_t depth) {
        ++pos_;  // 'l'
        List items;
        while (true) {
            if (pos_ >= text_.size()) return fail("unterminated list");
            if (text_[pos_] == 'e') break;
            if (++items_ > limits_.max_items) return fail("too many items");
            auto v = value(depth + 1);
            if (!v) return v.error();
            items.push_back(std::move(v).value());
        }
        ++pos_;
        return Value(std::move(items));
    }

    Result<Value> dict(std::size_t depth) {
        ++pos_;  // 'd'
        Dict entries;
        std::string last_key;
        bool first = true;
        while (true) {
            if (pos_ >= text_.size()) return fail("unterminated dictionary");
            if (text_[pos_] == 'e') break;
            if (text_[pos_] < '0' || text_[pos_] > '9')
                return fail("dictionary key is not a string");
            if (++items_ > limits_.max_items) return fail("too many items");
            auto key = string();
            if (!key) return key.error();
            if (!first && *key <= last_key) return fail("dictionary keys not sorted or repeated");
            auto v = value(depth + 1);
            if (!v) return v.error();
            last_key = *key;
            first = false;
            entries.emplace_hint(entries.end(), std::move(key).value(), std::move(v).value());
        }
        ++pos_;
        return Value(std::move(entries));
    }

    std::string_view text_;
    DecodeLimits limits_;
    std::size_t pos_ = 0;
    std::size_t items_ = 0;
};

}  // namespace

void encode_to(const Value& value, std::string& out) {
    if (value.is_int()) {
        fmt::format_to(std::back_inserter(out), "i{}e", value.as_int());
    } else if (value.is_string()) {
        encode_string(value.as_string(), out);
    } else if (value.is_list()) {
        out.push_back('l');
        for (const auto& item : value.as_list()) encode_to(item, out);
        out.push_back('e');
    } else {
        out.push_back('d');
        for (const auto& [k, v] : value.as_dict()) {
            encode_string(k, out);
            encode_to(v, out);
        }
        out.push_back('e');
    }
}

std::string encode(const Value& value) {
    std::string out;
    encode_to(value, out);
    return out;
}

Result<Value> decode_prefix(std::string_view text, std::size_t& consumed, DecodeLimits limits) {
    Decoder d(text, limits);
    auto v = d.value(0);
    if (v) consumed = d.pos();
    return v;
}

Result<Value> decode(std::string_view text, DecodeLimits limits) {
    std::size_t consumed = 0;
    auto v = decode_prefix(text, consumed, limits);
    if (!v) return v;
    if (consumed != text.size()) {
        return make_error(Errc::BadInput,
                          fmt::format("bad bencode: {} trailing bytes", text.size() - consumed));
    }
    return v;
}

}  // namespace gs::proto
