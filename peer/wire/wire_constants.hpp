// Peer wire constants (BEP 3 peer protocol, BEP 10 extension protocol) in one place. Message
// length limits are ours: a message may not make us buffer more than a block or a bitfield.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gs::peer::wire {

// BEP 3 "peer protocol": handshake = <pstrlen=19><pstr><8 reserved bytes><info_hash><peer_id>.
inline constexpr std::string_view kProtocol = "BitTorrent protocol";
inline constexpr std::size_t kReservedBytes = 8;
inline constexpr std::size_t kInfoHashBytes = 20;
inline constexpr std::size_t kPeerIdBytes = 20;
inline constexpr std::size_t kHandshakeBytes =
    1 + kProtocol.size() + kReservedBytes + kInfoHashBytes + kPeerIdBytes;  // 68
static_assert(kHandshakeBytes == 68);

// BEP 10: the extension protocol is advertised by bit 20 from the right of the reserved bytes,
// i.e. reserved[5] & 0x10.
inline constexpr std::size_t kExtensionByte = 5;
inline constexpr std::uint8_t kExtensionBit = 0x10;

// BEP 3: messages are <4-byte big-endian length><1-byte id><payload>; length 0 is a keep-alive.
inline constexpr std::size_t kLengthPrefixBytes = 4;
enum class MsgId : std::uint8_t {
    Choke = 0,          // BEP 3
    Unchoke = 1,        // BEP 3
    Interested = 2,     // BEP 3
    NotInterested = 3,  // BEP 3
    Have = 4,           // BEP 3: <index>
    Bitfield = 5,       // BEP 3: <bits>
    Request = 6,        // BEP 3: <index><begin><length>
    Piece = 7,          // BEP 3: <index><begin><block>
    Cancel = 8,         // BEP 3: <index><begin><length>
    Extended = 20,      // BEP 10: <extended id><payload>
};

// BEP 3: "All current implementations use 2^14 (16 kiB), and close connections which request an
// amount greater than that." We request exactly this, and accept no larger block.
inline constexpr std::uint32_t kBlockBytes = 16 * 1024;
inline constexpr std::uint32_t kMaxBlockBytes = kBlockBytes;

// Body lengths (after the 4-byte prefix, including the id byte), BEP 3.
inline constexpr std::uint32_t kStateMessageBytes = 1;     // choke .. not interested
inline constexpr std::uint32_t kHaveMessageBytes = 5;      // id + index
inline constexpr std::uint32_t kRequestMessageBytes = 13;  // id + index + begin + length
inline constexpr std::uint32_t kPieceHeaderBytes = 9;      // id + index + begin, then the block
// A whole piece message header on the wire: prefix + id + index + begin.
inline constexpr std::size_t kPieceMessageHeaderBytes = kLengthPrefixBytes + kPieceHeaderBytes;
static_assert(kPieceMessageHeaderBytes == 13);

// Our caps. A bitfield of 2^21 pieces (1 TiB at 512 KiB pieces) is 256 KiB.
inline constexpr std::uint32_t kMaxBitfieldBytes = 256 * 1024;
// BEP 10 messages are small dictionaries; 16 KiB leaves room for a ticket and more.
inline constexpr std::uint32_t kMaxExtendedBytes = 16 * 1024;
inline constexpr std::uint32_t kMaxMessageBytes = 1 + kMaxBitfieldBytes;  // the largest kind
static_assert(kMaxMessageBytes >= kPieceHeaderBytes + kMaxBlockBytes);
static_assert(kMaxMessageBytes >= 2 + kMaxExtendedBytes);

// BEP 10: extended message id 0 is the extended handshake.
inline constexpr std::uint8_t kExtendedHandshakeId = 0;

// Ours: what a groupshare seeder writes, in place of its handshake, to a peer that greeted it in
// plain BEP 3 for a file only members may fetch, just before it closes the connection
// (docs/protocol.md §2.1). A groupshare downloader shows it as its reason; another BitTorrent
// client sees a malformed handshake. No byte of the share is in it.
inline constexpr std::string_view kSealRequiredNotice = "gs-seal-required\n";

}  // namespace gs::peer::wire
