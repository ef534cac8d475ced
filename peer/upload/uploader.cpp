#include "peer/upload/uploader.hpp"

#include "shared/log.hpp"
#include "shared/net/socket.hpp"
#include "shared/sha1.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gs::peer {

namespace {
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr std::size_t kMaxReadBytes = 256 * 1024;
}  // namespace

UploadSession::UploadSession(Uploader& owner, std::uint64_t id, net::Fd fd, std::string peer)
    : owner_(owner), id_(id), fd_(std::move(fd)), peer_(std::move(peer)) {
    watch_ = owner_.loop().watch(fd_.get(), net::Interest::Read,
                                 [this](net::Ready r) { on_ready(r); });
    idle_timer_ = owner_.loop().after(kHandshakeTimeout, [this] {
        idle_timer_ = 0;
        if (!handshaken_) close("handshake timeout");
    });
}

UploadSession::~UploadSession() {
    owner_.loop().cancel(idle_timer_);
    if (watch_ != 0) owner_.loop().unwatch(watch_);
}

void UploadSession::close(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    if (watch_ != 0) owner_.loop().unwatch(watch_);
    watch_ = 0;
    fd_.reset();
    if (reason != "closed by peer") log::info("upload to {} closed: {} ({} bytes served)", peer_, reason, served_bytes_);
    owner_.reap(id_);
}

void UploadSession::on_ready(net::Ready ready) {
    if (ready.writable) {
        fill_output();
        flush();
    }
    if (!closed_ && (ready.readable || ready.hangup)) on_input();
}

void UploadSession::on_input() {
    long n = in_.read_from(fd_.get(), kMaxReadBytes);
    if (n == 0) return close("closed by peer");
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return close(std::string("read: ") + std::strerror(errno));
    }
    if (!handshaken_) {
        auto hs = wire::parse_handshake(in_.view());
        if (!hs) return close(hs.error().message);
        if (!*hs) return;
        in_.consume(wire::kHandshakeBytes);
        const Share* share = owner_.shares().find((*hs)->info_hash);
        if (share == nullptr) return close("handshake for a file we do not share");
        info_hash_ = (*hs)->info_hash;
        handshaken_ = true;
        std::string out = wire::encode_handshake(info_hash_, owner_.peer_id());
        Bitfield bits(share->info.piece_count());
        for (std::uint32_t i = 0; i < bits.size(); ++i) {
            if (share->has_piece(i)) bits.set(i);
        }
        if (bits.size() > 0) wire::append_bitfield(out, bits.to_bytes());
        wire::append_simple(out, wire::MsgId::Unchoke);  // we serve everyone who asks
        out_.append(out);
        owner_.loop().cancel(idle_timer_);
        idle_timer_ = 0;
    }
    while (!closed_) {
        std::size_t consumed = 0;
        auto m = wire::parse_message(in_.view(), consumed);
        if (!m) return close(m.error().message);
        if (!*m) break;
        handle(**m);
        in_.consume(consumed);
    }
    if (!closed_) {
        fill_output();
        flush();
    }
}

void UploadSession::handle(const wire::Message& m) {
    if (m.keep_alive) return;
    switch (m.id) {
        case wire::MsgId::Request: {
            const Share* share = owner_.shares().find(info_hash_);
            if (share == nullptr) return close("share stopped");
            if (m.index >= share->info.piece_count() || !share->has_piece(m.index) ||
                m.length == 0 || m.length > 128 * 1024 ||
                std::int64_t{m.begin} + m.length > share->info.piece_size(m.index)) {
                return close("bad request");
            }
            if (queue_.size() >= Uploader::kMaxQueuedRequests) return close("too many requests queued");
            queue_.push_back({m.index, m.begin, m.length});
            break;
        }
        case wire::MsgId::Cancel:
            std::erase_if(queue_, [&](const Request& r) {
                return r.piece == m.index && r.begin == m.begin && r.length == m.length;
            });
            break;
        default:
            break;  // interested, have, bitfield, extended: nothing to do for a pure server
    }
}

void UploadSession::fill_output() {
    const Share* share = owner_.shares().find(info_hash_);
    while (!queue_.empty() && out_.size() < Uploader::kOutputTargetBytes && share != nullptr) {
        Request r = queue_.front();
        queue_.pop_front();
        std::string header;
        wire::append_piece_header(header, r.piece, r.begin, r.length);
        out_.append(header);
        char* dst = out_.prepare(r.length);
        off_t offset = static_cast<off_t>(r.piece) * share->info.piece_length + r.begin;
        std::size_t got = 0;
        while (got < r.length) {
            ssize_t n = ::pread(share->fd.get(), dst + got, r.length - got, offset + static_cast<off_t>(got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return close("cannot read the shared file");
            got += static_cast<std::size_t>(n);
        }
        out_.commit(r.length);
        served_bytes_ += r.length;
    }
}

void UploadSession::flush() {
    if (closed_) return;
    if (!out_.write_to(fd_.get())) return close(std::string("write: ") + std::strerror(errno));
    owner_.loop().set_interest(watch_, out_.empty() && queue_.empty() ? net::Interest::Read
                                                                      : net::Interest::ReadWrite);
}

void UploadSession::send_have(std::string_view raw_info_hash, std::uint32_t piece) {
    if (closed_ || !handshaken_ || raw_info_hash != info_hash_) return;
    std::string msg;
    wire::append_have(msg, piece);
    out_.append(msg);
    flush();
}

Uploader::Uploader(net::EventLoop& loop, net::Fd listener, Shares& shares, std::string peer_id)
    : loop_(loop), listener_(std::move(listener)), shares_(shares), peer_id_(std::move(peer_id)) {
    watch_ = loop_.watch(listener_.get(), net::Interest::Read, [this](net::Ready) { on_acceptable(); });
}

Uploader::~Uploader() {
    sessions_.clear();
    if (watch_ != 0) loop_.unwatch(watch_);
}

void Uploader::set_serving(bool serving) {
    serving_ = serving;
    if (!serving) {
        for (auto& [id, s] : sessions_) s->close("logged out");
    }
}

void Uploader::on_acceptable() {
    for (int i = 0; i < 64; ++i) {
        net::Endpoint peer;
        net::Fd fd = net::accept_tcp(listener_.get(), &peer);
        if (!fd.valid()) return;
        if (!serving_) continue;  // logged out: refuse
        int buf = 4 * 1024 * 1024;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        std::uint64_t id = next_id_++;
        sessions_.emplace(id, std::make_unique<UploadSession>(*this, id, std::move(fd), peer.to_string()));
    }
}

void Uploader::announce_have(std::string_view raw_info_hash, std::uint32_t piece) {
    for (auto& [id, s] : sessions_) s->send_have(raw_info_hash, piece);
}

void Uploader::drop_share(std::string_view raw_info_hash) {
    (void)raw_info_hash;  // sessions notice on their next request (find() fails) and close
}

void Uploader::reap(std::uint64_t id) {
    loop_.defer([this, id] { sessions_.erase(id); });
}

}  // namespace gs::peer
