// Channel: the sealed peer channel over one TCP connection (docs/protocol.md §2.1). It runs the
// Noise XK handshake (peer/seal/noise.hpp) and then carries the peers' BEP 3 byte stream in
// records:
//     4-byte big-endian length N (16 <= N <= kMaxRecordBytes + 16), then N bytes: the AEAD
//     ciphertext of N - 16 plaintext bytes and its 16-byte tag.
// Every byte after the first handshake message is encrypted and authenticated: the inner BEP 3
// handshake, bitfields, requests, pieces, the extended handshake and its ticket. A record that
// does not authenticate (a flipped byte, a reordered, dropped or replayed record) ends the
// connection. The owner (PeerSession, UploadSession) keeps its wire buffers and its plaintext
// buffers apart and calls receive() and seal() between them. Reactor thread only.
#pragma once

#include "peer/seal/noise.hpp"
#include "shared/net/buffer.hpp"
#include "shared/result.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gs::peer::seal {

// The largest record's plaintext: 256 KiB. Seeders put up to 8 blocks with their headers in one.
inline constexpr std::size_t kMaxRecordBytes = 256 * 1024;
inline constexpr std::size_t kRecordHeaderBytes = 4;
inline constexpr std::size_t kRecordOverheadBytes = kRecordHeaderBytes + kTagBytes;

class Channel {
public:
    // The downloader's side, towards a seeder whose static key the tracker gave.
    static Channel initiator(const KeyPair& local, const Key& remote_static,
                             Cipher cipher = preferred_cipher());
    // The seeder's side.
    static Channel responder(const KeyPair& local);

    // Initiator: message 1, the first bytes on the connection.
    std::string start();

    // Takes what it can use from the front of `wire`: handshake messages (answered by appending
    // to `wire_out`) and whole records, whose plaintext is appended to `plain`. A Protocol
    // error says why the connection must be dropped. Records larger than max_record() are
    // refused from their header, before their body is waited for.
    Status receive(net::Buffer& wire, net::Buffer& plain, net::Buffer& wire_out);

    // Seals `plain` (any size; split at kMaxRecordBytes) into records appended to `wire_out`.
    // Before the handshake is done the bytes wait, and go out when it is.
    void seal(std::string_view plain, net::Buffer& wire_out);
    // For a record filled in place (the seeder reads file bytes straight into it): room for
    // `len` plaintext bytes at the back of `wire_out`, then end_record() seals them there.
    char* begin_record(net::Buffer& wire_out, std::size_t len);
    void end_record(net::Buffer& wire_out, std::size_t len);

    bool established() const { return transport_.has_value(); }
    // The responder before message 3 has nothing to send; after it, both sides may.
    const Key& remote_static() const { return transport_->remote_static; }
    const Key& handshake_hash() const { return transport_->handshake_hash; }
    Cipher cipher() const { return handshake_.cipher(); }

    // Caps the plaintext of a record this side accepts (a seeder's connection that has not
    // shown a ticket yet gets a small cap; kMaxRecordBytes otherwise).
    void set_max_record(std::size_t bytes) { max_record_ = bytes; }
    std::size_t max_record() const { return max_record_; }

private:
    enum class Step { Message1, Message2, Message3, Records };
    Channel(Handshake handshake, bool initiator);
    void seal_one(std::string_view plain, net::Buffer& wire_out);
    // The handshake is done: the transport keys, and what was sealed meanwhile goes out.
    void establish(net::Buffer& wire_out);

    Handshake handshake_;
    bool initiator_;
    Step step_;
    std::optional<Transport> transport_;
    std::string pending_;  // plaintext sealed before the handshake was done
    std::size_t max_record_ = kMaxRecordBytes;
};

}  // namespace gs::peer::seal
