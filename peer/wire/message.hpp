// BEP 3 peer messages (and the BEP 10 extended message envelope): encoders that append to an
// output string, and an incremental parser for the front of an input buffer. Pure; used by
// PeerSession and UploadSession on the reactor thread.
#pragma once

#include "peer/wire/wire_constants.hpp"
#include "shared/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gs::peer::wire {

// One parsed message. Which fields mean something depends on `id`:
//   have: index; request/cancel: index, begin, length; piece: index, begin, payload (the block);
//   bitfield: payload; extended: extended_id, payload. A keep-alive has only keep_alive set.
// `payload` points into the parser's input: it is valid until those bytes are consumed.
struct Message {
    bool keep_alive = false;
    MsgId id = MsgId::Choke;
    std::uint32_t index = 0;
    std::uint32_t begin = 0;
    std::uint32_t length = 0;
    std::uint8_t extended_id = 0;
    std::string_view payload;

    bool operator==(const Message&) const = default;  // compares payload bytes
};

// Parses one message from the front of `in`. On a message, `consumed` is its size on the wire
// (prefix included). nullopt: more bytes are needed, and `consumed` is untouched. A Protocol error
// (the connection should be closed) for an unknown id, a length that does not fit the id, or a
// length above the caps — decided from the 4-byte prefix and the id byte, before the body is
// waited for.
Result<std::optional<Message>> parse_message(std::string_view in, std::size_t& consumed);

void encode_keep_alive(std::string& out);
// choke, unchoke, interested or not interested.
void encode_state(std::string& out, MsgId id);
void encode_have(std::string& out, std::uint32_t index);
void encode_bitfield(std::string& out, std::string_view bits);
void encode_request(std::string& out, std::uint32_t index, std::uint32_t begin,
                    std::uint32_t length);
void encode_cancel(std::string& out, std::uint32_t index, std::uint32_t begin,
                   std::uint32_t length);
// Only the 13-byte header of a piece message (prefix, id, index, begin); the sender appends the
// `block_length` bytes itself (pread into its buffer, or sendfile).
void encode_piece_header(std::string& out, std::uint32_t index, std::uint32_t begin,
                         std::uint32_t block_length);
void encode_piece(std::string& out, std::uint32_t index, std::uint32_t begin,
                  std::string_view block);
void encode_extended(std::string& out, std::uint8_t extended_id, std::string_view body);
// Any message, e.g. one returned by parse_message.
void encode_message(std::string& out, const Message& message);

}  // namespace gs::peer::wire
