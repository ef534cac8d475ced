#include "peer/download/downloader.hpp"

#include "shared/log.hpp"
#include "shared/sha1.hpp"

#include <fmt/format.h>

#include <random>

namespace gs::peer {

Downloader::Downloader(net::EventLoop& loop, std::string group, proto::InfoDict info,
                       std::string destination, PieceStore store, std::string peer_id,
                       Callbacks callbacks)
    : loop_(loop),
      group_(std::move(group)),
      info_(std::move(info)),
      destination_(std::move(destination)),
      store_(std::move(store)),
      picker_(info_.piece_count(), info_.piece_length, info_.length, std::random_device{}()),
      peer_id_(std::move(peer_id)),
      callbacks_(std::move(callbacks)),
      started_(net::Clock::now()) {
    for (std::uint32_t i = 0; i < info_.piece_count(); ++i) {
        if (store_.verified().has(i)) picker_.set_have(PieceIndex{i});
    }
    if (picker_.is_complete()) loop_.defer([this] { finish(); });
}

Downloader::~Downloader() = default;  // sessions unwatch and close their sockets

void Downloader::add_peers(const std::vector<net::Endpoint>& peers) {
    if (state_ != State::Downloading) return;
    for (const auto& ep : peers) {
        if (sessions_.size() >= kMaxPeers) break;
        std::string addr = ep.to_string();
        if (banned_.count(addr) != 0) continue;
        bool connected = false;
        for (const auto& [k, s] : sessions_) connected |= s->address().to_string() == addr;
        if (connected) continue;
        PeerKey key = next_key_++;
        auto session = std::make_unique<PeerSession>(*this, key, ep);
        PeerSession* raw = session.get();
        sessions_.emplace(key, std::move(session));
        raw->start();
    }
}

void Downloader::pause() {
    if (state_ != State::Downloading) return;
    state_ = State::Paused;
    for (auto& [k, s] : sessions_) s->close("stop", "paused");
    (void)store_.save_state();
}

void Downloader::resume() {
    if (state_ == State::Paused) state_ = State::Downloading;
}

void Downloader::on_peer_bitfield(PeerSession& s) {
    picker_.on_bitfield(s.has());
    s.request_more();
}

void Downloader::on_peer_have(PeerSession& s, std::uint32_t piece) {
    picker_.on_have(PieceIndex{piece});
    s.request_more();
}

void Downloader::on_block(PeerSession& s, std::uint32_t piece, std::uint32_t begin,
                          std::string_view data) {
    auto outcome = picker_.on_block(s.key(), PieceIndex{piece}, begin);
    if (!outcome.accepted) return;
    downloaded_bytes_ += data.size();
    store_.write_block(piece, begin, data);
    for (PeerKey other : outcome.cancel) {
        auto it = sessions_.find(other);
        if (it != sessions_.end()) {
            it->second->cancel(BlockRequest{PieceIndex{piece}, begin, static_cast<std::uint32_t>(data.size())});
        }
    }
    if (!outcome.piece_complete) return;
    auto passed = store_.verify_and_commit(piece);
    if (!passed) return fail(passed.error());
    if (*passed) {
        picker_.on_piece_passed(PieceIndex{piece});
        if (callbacks_.on_piece_verified) callbacks_.on_piece_verified(piece);
        if (picker_.is_complete()) loop_.defer([this] { finish(); });
        return;
    }
    auto liars = picker_.on_piece_failed(PieceIndex{piece});
    log::warn("piece {} of {} failed its SHA1 check; fetching it again", piece, info_.name);
    for (PeerKey liar : liars) {
        auto it = sessions_.find(liar);
        if (it == sessions_.end()) continue;
        if (++strikes_[liar] >= kMaxBadPieces) {
            banned_.insert(it->second->address().to_string());
            it->second->close("bad piece", "kept sending data that fails SHA1");
        }
    }
}

void Downloader::on_session_closed(PeerSession& s) {
    picker_.on_peer_gone(s.key(), s.has());
    PeerKey key = s.key();
    // The session is inside its own callback: destroy it after this batch.
    loop_.defer([this, key] {
        sessions_.erase(key);
        strikes_.erase(key);
    });
    for (auto& [k, other] : sessions_) {
        if (k != key) other->request_more();
    }
}

void Downloader::finish() {
    if (state_ == State::Complete || state_ == State::Failed) return;
    auto done = store_.finish();
    if (!done) return fail(done.error());
    state_ = State::Complete;
    for (auto& [k, s] : sessions_) s->close("stop", "complete");
    if (callbacks_.on_finished) callbacks_.on_finished({});
}

void Downloader::fail(Error error) {
    if (state_ == State::Failed) return;
    state_ = State::Failed;
    last_error_ = error.message;
    (void)store_.save_state();
    for (auto& [k, s] : sessions_) s->close("stop", "failed");
    if (callbacks_.on_finished) callbacks_.on_finished(std::move(error));
}

std::string Downloader::progress_text() const {
    double percent = info_.piece_count() == 0 ? 100.0
                                              : 100.0 * static_cast<double>(picker_.have_count()) /
                                                    info_.piece_count();
    double secs = std::chrono::duration<double>(net::Clock::now() - started_).count();
    double mbps = secs > 0 ? static_cast<double>(downloaded_bytes_) / secs / 1e6 : 0;
    switch (state_) {
        case State::Downloading:
            return fmt::format("{:.1f}%  {:.1f} MB/s  {} peer(s)", percent, mbps, sessions_.size());
        case State::Paused: return fmt::format("{:.1f}%  paused (log in to resume)", percent);
        case State::Complete: return fmt::format("-> {}", destination_);
        case State::Failed: return fmt::format("{:.1f}%  failed: {}", percent, last_error_);
    }
    return {};
}

}  // namespace gs::peer
