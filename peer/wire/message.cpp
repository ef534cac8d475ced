#include "peer/wire/message.hpp"

#include <fmt/format.h>

#include <cassert>

namespace gs::peer::wire {

namespace {

void put32(std::string& out, std::uint32_t v) {
    out.push_back(static_cast<char>(v >> 24));
    out.push_back(static_cast<char>(v >> 16));
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}

std::uint32_t get32(std::string_view in, std::size_t at) {
    auto b = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i]));
    };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

Error bad(std::string what) {
    return make_error(Errc::Protocol, std::move(what));
}

// Checks a body length (id byte included) against what BEP 3 / BEP 10 allow for `id` and our
// caps. Returns an error message, or nothing when the length fits.
std::optional<std::string> check_length(std::uint8_t id, std::uint32_t len) {
    auto exactly = [&](std::uint32_t want) -> std::optional<std::string> {
        if (len == want) return std::nullopt;
        return fmt::format("message {} of {} bytes (expected {})", id, len, want);
    };
    auto between = [&](std::uint32_t lo, std::uint32_t hi) -> std::optional<std::string> {
        if (len >= lo && len <= hi) return std::nullopt;
        return fmt::format("message {} of {} bytes (expected {} to {})", id, len, lo, hi);
    };
    switch (static_cast<MsgId>(id)) {
        case MsgId::Choke:
        case MsgId::Unchoke:
        case MsgId::Interested:
        case MsgId::NotInterested: return exactly(kStateMessageBytes);
        case MsgId::Have: return exactly(kHaveMessageBytes);
        case MsgId::Bitfield: return between(1, 1 + kMaxBitfieldBytes);
        case MsgId::Request:
        case MsgId::Cancel: return exactly(kRequestMessageBytes);
        case MsgId::Piece:
            return between(kPieceHeaderBytes + 1, kPieceHeaderBytes + kMaxBlockBytes);
        case MsgId::Extended: return between(2, 2 + kMaxExtendedBytes);
    }
    return fmt::format("unknown message id {}", id);
}

void put_header(std::string& out, std::uint32_t body_length, MsgId id) {
    put32(out, body_length);
    out.push_back(static_cast<char>(id));
}

void encode_block_ref(std::string& out, MsgId id, std::uint32_t index, std::uint32_t begin,
                      std::uint32_t length) {
    put_header(out, kRequestMessageBytes, id);
    put32(out, index);
    put32(out, begin);
    put32(out, length);
}

}  // namespace

Result<std::optional<Message>> parse_message(std::string_view in, std::size_t& consumed) {
    if (in.size() < kLengthPrefixBytes) return std::optional<Message>();
    const std::uint32_t len = get32(in, 0);
    if (len == 0) {  // BEP 3: keep-alive
        consumed = kLengthPrefixBytes;
        Message m;
        m.keep_alive = true;
        return std::optional<Message>(m);
    }
    if (len > kMaxMessageBytes) {
        return bad(
            fmt::format("message of {} bytes is over the {} byte limit", len, kMaxMessageBytes));
    }
    if (in.size() < kLengthPrefixBytes + 1) return std::optional<Message>();
    const auto id = static_cast<std::uint8_t>(in[kLengthPrefixBytes]);
    if (auto why = check_length(id, len)) return bad(std::move(*why));
    if (in.size() - kLengthPrefixBytes < len) return std::optional<Message>();

    Message m;
    m.id = static_cast<MsgId>(id);
    const std::string_view body = in.substr(kLengthPrefixBytes + 1, len - 1);
    switch (m.id) {
        case MsgId::Have: m.index = get32(body, 0); break;
        case MsgId::Bitfield: m.payload = body; break;
        case MsgId::Request:
        case MsgId::Cancel:
            m.index = get32(body, 0);
            m.begin = get32(body, 4);
            m.length = get32(body, 8);
            break;
        case MsgId::Piece:
            m.index = get32(body, 0);
            m.begin = get32(body, 4);
            m.payload = body.substr(8);
            break;
        case MsgId::Extended:
            m.extended_id = static_cast<std::uint8_t>(body[0]);
            m.payload = body.substr(1);
            break;
        default:  // state messages carry nothing
            break;
    }
    consumed = kLengthPrefixBytes + len;
    return std::optional<Message>(m);
}

void encode_keep_alive(std::string& out) {
    put32(out, 0);
}

void encode_state(std::string& out, MsgId id) {
    assert(id == MsgId::Choke || id == MsgId::Unchoke || id == MsgId::Interested ||
           id == MsgId::NotInterested);
    put_header(out, kStateMessageBytes, id);
}

void encode_have(std::string& out, std::uint32_t index) {
    put_header(out, kHaveMessageBytes, MsgId::Have);
    put32(out, index);
}

void encode_bitfield(std::string& out, std::string_view bits) {
    assert(bits.size() <= kMaxBitfieldBytes);
    put_header(out, static_cast<std::uint32_t>(1 + bits.size()), MsgId::Bitfield);
    out.append(bits);
}

void encode_request(std::string& out, std::uint32_t index, std::uint32_t begin,
                    std::uint32_t length) {
    encode_block_ref(out, MsgId::Request, index, begin, length);
}

void encode_cancel(std::string& out, std::uint32_t index, std::uint32_t begin,
                   std::uint32_t length) {
    encode_block_ref(out, MsgId::Cancel, index, begin, length);
}

void encode_piece_header(std::string& out, std::uint32_t index, std::uint32_t begin,
                         std::uint32_t block_length) {
    assert(block_length > 0 && block_length <= kMaxBlockBytes);
    put_header(out, kPieceHeaderBytes + block_length, MsgId::Piece);
    put32(out, index);
    put32(out, begin);
}

void encode_piece(std::string& out, std::uint32_t index, std::uint32_t begin,
                  std::string_view block) {
    encode_piece_header(out, index, begin, static_cast<std::uint32_t>(block.size()));
    out.append(block);
}

void encode_extended(std::string& out, std::uint8_t extended_id, std::string_view body) {
    assert(body.size() <= kMaxExtendedBytes);
    put_header(out, static_cast<std::uint32_t>(2 + body.size()), MsgId::Extended);
    out.push_back(static_cast<char>(extended_id));
    out.append(body);
}

void encode_message(std::string& out, const Message& m) {
    if (m.keep_alive) return encode_keep_alive(out);
    switch (m.id) {
        case MsgId::Choke:
        case MsgId::Unchoke:
        case MsgId::Interested:
        case MsgId::NotInterested: return encode_state(out, m.id);
        case MsgId::Have: return encode_have(out, m.index);
        case MsgId::Bitfield: return encode_bitfield(out, m.payload);
        case MsgId::Request: return encode_request(out, m.index, m.begin, m.length);
        case MsgId::Cancel: return encode_cancel(out, m.index, m.begin, m.length);
        case MsgId::Piece: return encode_piece(out, m.index, m.begin, m.payload);
        case MsgId::Extended: return encode_extended(out, m.extended_id, m.payload);
    }
    assert(false && "unknown message id");
}

}  // namespace gs::peer::wire
