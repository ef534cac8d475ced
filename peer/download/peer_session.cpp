#include "peer/download/peer_session.hpp"

#include "peer/download/downloader.hpp"
#include "shared/log.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

namespace gs::peer {

namespace {
// Bytes read from the socket per readiness event before the messages are handled; bounds the
// input buffer whatever the peer sends.
constexpr std::size_t kMaxReadPerEventBytes = 512 * 1024;
constexpr int kReceiveBufferBytes = 4 * 1024 * 1024;
constexpr auto kRateWindow = std::chrono::milliseconds(500);
}  // namespace

PeerSession::PeerSession(Downloader& owner, PeerId id, net::Endpoint address,
                         std::optional<seal::Key> seeder_key)
    : owner_(owner), id_(id), address_(std::move(address)), seeder_key_(seeder_key) {}

PeerSession::~PeerSession() {
    disarm_deadline();
    if (watch_ != 0) owner_.loop().unwatch(watch_);
}

void PeerSession::arm_deadline(Deadline which) {
    disarm_deadline();
    if (which == Deadline::None) return;
    // How long each deadline waits and what the session says when it runs out, in the order of
    // Deadline (after None).
    struct Kind {
        net::Clock::duration SessionDeadlines::*after;
        const char* what;
    };
    static constexpr Kind kKinds[] = {
        {&SessionDeadlines::connect, "connect timed out"},
        {&SessionDeadlines::handshake, "handshake timed out"},
        {&SessionDeadlines::unchoke, "kept us choked for too long"},
        {&SessionDeadlines::block, "no block for too long"},
    };
    static_assert(std::size(kKinds) == static_cast<std::size_t>(Deadline::Block));
    const Kind& kind = kKinds[static_cast<std::size_t>(which) - 1];
    armed_ = which;
    deadline_ = owner_.loop().after(owner_.deadlines().*kind.after, [this, what = kind.what] {
        deadline_ = 0;
        armed_ = Deadline::None;
        failed_ = true;
        close(what);
    });
}

void PeerSession::disarm_deadline() {
    if (deadline_ != 0) owner_.loop().cancel(deadline_);
    deadline_ = 0;
    armed_ = Deadline::None;
}

void PeerSession::update_active_deadline() {
    if (state_ != State::Active) return;
    Deadline wanted = Deadline::None;
    if (!requested_.empty()) {
        wanted = Deadline::Block;
    } else if (interested_ && choked_) {
        wanted = Deadline::Unchoke;
    }
    // One already running keeps its start: it measures since the last block, or since we
    // began to wait for an unchoke.
    if (wanted == armed_) return;
    if (wanted == Deadline::None) return disarm_deadline();
    arm_deadline(wanted);
}

void PeerSession::start() {
    auto fd = net::connect_tcp(address_);
    if (!fd) {
        failed_ = true;
        owner_.loop().defer([this, why = fd.error().message] { close(why); });
        return;
    }
    fd_ = std::move(fd).value();
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &kReceiveBufferBytes,
                 sizeof kReceiveBufferBytes);
    watch_ =
        owner_.loop().watch(fd_.get(), net::Interest::Write, [this](net::Ready r) { on_ready(r); });
    arm_deadline(Deadline::Connect);
}

void PeerSession::close(std::string_view reason, bool quiet) {
    if (state_ == State::Closed) return;
    if (!quiet) log::info("peer {}: closed ({})", address_.to_string(), reason);
    state_ = State::Closed;
    disarm_deadline();
    if (watch_ != 0) owner_.loop().unwatch(watch_);
    watch_ = 0;
    fd_.reset();
    requested_.clear();  // the owner hands them back to the picker with the peer
    owner_.on_session_closed(*this);
}

void PeerSession::fail(std::string_view reason) {
    failed_ = true;
    close(reason);
}

void PeerSession::on_ready(net::Ready ready) {
    if (state_ == State::Connecting) {
        if (int err = net::connect_error(fd_.get()); err != 0) {
            failed_ = true;
            return close(std::string("connect: ") + std::strerror(err));
        }
        return on_connected();
    }
    if (ready.writable) flush();
    if (state_ != State::Closed && (ready.readable || ready.hangup)) on_input();
}

void PeerSession::on_connected() {
    state_ = State::Handshaking;
    arm_deadline(Deadline::Handshake);
    if (seeder_key_) {
        channel_.emplace(seal::Channel::initiator(owner_.channel_key(), *seeder_key_));
        out_.append(channel_->start());
    }
    // On a sealed channel this waits inside it until the channel's handshake is done.
    std::string out;
    wire::encode_handshake(out, owner_.handshake());
    send(out);
}

void PeerSession::send(std::string_view bytes) {
    if (channel_) {
        channel_->seal(bytes, out_);
    } else {
        out_.append(bytes);
    }
    flush();
}

void PeerSession::flush() {
    if (state_ == State::Closed) return;
    if (!out_.write_to(fd_.get())) {
        failed_ = true;
        return close(std::string("write: ") + std::strerror(errno));
    }
    owner_.loop().set_interest(watch_,
                               out_.empty() ? net::Interest::Read : net::Interest::ReadWrite);
}

bool PeerSession::read_input() {
    net::Buffer& raw = channel_ ? wire_in_ : in_;
    long n = raw.read_from(fd_.get(), kMaxReadPerEventBytes);
    if (n == 0) {
        if (channel_ && !channel_->established()) {
            fail(
                "the peer closed the connection during the sealed handshake (it does not speak "
                "the sealed channel, or it refused us)");
        } else {
            fail("connection closed by the peer");
        }
        return false;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        fail(std::string("read: ") + std::strerror(errno));
        return false;
    }
    if (!channel_) return true;
    if (auto s = channel_->receive(wire_in_, in_, out_); !s) {
        fail(s.error().message);
        return false;
    }
    if (!out_.empty()) flush();  // message 3, and what waited for it
    return state_ != State::Closed;
}

void PeerSession::on_input() {
    if (!read_input()) return;
    if (state_ == State::Handshaking) {
        // A seeder that only speaks the sealed channel tells a plain peer so before it closes.
        const std::string_view notice = wire::kSealRequiredNotice;
        if (!channel_ && !in_.empty() && in_.data()[0] == notice[0]) {
            const std::string_view got = in_.view().substr(0, notice.size());
            if (notice.starts_with(got)) {
                if (got.size() < notice.size()) return;  // the rest is on its way
                return fail(
                    "the seeder serves this file only over the sealed channel, and this client "
                    "runs with --plain-peer-wire");
            }
        }
        auto hs = wire::parse_handshake(in_.view());
        if (!hs) {
            failed_ = true;
            return close(hs.error().message);
        }
        if (!*hs) return;
        if ((*hs)->info_hash != owner_.handshake().info_hash) {
            failed_ = true;
            return close("the peer answered for another file");
        }
        in_.consume(wire::kHandshakeBytes);
        state_ = State::Active;
        disarm_deadline();
        rate_window_start_ = owner_.loop().now();
        send_ticket();
    }
    std::size_t consumed_total = 0;
    const std::string_view view = in_.view();
    while (state_ == State::Active) {
        std::size_t consumed = 0;
        auto m = wire::parse_message(view.substr(consumed_total), consumed);
        if (!m) {
            failed_ = true;
            return close(m.error().message);
        }
        if (!*m) break;
        if (!on_message(**m)) return;
        consumed_total += consumed;
    }
    if (state_ == State::Closed) return;
    in_.consume(consumed_total);
    request_more();
}

bool PeerSession::on_message(const wire::Message& m) {
    if (m.keep_alive) return true;
    const std::uint32_t pieces = owner_.info().piece_count();
    switch (m.id) {
        case wire::MsgId::Choke:
            choked_ = true;
            drop_requests();
            break;
        case wire::MsgId::Unchoke: choked_ = false; break;
        case wire::MsgId::Have:
            if (m.index >= pieces) {
                failed_ = true;
                close("have for a piece that does not exist");
                return false;
            }
            owner_.on_peer_have(*this, PieceIndex{m.index});
            break;
        case wire::MsgId::Bitfield: {
            auto bits = Bitfield::from_bytes(m.payload, pieces);
            if (!bits) {
                failed_ = true;
                close(bits.error().message);
                return false;
            }
            owner_.on_peer_bitfield(*this, *bits);
            break;
        }
        case wire::MsgId::Piece: on_piece(m); break;
        default: break;  // requests to us go to our serving side, not here; extensions unused yet
    }
    return state_ != State::Closed;
}

void PeerSession::on_piece(const wire::Message& m) {
    auto matches = [&](const BlockRequest& r) {
        return r.piece.value == m.index && r.begin == m.begin && r.length == m.payload.size();
    };
    auto it = requested_.empty() || matches(requested_.front())
                  ? requested_.begin()
                  : std::find_if(requested_.begin(), requested_.end(), matches);
    if (it == requested_.end()) return;  // cancelled, or an endgame duplicate we withdrew
    requested_.erase(it);
    ++blocks_received_;
    delivered_bytes_ += m.payload.size();

    const auto now = owner_.loop().now();
    rate_window_bytes_ += m.payload.size();
    if (now - rate_window_start_ >= kRateWindow) {
        double secs = std::chrono::duration<double>(now - rate_window_start_).count();
        double sample = static_cast<double>(rate_window_bytes_) / secs;
        rate_ = rate_ == 0 ? sample : 0.6 * rate_ + 0.4 * sample;
        rate_window_start_ = now;
        rate_window_bytes_ = 0;
    }
    // A block came: the peer is not stalled, its block deadline starts again.
    if (requested_.empty()) {
        disarm_deadline();
    } else {
        arm_deadline(Deadline::Block);
    }
    owner_.on_block(*this, PieceIndex{m.index}, m.begin, m.payload);
}

void PeerSession::drop_requests() {
    for (const auto& r : requested_) owner_.picker().on_request_timeout(id_, r);
    requested_.clear();
    disarm_deadline();
}

std::size_t PeerSession::target_in_flight() const {
    if (rate_ == 0) return std::min(kStartInFlight, kInitialInFlight + blocks_received_);
    double blocks = rate_ * std::chrono::duration<double>(kTargetLatency).count() /
                    static_cast<double>(wire::kBlockBytes);
    return std::clamp(static_cast<std::size_t>(blocks), kMinInFlight, kMaxInFlight);
}

void PeerSession::request_more() {
    if (state_ != State::Active) return;
    const bool want = owner_.picker().is_interesting(id_) || !requested_.empty();
    std::string out;
    if (want != interested_) {
        interested_ = want;
        wire::encode_state(out, want ? wire::MsgId::Interested : wire::MsgId::NotInterested);
    }
    if (!choked_ && interested_) {
        const std::size_t target = target_in_flight();
        if (requested_.size() < target) {
            for (const auto& r :
                 owner_.picker().pick(id_, target - requested_.size(), owner_.is_fast(id_))) {
                wire::encode_request(out, r.piece.value, r.begin, r.length);
                requested_.push_back(r);
            }
        }
    }
    update_active_deadline();
    if (out.empty()) return;
    send(out);
}

void PeerSession::cancel(const BlockRequest& block) {
    auto it = std::find(requested_.begin(), requested_.end(), block);
    if (it == requested_.end() || state_ != State::Active) return;
    requested_.erase(it);
    update_active_deadline();
    std::string out;
    wire::encode_cancel(out, block.piece.value, block.begin, block.length);
    send(out);
}

void PeerSession::send_ticket() {
    if (state_ != State::Active) return;
    wire::ExtendedHandshake ours;
    ours.client = std::string(wire::kClientVersion);
    if (!owner_.ticket().empty()) ours.extra["ticket"] = owner_.ticket();
    std::string out;
    wire::encode_extended_handshake(out, ours);
    send(out);
}

void PeerSession::send_have(PieceIndex piece) {
    if (state_ != State::Active) return;
    std::string out;
    wire::encode_have(out, piece.value);
    send(out);
}

}  // namespace gs::peer
