#include "peer/download/peer_session.hpp"

#include "peer/download/downloader.hpp"
#include "shared/log.hpp"
#include "shared/sha1.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gs::peer {

namespace {
constexpr auto kConnectTimeout = std::chrono::milliseconds(5000);
constexpr auto kHandshakeTimeout = std::chrono::milliseconds(10000);
constexpr auto kRequestTimeout = std::chrono::milliseconds(10000);  // no block while waiting
constexpr auto kTargetLatency = std::chrono::milliseconds(300);
constexpr std::size_t kMinInFlight = 2;
constexpr std::size_t kStartInFlight = 64;
constexpr std::size_t kMaxInFlight = 512;
constexpr std::size_t kMaxReadPerEventBytes = 4 * 1024 * 1024;
}  // namespace

PeerSession::PeerSession(Downloader& owner, PeerKey key, net::Endpoint address)
    : owner_(owner), key_(key), address_(std::move(address)), has_(owner.info().piece_count()) {}

PeerSession::~PeerSession() {
    owner_.loop().cancel(deadline_);
    if (watch_ != 0) owner_.loop().unwatch(watch_);
}

void PeerSession::arm_deadline(std::chrono::milliseconds after, const char* what) {
    owner_.loop().cancel(deadline_);
    deadline_ = owner_.loop().after(after, [this, what] {
        deadline_ = 0;
        close(what, "timed out");
    });
}

void PeerSession::start() {
    auto fd = net::connect_tcp(address_);
    if (!fd) {
        owner_.loop().defer([this, why = fd.error().message] { close("connect", why); });
        return;
    }
    fd_ = std::move(fd).value();
    int buf = 4 * 1024 * 1024;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    watch_ = owner_.loop().watch(fd_.get(), net::Interest::Write, [this](net::Ready r) { on_ready(r); });
    arm_deadline(kConnectTimeout, "connect");
}

void PeerSession::close(std::string_view operation, std::string_view reason) {
    if (state_ == State::Closed) return;
    bool quiet = operation == "stop";
    if (!quiet) log::info("peer {} dropped ({}: {})", address_.to_string(), operation, reason);
    state_ = State::Closed;
    owner_.loop().cancel(deadline_);
    deadline_ = 0;
    if (watch_ != 0) owner_.loop().unwatch(watch_);
    watch_ = 0;
    fd_.reset();
    owner_.on_session_closed(*this);
}

void PeerSession::on_ready(net::Ready ready) {
    if (state_ == State::Connecting) {
        int err = net::connect_error(fd_.get());
        if (err != 0) return close("connect", std::strerror(err));
        on_connected();
        return;
    }
    if (ready.writable) flush();
    if (state_ != State::Closed && (ready.readable || ready.hangup)) on_input();
}

void PeerSession::on_connected() {
    state_ = State::Handshaking;
    out_.append(wire::encode_handshake(digest_bytes(owner_.info().info_hash), owner_.peer_id()));
    std::string msg;
    wire::append_simple(msg, wire::MsgId::Interested);
    out_.append(msg);
    arm_deadline(kHandshakeTimeout, "handshake");
    flush();
}

void PeerSession::flush() {
    if (state_ == State::Closed) return;
    if (!out_.write_to(fd_.get())) return close("write", std::strerror(errno));
    owner_.loop().set_interest(watch_, out_.empty() ? net::Interest::Read : net::Interest::ReadWrite);
}

void PeerSession::on_input() {
    long n = in_.read_from(fd_.get(), kMaxReadPerEventBytes);
    if (n == 0) return close("read", "connection closed by peer");
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return close("read", std::strerror(errno));
    }
    if (state_ == State::Handshaking) {
        auto hs = wire::parse_handshake(in_.view());
        if (!hs) return close("handshake", hs.error().message);
        if (!*hs) return;
        if ((*hs)->info_hash != digest_bytes(owner_.info().info_hash)) {
            return close("handshake", "peer answered for another file");
        }
        in_.consume(wire::kHandshakeBytes);
        state_ = State::Active;
        owner_.loop().cancel(deadline_);
        deadline_ = 0;
        rate_window_start_ = owner_.loop().now();
    }
    std::size_t consumed_total = 0;
    std::string_view view = in_.view();
    while (state_ == State::Active) {
        std::size_t consumed = 0;
        auto m = wire::parse_message(view.substr(consumed_total), consumed);
        if (!m) return close("read", m.error().message);
        if (!*m) break;
        on_message(**m);
        consumed_total += consumed;
    }
    if (state_ == State::Closed) return;
    in_.consume(consumed_total);
    request_more();
}

void PeerSession::on_message(const wire::Message& m) {
    if (m.keep_alive) return;
    switch (m.id) {
        case wire::MsgId::Choke:
            choked_ = true;
            for (const auto& r : requested_) owner_.picker().on_request_dropped(key_, r.piece, r.begin);
            requested_.clear();
            break;
        case wire::MsgId::Unchoke:
            choked_ = false;
            break;
        case wire::MsgId::Have:
            if (m.index >= has_.size()) return close("read", "have for a piece that does not exist");
            if (!has_.has(m.index)) {
                has_.set(m.index);
                owner_.on_peer_have(*this, m.index);
            }
            break;
        case wire::MsgId::Bitfield: {
            auto bits = Bitfield::from_bytes(m.payload, owner_.info().piece_count());
            if (!bits) return close("read", bits.error().message);
            has_ = std::move(bits).value();
            owner_.on_peer_bitfield(*this);
            break;
        }
        case wire::MsgId::Piece: {
            auto it = std::find_if(requested_.begin(), requested_.end(), [&](const BlockRequest& r) {
                return r.piece.value == m.index && r.begin == m.begin && r.length == m.payload.size();
            });
            if (it == requested_.end()) break;  // cancelled, or a late endgame duplicate
            requested_.erase(it);
            auto now = owner_.loop().now();
            last_block_ = now;
            rate_window_bytes_ += m.payload.size();
            auto window = now - rate_window_start_;
            if (window >= std::chrono::milliseconds(500)) {
                double secs = std::chrono::duration<double>(window).count();
                double sample = static_cast<double>(rate_window_bytes_) / secs;
                rate_ = rate_ == 0 ? sample : 0.7 * rate_ + 0.3 * sample;
                rate_window_start_ = now;
                rate_window_bytes_ = 0;
            }
            if (!requested_.empty()) arm_deadline(kRequestTimeout, "request");
            owner_.on_block(*this, m.index, m.begin, m.payload);
            break;
        }
        default:
            break;
    }
}

std::size_t PeerSession::target_in_flight() const {
    if (rate_ == 0) return kStartInFlight;
    double blocks = rate_ * std::chrono::duration<double>(kTargetLatency).count() / PiecePicker::kBlockBytes;
    return std::clamp<std::size_t>(static_cast<std::size_t>(blocks), kMinInFlight, kMaxInFlight);
}

void PeerSession::request_more() {
    if (state_ != State::Active || choked_) return;
    std::size_t target = target_in_flight();
    if (requested_.size() < target) {
        auto picks = owner_.picker().pick(key_, has_, target - requested_.size());
        std::string msg;
        for (const auto& r : picks) {
            wire::append_request(msg, wire::MsgId::Request, r.piece.value, r.begin, r.length);
            requested_.push_back(r);
        }
        if (!msg.empty()) {
            out_.append(msg);
            flush();
        }
    }
    if (state_ == State::Closed) return;
    if (!requested_.empty() && deadline_ == 0) {
        arm_deadline(kRequestTimeout, "request");
    } else if (requested_.empty() && deadline_ != 0) {
        owner_.loop().cancel(deadline_);
        deadline_ = 0;
    }
}

void PeerSession::cancel(const BlockRequest& block) {
    auto it = std::find(requested_.begin(), requested_.end(), block);
    if (it == requested_.end() || state_ != State::Active) return;
    requested_.erase(it);
    std::string msg;
    wire::append_request(msg, wire::MsgId::Cancel, block.piece.value, block.begin, block.length);
    out_.append(msg);
    flush();
}

}  // namespace gs::peer
