#include "peer/upload/uploader.hpp"

#include "shared/log.hpp"
#include "shared/net/socket.hpp"
#include "shared/ticket.hpp"

#include <fmt/format.h>

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gs::peer {

namespace {
constexpr std::size_t kMaxReadBytes = 256 * 1024;  // requests are small; bounds the input buffer
constexpr int kSendBufferBytes = 4 * 1024 * 1024;

// Our bitfield for `share`: the pieces we have (all, or a download's verified ones).
void encode_bitfield_of(const Share& share, std::string& out) {
    const std::uint32_t pieces = share.info.piece_count();
    if (pieces == 0) return;
    Bitfield bits(pieces);
    for (std::uint32_t i = 0; i < pieces; ++i) {
        if (share.has_piece(i)) bits.set(i);
    }
    wire::encode_bitfield(out, bits.to_bytes());
}
}  // namespace

UploadSession::UploadSession(Uploader& owner, std::uint64_t id, net::Fd fd, net::Endpoint peer)
    : owner_(owner),
      id_(id),
      fd_(std::move(fd)),
      peer_(peer.to_string()),
      peer_host_(std::move(peer.host)) {
    watch_ =
        owner_.loop().watch(fd_.get(), net::Interest::Read, [this](net::Ready r) { on_ready(r); });
    timer_ = owner_.loop().after(owner_.limits().handshake_timeout, [this] {
        timer_ = 0;
        close("no handshake in time");
    });
}

UploadSession::~UploadSession() {
    if (timer_ != 0) owner_.loop().cancel(timer_);
    if (ticket_timer_ != 0) owner_.loop().cancel(ticket_timer_);
    if (watch_ != 0) owner_.loop().unwatch(watch_);
}

void UploadSession::close(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    if (timer_ != 0) owner_.loop().cancel(timer_);
    timer_ = 0;
    if (ticket_timer_ != 0) owner_.loop().cancel(ticket_timer_);
    ticket_timer_ = 0;
    if (watch_ != 0) owner_.loop().unwatch(watch_);
    watch_ = 0;
    fd_.reset();
    log::info("upload to {} closed: {} ({} bytes served)", peer_, reason, served_bytes_);
    owner_.reap(id_);
}

void UploadSession::on_ready(net::Ready ready) {
    if (ready.writable) pump();
    if (!closed_ && (ready.readable || ready.hangup)) on_input();
}

bool UploadSession::read_input() {
    // Until the first byte says which wire this is, and then on a sealed channel, the socket's
    // bytes go to wire_in_. A waiting connection's input stays small: it is closed rather than
    // buffered.
    const bool plain = wire_ == Wire::Plain;
    net::Buffer& raw = plain ? in_ : wire_in_;
    const std::size_t cap = plain ? kMaxInputBeforeTicket : kMaxWireBeforeTicket;
    const std::size_t room = admitted_ ? kMaxReadBytes : cap + 1 - std::min(raw.size(), cap);
    long n = raw.read_from(fd_.get(), room);
    if (n == 0) {
        close("closed by the peer");
        return false;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        close(std::string("read: ") + std::strerror(errno));
        return false;
    }
    last_input_ = owner_.loop().now();
    if (wire_ == Wire::Unknown) {
        if (wire_in_.empty()) return true;
        if (wire_in_.data()[0] == seal::kPreambleStem[0]) {
            wire_ = Wire::Sealed;
            channel_.emplace(seal::Channel::responder(owner_.channel_key()));
            channel_->set_max_record(kMaxInputBeforeTicket);
        } else {
            wire_ = Wire::Plain;  // a BEP 3 handshake, or it is refused as not one
            in_.append(wire_in_.view());
            wire_in_.clear();
        }
    }
    if (!channel_) return true;
    if (auto s = channel_->receive(wire_in_, in_, out_); !s) {
        close(s.error().message);
        return false;
    }
    if (!admitted_ && wire_in_.size() > kMaxWireBeforeTicket) {
        close("too much data before a ticket");
        return false;
    }
    return true;
}

void UploadSession::on_input() {
    if (!read_input()) return;
    if (!handshaken_ && !on_handshake()) return;
    if (!handshaken_) return pump();  // the channel's handshake may have an answer to send
    std::size_t consumed_total = 0;
    const std::string_view view = in_.view();
    while (true) {
        std::size_t consumed = 0;
        auto m = wire::parse_message(view.substr(consumed_total), consumed);
        if (!m) return close(m.error().message);
        if (!*m) break;
        if (!handle(**m)) return;
        consumed_total += consumed;
    }
    in_.consume(consumed_total);
    // Unfinished input of a connection without its ticket yet stays small.
    if (!admitted_ && in_.size() > kMaxInputBeforeTicket) {
        return close("too much data before a ticket");
    }
    pump();
}

bool UploadSession::on_handshake() {
    auto hs = wire::parse_handshake(in_.view());
    if (!hs) {
        close(hs.error().message);
        return false;
    }
    if (!*hs) return true;  // wait for the rest
    const Share* share = owner_.shares().find((*hs)->info_hash);
    if (share == nullptr) {
        close("handshake for a file we do not share");
        return false;
    }
    // A members' share is never served in clear (unless this client runs for a plain benchmark):
    // the peer is told in one line, which holds nothing of the share, and dropped.
    if (wire_ == Wire::Plain && !share->open && !owner_.plain_peer_wire()) {
        const std::string_view notice = wire::kSealRequiredNotice;
        (void)::send(fd_.get(), notice.data(), notice.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        close(
            "plain BitTorrent handshake for a file only members may fetch (groupshare peers use "
            "the sealed channel)");
        return false;
    }
    in_.consume(wire::kHandshakeBytes);
    info_hash_ = (*hs)->info_hash;
    handshaken_ = true;
    if (!file_unchanged(*share)) return false;

    // Someone who knows the info hash learns that we share it, nothing more: which pieces we
    // have comes with admission. An open share admits everyone at once, its bitfield first as
    // BEP 3 wants.
    std::string out;
    wire::encode_handshake(out, wire::Handshake{info_hash_, owner_.peer_id(), true});
    if (share->open) encode_bitfield_of(*share, out);
    wire::ExtendedHandshake ours;
    ours.client = std::string(wire::kClientVersion);
    wire::encode_extended_handshake(out, ours);
    send(out);

    owner_.loop().cancel(timer_);
    timer_ = 0;
    if (share->open) return admit(*share);
    timer_ = owner_.loop().after(owner_.limits().ticket_timeout, [this] {
        timer_ = 0;
        close("no ticket in time");
    });
    return true;
}

// Members are served as soon as they show a ticket (there is no tit-for-tat inside a group).
bool UploadSession::admit(const Share& share) {
    if (!owner_.admit(*this)) {
        close("no free upload slot");
        return false;
    }
    admitted_ = true;
    if (channel_) channel_->set_max_record(seal::kMaxRecordBytes);
    if (timer_ != 0) owner_.loop().cancel(timer_);
    timer_ = 0;
    std::string out;
    if (!share.open) encode_bitfield_of(share, out);
    wire::encode_state(out, wire::MsgId::Unchoke);
    unchoked_ = true;
    send(out);
    arm_idle_check(owner_.limits().idle_timeout);
    return true;
}

void UploadSession::send(std::string_view bytes) {
    if (channel_) {
        channel_->seal(bytes, out_);
    } else if (send_left_ > 0) {
        after_block_ += bytes;  // the block's bytes come first
    } else {
        out_.append(bytes);
    }
}

// Fires when the connection may have been silent for the idle timeout; one that is still being
// sent blocks is not idle, and one that spoke since is checked again when its silence would end.
void UploadSession::arm_idle_check(net::Clock::duration after) {
    timer_ = owner_.loop().after(after, [this] {
        timer_ = 0;
        const auto idle_timeout = owner_.limits().idle_timeout;
        const auto silent = owner_.loop().now() - last_input_;
        const bool busy = !queue_.empty() || send_left_ > 0;
        if (silent >= idle_timeout && !busy) {
            return close(fmt::format("idle for {:g} s",
                                     std::chrono::duration<double>(idle_timeout).count()));
        }
        arm_idle_check(busy ? idle_timeout : idle_timeout - silent);
    });
}

bool UploadSession::handle(const wire::Message& m) {
    if (m.keep_alive) return true;
    switch (m.id) {
        case wire::MsgId::Request: {
            const Share* share = owner_.shares().find(info_hash_);
            if (share == nullptr) {
                close("the file is no longer shared");
                return false;
            }
            if (!may_serve(*share)) {
                close("request without a valid download ticket");
                return false;
            }
            if (!file_unchanged(*share)) return false;
            const auto& info = share->info;
            if (m.index >= info.piece_count() || !share->has_piece(m.index) || m.length == 0 ||
                m.length > wire::kMaxBlockBytes ||
                std::uint64_t{m.begin} + m.length > info.piece_size(m.index)) {
                close("request for a block we do not have");
                return false;
            }
            if (queue_.size() >= owner_.limits().max_queued_requests) {
                close("too many requests queued");
                return false;
            }
            queue_.push_back({m.index, m.begin, m.length});
            return true;
        }
        case wire::MsgId::Cancel:
            std::erase_if(queue_, [&](const Request& r) {
                return r.piece == m.index && r.begin == m.begin && r.length == m.length;
            });
            return true;
        case wire::MsgId::Extended:
            if (m.extended_id != wire::kExtendedHandshakeId) return true;  // none in use
            return on_extended_handshake(m.payload);
        default: return true;  // interested, have, bitfield: nothing to answer
    }
}

bool UploadSession::file_unchanged(const Share& share) {
    const auto now = owner_.loop().now();
    if (file_checked_ != net::Clock::time_point{} &&
        now - file_checked_ < std::chrono::seconds(1)) {
        return true;
    }
    file_checked_ = now;
    if (!share.changed_on_disk()) return true;
    owner_.report_changed(info_hash_);
    close("the shared file changed since it was shared");
    return false;
}

bool UploadSession::may_serve(const Share& share) const {
    if (share.open) return true;
    return owner_.loop().unix_now() < ticket_expires_ && share.in_group(ticket_group_) &&
           ticket_epoch_ >= owner_.epoch_of(ticket_group_);
}

// A downloader proves group membership with the tracker's ticket in its extended handshake
// (and sends a fresh one before the old one expires).
bool UploadSession::on_extended_handshake(std::string_view body) {
    auto hs = wire::parse_extended_handshake(body);
    if (!hs) {
        close(hs.error().message);
        return false;
    }
    auto it = hs->extra.find("ticket");
    // None (e.g. libtorrent on an open share): a waiting connection waits on, until its deadline.
    if (it == hs->extra.end() || !it->second.is_string()) return true;
    const Share* share = owner_.shares().find(info_hash_);
    if (share == nullptr) {
        close("the file is no longer shared");
        return false;
    }
    auto ticket = verify_ticket(it->second.as_string(), owner_.ticket_key(), info_hash_,
                                owner_.loop().unix_now());
    if (!ticket) {
        close(ticket.error().message);
        return false;
    }
    // Bound to the channel: only the client the tracker issued it to can show it.
    if (channel_ && ticket->peer_key != seal::as_bytes(channel_->remote_static())) {
        close(ticket->peer_key.empty()
                  ? "ticket refused: it names no peer key, so it is not bound to this channel"
                  : "ticket refused: issued to another peer key than the one this channel "
                    "proved (a copied ticket)");
        return false;
    }
    // The tracker signed it for one group: it opens the file only if we share it there.
    if (!share->in_group(ticket->group)) {
        close("ticket refused: for a group this file is not shared in");
        return false;
    }
    if (auto fresh = owner_.check_epoch(ticket->group, ticket->epoch); !fresh) {
        close(fresh.error().message);
        return false;
    }
    ticket_expires_ = ticket->expires;
    ticket_group_ = std::move(ticket->group);
    ticket_epoch_ = ticket->epoch;
    if (!share->open) arm_ticket_check();
    return admitted_ || admit(*share);
}

void UploadSession::arm_ticket_check() {
    if (ticket_timer_ != 0) owner_.loop().cancel(ticket_timer_);
    const auto left =
        std::chrono::seconds(std::max<std::int64_t>(0, ticket_expires_ - owner_.loop().unix_now()));
    ticket_timer_ = owner_.loop().after(left + owner_.limits().ticket_timeout, [this] {
        ticket_timer_ = 0;
        const Share* share = owner_.shares().find(info_hash_);
        if (share == nullptr) return close("the file is no longer shared");
        if (share->open) return;  // opened since: served without a ticket
        if (!may_serve(*share)) return close("ticket expired and no newer one shown");
        arm_ticket_check();  // still good (the expiry is in whole seconds): look again later
    });
}

void UploadSession::pump() {
    const Share* share = nullptr;
    while (!closed_) {
        if (!out_.empty()) {
            // More follows (a block): let the kernel merge the header with it.
            const int flags = MSG_NOSIGNAL | (send_left_ > 0 ? MSG_MORE : 0);
            ssize_t n = ::send(fd_.get(), out_.data(), out_.size(), flags);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return close(std::string("write: ") + std::strerror(errno));
            }
            out_.consume(static_cast<std::size_t>(n));
            if (!out_.empty()) break;
            continue;
        }
        if (send_left_ > 0) {
            if (share == nullptr) share = owner_.shares().find(info_hash_);
            if (share == nullptr) return close("the file is no longer shared");
            ssize_t n = ::sendfile(fd_.get(), share->fd.get(), &send_offset_, send_left_);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return close(std::string("sendfile: ") + std::strerror(errno));
            }
            if (n == 0) {
                owner_.report_changed(info_hash_);
                return close("the shared file is shorter than it was");
            }
            send_left_ -= static_cast<std::size_t>(n);
            served_bytes_ += static_cast<std::uint64_t>(n);
            continue;
        }
        if (!after_block_.empty()) {
            out_.append(after_block_);
            after_block_.clear();
            continue;
        }
        if (queue_.empty()) break;
        if (share == nullptr) share = owner_.shares().find(info_hash_);
        if (share == nullptr) return close("the file is no longer shared");
        // Queued while the ticket was good: it may have expired or been outdated since.
        if (!may_serve(*share)) return close("request without a valid download ticket");
        if (channel_) {
            if (!seal_blocks(*share)) return;
            continue;
        }
        const Request r = queue_.front();
        queue_.pop_front();
        std::string header;
        wire::encode_piece_header(header, r.piece, r.begin, r.length);
        out_.append(header);
        send_offset_ = static_cast<off_t>(r.piece) * share->info.piece_length + r.begin;
        send_left_ = r.length;
    }
    update_interest();
}

bool UploadSession::seal_blocks(const Share& share) {
    std::size_t len = 0;
    std::size_t count = 0;
    for (const Request& r : queue_) {
        const std::size_t next = wire::kPieceMessageHeaderBytes + r.length;
        if (count > 0 && len + next > kSealedRecordTarget) break;
        len += next;
        ++count;
    }
    char* p = channel_->begin_record(out_, len);
    for (std::size_t i = 0; i < count; ++i) {
        const Request r = queue_.front();
        queue_.pop_front();
        std::string header;
        wire::encode_piece_header(header, r.piece, r.begin, r.length);
        std::memcpy(p, header.data(), header.size());
        p += header.size();
        auto offset = static_cast<off_t>(r.piece) * share.info.piece_length + r.begin;
        std::size_t left = r.length;
        while (left > 0) {
            const ssize_t n = ::pread(share.fd.get(), p, left, offset);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                close(std::string("read: ") + std::strerror(errno));
                return false;
            }
            if (n == 0) {
                owner_.report_changed(info_hash_);
                close("the shared file is shorter than it was");
                return false;
            }
            p += n;
            left -= static_cast<std::size_t>(n);
            offset += n;
        }
        served_bytes_ += r.length;
    }
    channel_->end_record(out_, len);
    return true;
}

void UploadSession::update_interest() {
    if (closed_) return;
    const bool more = !out_.empty() || send_left_ > 0 || !queue_.empty() || !after_block_.empty();
    owner_.loop().set_interest(watch_, more ? net::Interest::ReadWrite : net::Interest::Read);
}

void UploadSession::send_have(const Sha1Digest& info_hash, std::uint32_t piece) {
    if (closed_ || !admitted_ || info_hash != info_hash_) return;
    // Whatever is in out_ goes before the block being sent; a have must wait for that block.
    std::string have;
    wire::encode_have(have, piece);
    send(have);
    if (send_left_ == 0) pump();
}

Uploader::Uploader(net::EventLoop& loop, net::Fd listener, Shares& shares,
                   wire::PeerIdBytes peer_id, UploadLimits limits)
    : loop_(loop),
      listener_(std::move(listener)),
      shares_(shares),
      peer_id_(peer_id),
      limits_(limits) {
    watch_ =
        loop_.watch(listener_.get(), net::Interest::Read, [this](net::Ready) { on_acceptable(); });
}

Uploader::~Uploader() {
    sessions_.clear();
    if (watch_ != 0) loop_.unwatch(watch_);
}

void Uploader::set_serving(bool serving) {
    serving_ = serving;
    if (serving) return;
    std::vector<UploadSession*> live;
    for (auto& [id, s] : sessions_) live.push_back(s.get());
    for (UploadSession* s : live) s->close("we logged out");
}

void Uploader::on_acceptable() {
    for (int i = 0; i < 64; ++i) {
        net::Endpoint peer;
        net::Fd fd = net::accept_tcp(listener_.get(), &peer);
        if (!fd.valid()) return;
        if (!serving_) continue;  // logged out: nothing to serve
        // Every new connection waits for admission in the small pool.
        if (auto it = per_address_.find(peer.host);
            it != per_address_.end() && it->second.waiting >= limits_.max_waiting_per_address) {
            log::warn("refusing peer {}: already {} connections from {} waiting for a ticket",
                      peer.to_string(), it->second.waiting, peer.host);
            continue;
        }
        if (!waiting_.empty() && waiting_.size() >= limits_.max_waiting_sessions) {
            make_room_for(peer.host);
        }
        if (limits_.max_waiting_sessions == 0) continue;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &kSendBufferBytes, sizeof kSendBufferBytes);
        const std::uint64_t id = next_id_++;
        ++per_address_[peer.host].waiting;
        waiting_.insert(id);
        sessions_.emplace(id, std::make_unique<UploadSession>(*this, id, std::move(fd), peer));
    }
}

void Uploader::announce_have(const Sha1Digest& info_hash, std::uint32_t piece) {
    for (auto& [id, s] : sessions_) s->send_have(info_hash, piece);
}

void Uploader::drop_share(const Sha1Digest& info_hash) {
    std::vector<UploadSession*> doomed;
    for (auto& [id, s] : sessions_) {
        if (s->info_hash() == info_hash) doomed.push_back(s.get());
    }
    for (UploadSession* s : doomed) s->close("we stopped sharing the file");
}

void Uploader::report_changed(const Sha1Digest& info_hash) {
    loop_.defer(life_.guard([this, info_hash] {
        if (on_share_changed_) on_share_changed_(info_hash);
    }));
}

// The pool of waiting connections is full: the oldest one of the address holding the most of
// them goes (the newcomer's address counted with its newcomer). A member's one connection is
// thus never the one to go while a flooding address holds more than one.
void Uploader::make_room_for(const std::string& newcomer) {
    std::size_t most = 0;
    for (const auto& [host, slots] : per_address_) {
        most = std::max(most, slots.waiting + (host == newcomer ? 1 : 0));
    }
    for (std::uint64_t id : waiting_) {  // oldest first
        UploadSession& s = *sessions_.at(id);
        const std::size_t from = per_address_.at(s.peer_host()).waiting;
        if (from + (s.peer_host() == newcomer ? 1 : 0) < most) continue;
        s.close(
            fmt::format("made room for a newer connection ({} waiting for a ticket, {} of "
                        "them from {})",
                        waiting_.size(), from, s.peer_host()));
        return;
    }
}

bool Uploader::admit(UploadSession& session) {
    AddressSlots& slots = per_address_[session.peer_host()];
    if (admitted_ >= limits_.max_sessions) {
        log::warn("refusing peer {}: already serving {} connections", session.peer(), admitted_);
        return false;
    }
    if (slots.admitted >= limits_.max_sessions_per_address) {
        log::warn("refusing peer {}: already serving {} connections from {}", session.peer(),
                  slots.admitted, session.peer_host());
        return false;
    }
    if (waiting_.erase(session.id()) > 0) --slots.waiting;
    ++slots.admitted;
    ++admitted_;
    return true;
}

std::int64_t Uploader::epoch_of(const std::string& group) const {
    auto it = epochs_.find(group);
    return it == epochs_.end() ? 0 : it->second;
}

Status Uploader::check_epoch(const std::string& group, std::int64_t epoch) {
    if (auto it = epochs_.find(group); it != epochs_.end()) {
        if (epoch < it->second) {
            return make_error(Errc::Denied, "ticket refused: issued before a membership change");
        }
        it->second = epoch;
        return {};
    }
    if (epochs_.size() >= limits_.max_epoch_groups) {
        // Forget groups none of our shares is in any more: their tickets open nothing here.
        std::erase_if(epochs_, [&](const auto& kv) {
            return std::none_of(shares_.all().begin(), shares_.all().end(),
                                [&](const auto& share) { return share.second.in_group(kv.first); });
        });
    }
    if (epochs_.size() < limits_.max_epoch_groups) epochs_.emplace(group, epoch);
    return {};
}

void Uploader::reap(std::uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    // The slot is free at once (a newer connection may be taking it right now).
    auto slots = per_address_.find(it->second->peer_host());
    if (slots != per_address_.end()) {
        if (waiting_.erase(id) > 0) {
            --slots->second.waiting;
        } else if (it->second->is_admitted()) {
            --slots->second.admitted;
            --admitted_;
        }
        if (slots->second.waiting == 0 && slots->second.admitted == 0) per_address_.erase(slots);
    }
    loop_.defer(life_.guard([this, id] { sessions_.erase(id); }));
}

}  // namespace gs::peer
