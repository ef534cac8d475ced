#include "peer/seal/channel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace gs::peer::seal {

namespace {

void put_u32(char* p, std::uint32_t v) {
    p[0] = static_cast<char>(v >> 24);
    p[1] = static_cast<char>(v >> 16);
    p[2] = static_cast<char>(v >> 8);
    p[3] = static_cast<char>(v);
}

std::uint32_t get_u32(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
           std::uint32_t{u[3]};
}

std::uint8_t* bytes(char* p) {
    return reinterpret_cast<std::uint8_t*>(p);
}
const std::uint8_t* bytes(const char* p) {
    return reinterpret_cast<const std::uint8_t*>(p);
}

}  // namespace

Channel::Channel(Handshake handshake, bool initiator)
    : handshake_(std::move(handshake)),
      initiator_(initiator),
      step_(initiator ? Step::Message2 : Step::Message1) {}

Channel Channel::initiator(const KeyPair& local, const Key& remote_static, Cipher cipher) {
    return Channel(Handshake::initiator(local, remote_static, cipher), true);
}

Channel Channel::responder(const KeyPair& local) {
    return Channel(Handshake::responder(local), false);
}

std::string Channel::start() {
    assert(initiator_ && step_ == Step::Message2);
    return handshake_.write_message1();
}

Status Channel::receive(net::Buffer& wire, net::Buffer& plain, net::Buffer& wire_out) {
    while (true) {
        const std::string_view in = wire.view();
        switch (step_) {
            case Step::Message1: {
                // A stranger is told apart from its first bytes, before 56 of them come.
                const std::size_t seen = std::min(in.size(), kPreambleStem.size());
                if (in.substr(0, seen) != kPreambleStem.substr(0, seen)) {
                    return make_error(Errc::Protocol, "not a sealed-channel greeting");
                }
                if (in.size() < kMessage1Bytes) return {};
                if (auto s = handshake_.read_message1(in.substr(0, kMessage1Bytes)); !s) return s;
                wire.consume(kMessage1Bytes);
                wire_out.append(handshake_.write_message2());
                step_ = Step::Message3;
                continue;
            }
            case Step::Message2: {
                if (in.size() < kMessage2Bytes) return {};
                if (auto s = handshake_.read_message2(in.substr(0, kMessage2Bytes)); !s) return s;
                wire.consume(kMessage2Bytes);
                wire_out.append(handshake_.write_message3());
                establish(wire_out);
                continue;
            }
            case Step::Message3: {
                if (in.size() < kMessage3Bytes) return {};
                if (auto s = handshake_.read_message3(in.substr(0, kMessage3Bytes)); !s) return s;
                wire.consume(kMessage3Bytes);
                establish(wire_out);
                continue;
            }
            case Step::Records: break;
        }
        // Records: as many whole ones as are buffered.
        std::size_t used = 0;
        while (in.size() - used >= kRecordHeaderBytes) {
            const std::uint32_t n = get_u32(in.data() + used);
            if (n < kTagBytes || n - kTagBytes > max_record_) {
                return make_error(
                    Errc::Protocol,
                    n < kTagBytes
                        ? fmt::format("sealed record of {} bytes is too short", n)
                        : fmt::format("sealed record of {} bytes is over the {} byte limit",
                                      n - kTagBytes, max_record_));
            }
            if (in.size() - used - kRecordHeaderBytes < n) break;
            const std::size_t len = n - kTagBytes;
            const char* body = in.data() + used + kRecordHeaderBytes;
            char* out = plain.prepare(len);
            if (!transport_->receive.decrypt_record(bytes(body), bytes(out), len,
                                                    bytes(body + len))) {
                return make_error(Errc::Protocol,
                                  fmt::format("sealed record {} did not authenticate (altered, "
                                              "reordered or replayed on the way)",
                                              transport_->receive.nonce()));
            }
            plain.commit(len);
            used += kRecordHeaderBytes + n;
        }
        wire.consume(used);
        return {};
    }
}

void Channel::establish(net::Buffer& wire_out) {
    transport_ = handshake_.split();
    step_ = Step::Records;
    if (pending_.empty()) return;
    seal(pending_, wire_out);
    pending_.clear();
    pending_.shrink_to_fit();
}

void Channel::seal(std::string_view plain, net::Buffer& wire_out) {
    if (!established()) {
        pending_.append(plain);
        return;
    }
    while (!plain.empty()) {
        const std::size_t len = std::min(plain.size(), kMaxRecordBytes);
        seal_one(plain.substr(0, len), wire_out);
        plain.remove_prefix(len);
    }
}

void Channel::seal_one(std::string_view plain, net::Buffer& wire_out) {
    char* body = begin_record(wire_out, plain.size());
    transport_->send.encrypt_record(bytes(plain.data()), bytes(body), plain.size(),
                                    bytes(body + plain.size()));
    wire_out.commit(kRecordOverheadBytes + plain.size());
}

char* Channel::begin_record(net::Buffer& wire_out, std::size_t len) {
    assert(established() && len <= kMaxRecordBytes);
    char* p = wire_out.prepare(kRecordOverheadBytes + len);
    put_u32(p, static_cast<std::uint32_t>(len + kTagBytes));
    return p + kRecordHeaderBytes;
}

void Channel::end_record(net::Buffer& wire_out, std::size_t len) {
    // begin_record() prepared this room; nothing was committed since.
    char* body = wire_out.prepare(kRecordOverheadBytes + len) + kRecordHeaderBytes;
    transport_->send.encrypt_record(bytes(body), bytes(body), len, bytes(body + len));
    wire_out.commit(kRecordOverheadBytes + len);
}

}  // namespace gs::peer::seal
