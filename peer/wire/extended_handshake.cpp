#include "peer/wire/extended_handshake.hpp"

#include "peer/wire/message.hpp"
#include "peer/wire/wire_constants.hpp"

#include <fmt/format.h>

#include <cassert>

namespace gs::peer::wire {

namespace {

// Small and shallow: a peer cannot make us build a big tree out of 16 KiB.
constexpr proto::DecodeLimits kLimits{.max_depth = 4, .max_items = 256};

Error bad(std::string_view why) {
    return make_error(Errc::Protocol, fmt::format("bad extended handshake: {}", why));
}

}  // namespace

ExtendedHandshake our_extended_handshake(std::uint16_t listen_port) {
    ExtendedHandshake h;
    h.client = std::string(kClientVersion);
    h.port = listen_port;
    return h;
}

std::string encode_extended_handshake_body(const ExtendedHandshake& handshake) {
    proto::Dict d = handshake.extra;
    assert(!d.contains("m") && !d.contains("v") && !d.contains("p"));
    proto::Dict m;
    for (const auto& [name, id] : handshake.m) m.emplace(name, std::int64_t{id});
    d.emplace("m", std::move(m));
    if (handshake.client) d.emplace("v", *handshake.client);
    if (handshake.port) d.emplace("p", std::int64_t{*handshake.port});
    return proto::encode(proto::Value(std::move(d)));
}

void encode_extended_handshake(std::string& out, const ExtendedHandshake& handshake) {
    encode_extended(out, kExtendedHandshakeId, encode_extended_handshake_body(handshake));
}

Result<ExtendedHandshake> parse_extended_handshake(std::string_view body) {
    auto v = proto::decode(body, kLimits);
    if (!v) return bad(v.error().message);
    if (!v->is_dict()) return bad("not a dictionary");
    ExtendedHandshake h;
    for (const auto& [key, value] : v->as_dict()) {
        if (key == "m") {
            if (!value.is_dict()) return bad("\"m\" is not a dictionary");
            for (const auto& [name, id] : value.as_dict()) {
                if (!id.is_int() || id.as_int() < 0 || id.as_int() > 255) {
                    return bad("an \"m\" id is not 0-255");
                }
                h.m.emplace(name, static_cast<std::uint8_t>(id.as_int()));
            }
        } else if (key == "v") {
            if (!value.is_string()) return bad("\"v\" is not a string");
            h.client = value.as_string();
        } else if (key == "p") {
            if (!value.is_int() || value.as_int() < 1 || value.as_int() > 65535) {
                return bad("\"p\" is not a port");
            }
            h.port = static_cast<std::uint16_t>(value.as_int());
        } else {
            h.extra.emplace(key, value);
        }
    }
    return h;
}

}  // namespace gs::peer::wire
