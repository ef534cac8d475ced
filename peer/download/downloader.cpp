#include "peer/download/downloader.hpp"

#include "shared/log.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/sha1.hpp"
#include "shared/ticket.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace gs::peer {

Downloader::Downloader(net::EventLoop& loop, WorkerPool& workers, std::string group,
                       PieceStore store, wire::PeerIdBytes our_id, Callbacks callbacks,
                       SessionDeadlines deadlines, RankingLimits ranking)
    : loop_(loop),
      workers_(workers),
      group_(std::move(group)),
      store_(std::move(store)),
      picker_(store_.info().piece_count(), store_.info().piece_length, store_.info().length,
              std::random_device{}()),
      callbacks_(std::move(callbacks)),
      deadlines_(deadlines),
      started_(loop.now()),
      ranking_(ranking),
      ranking_limits_(ranking) {
    handshake_.info_hash = store_.info().info_hash;
    handshake_.peer_id = our_id;
    const Bitfield resumed = store_.take_resumed();
    for (std::uint32_t i = 0; i < resumed.size(); ++i) {
        if (resumed.has(i)) picker_.set_have(PieceIndex{i});
    }
    if (picker_.is_complete()) loop_.defer(life_.guard([this] { finish(); }));
    arm_rank_tick();
}

Downloader::~Downloader() {
    if (rank_timer_ != 0) loop_.cancel(rank_timer_);
    // Sessions must not call back into a half-destroyed owner.
    state_ = State::Failed;
    sessions_.clear();
}

void Downloader::add_peers(const std::vector<net::Endpoint>& peers) {
    std::vector<PeerAddress> plain;
    plain.reserve(peers.size());
    for (const auto& ep : peers) plain.push_back({ep, std::nullopt});
    add_peers(plain);
}

void Downloader::add_peers(const std::vector<PeerAddress>& peers) {
    if (state_ != State::Downloading) return;
    const auto now = loop_.now();
    for (const auto& [ep, key] : peers) {
        if (sessions_.size() >= kMaxPeers) break;
        const std::string addr = ep.to_string();
        if (banned_.count(addr) != 0) continue;
        if (auto it = retry_after_.find(addr); it != retry_after_.end()) {
            if (now < it->second) continue;
            retry_after_.erase(it);
        }
        bool connected = std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& kv) {
            return kv.second->address().to_string() == addr;
        });
        if (connected) continue;
        PeerId id{next_peer_++};
        auto [it, inserted] =
            sessions_.emplace(id, std::make_unique<PeerSession>(*this, id, ep, key));
        it->second->start();
    }
}

namespace {
// The membership epoch a ticket says it was issued in (0 when unreadable). Read without
// checking the signature: it only decides when to send the ticket on, the seeder checks it.
std::int64_t epoch_of_ticket(std::string_view ticket) {
    auto outer = proto::decode(ticket);
    if (!outer || !outer->is_dict()) return 0;
    auto body = outer->get_string("b");
    if (!body) return 0;
    auto fields = proto::decode(*body);
    if (!fields || !fields->is_dict()) return 0;
    return fields->get_int("m").value_or(0);
}
}  // namespace

void Downloader::set_ticket(std::string ticket, std::int64_t expires) {
    const std::int64_t now = loop_.unix_now();
    if (!ticket.empty() && ticket != ticket_) {
        ticket_epoch_ = epoch_of_ticket(ticket);
        ticket_ = std::move(ticket);
        ticket_expires_ = expires;
        ticket_lifetime_ = expires - now;
    }
    if (ticket_.empty() || ticket_ == sent_ticket_) return;
    // The held one is still good for more than half its life, and of the same epoch: no need.
    if (sent_expires_ - now > sent_lifetime_ / 2 && ticket_epoch_ <= sent_epoch_) return;
    sent_ticket_ = ticket_;
    sent_expires_ = ticket_expires_;
    sent_lifetime_ = ticket_lifetime_;
    sent_epoch_ = ticket_epoch_;
    for (auto& [id, s] : sessions_) s->send_ticket();
}

void Downloader::stop_sessions(std::string_view why) {
    // close() defers each erase; copy the pointers first since closing touches the map's users.
    std::vector<PeerSession*> live;
    for (auto& [id, s] : sessions_) live.push_back(s.get());
    for (PeerSession* s : live) s->close(why, /*quiet=*/true);
}

void Downloader::pause() {
    if (state_ != State::Downloading) return;
    state_ = State::Paused;
    stop_sessions("paused");
    save_now();
}

void Downloader::save_now() {
    if (store_.is_finished()) return;
    // Written here and now, even with a background save in flight (each write has its own
    // temporary file): the caller may be about to destroy us, and the worker pool with its
    // queue. Should the one in flight, with an older bitfield, land last, it claims fewer
    // pieces, which is safe; save_again_ writes the newer one once more after it.
    if (saving_) save_again_ = true;
    if (auto saved = store_.save_state(picker_.have()); !saved) {
        log::warn("{}", saved.error().message);
    }
}

void Downloader::save_in_background() {
    if (saving_ || store_.is_finished()) return;
    saving_ = true;
    auto snapshot = std::make_shared<PieceStore::StateSnapshot>(store_.snapshot(picker_.have()));
    workers_.submit([snapshot] { return PieceStore::write_state(*snapshot); },
                    life_.guard([this](Status saved) {
                        saving_ = false;
                        if (save_again_) {
                            save_again_ = false;
                            save_now();
                        }
                        if (finish_after_save_) {
                            finish_after_save_ = false;
                            finish();
                        } else if (!saved && state_ == State::Downloading) {
                            pause_with_error(saved.error());
                        }
                    }));
}

void Downloader::resume() {
    if (state_ != State::Paused) return;
    state_ = State::Downloading;
    last_error_.clear();
    retry_after_.clear();
}

void Downloader::pause_with_error(Error error) {
    last_error_ = error.message;
    pause();
    if (callbacks_.on_error) callbacks_.on_error(error);
}

void Downloader::top_up_all() {
    // The fastest peers pick first: a piece to fetch again goes to one of them.
    std::vector<PeerSession*> order;
    for (PeerId id : ranking_.fastest_first()) {
        if (auto it = sessions_.find(id); it != sessions_.end()) order.push_back(it->second.get());
    }
    for (auto& [id, s] : sessions_) {
        if (std::find(order.begin(), order.end(), s.get()) == order.end()) order.push_back(s.get());
    }
    for (PeerSession* s : order) s->request_more();
}

void Downloader::arm_rank_tick() {
    last_rank_tick_ = loop_.now();
    rank_timer_ = loop_.after(ranking_limits_.tick, [this] {
        rank_timer_ = 0;
        on_rank_tick();
    });
}

bool Downloader::others_can_serve(const PeerSession& slow) const {
    for (const auto& [id, s] : sessions_) {
        if (id == slow.id() || s->state() != PeerSession::State::Active || s->choking_us() ||
            !ranking_.is_fast(id)) {
            continue;
        }
        const PeerId peer = id;  // clang 14 cannot capture a structured binding (C++20 allows it)
        const bool has_all =
            std::all_of(slow.requested().begin(), slow.requested().end(),
                        [&](const BlockRequest& r) { return picker_.peer_has(peer, r.piece); });
        if (has_all) return true;
    }
    return false;
}

void Downloader::on_rank_tick() {
    if (state_ == State::Complete || state_ == State::Failed) return;
    const auto now = loop_.now();
    const double seconds = std::chrono::duration<double>(now - last_rank_tick_).count();
    arm_rank_tick();
    if (state_ != State::Downloading) return;
    for (auto& [id, s] : sessions_) {
        if (s->state() != PeerSession::State::Active) continue;
        const std::uint64_t bytes = s->take_delivered();
        ranking_.sample(id, bytes, seconds, s->in_flight() > 0 || bytes > 0);
    }
    for (const auto& outlier : ranking_.judge(now)) {
        auto it = sessions_.find(outlier.peer);
        if (it == sessions_.end() || it->second->state() != PeerSession::State::Active) continue;
        PeerSession& slow = *it->second;
        if (!others_can_serve(slow)) continue;
        const std::string address = slow.address().to_string();
        slow.fail(fmt::format(
            "too slow: {:.1f} KB/s for {:g} s while the other peers deliver {:.1f} KB/s, and they "
            "have its pieces",
            outlier.rate / 1e3, std::chrono::duration<double>(ranking_limits_.slow_for).count(),
            outlier.median / 1e3));
        retry_after_[address] = now + kSlowRetryDelay;
    }
}

void Downloader::on_peer_bitfield(PeerSession& s, const Bitfield& has) {
    picker_.on_bitfield(s.id(), has);
}

void Downloader::on_peer_have(PeerSession& s, PieceIndex piece) {
    picker_.on_have(s.id(), piece);
}

void Downloader::on_block(PeerSession& s, PieceIndex piece, std::uint32_t begin,
                          std::string_view data) {
    if (state_ != State::Downloading) return;
    auto outcome = picker_.on_block(s.id(), piece, begin);
    if (!outcome.accepted) return;
    const BlockRequest block{piece, begin, static_cast<std::uint32_t>(data.size())};
    for (PeerId other : outcome.cancels) {
        if (auto it = sessions_.find(other); it != sessions_.end()) it->second->cancel(block);
    }
    if (auto written = store_.write_block(piece, begin, data); !written) {
        // The picker accepted it, so it fits our request; the store refusing it is our bug.
        log::error("block {}+{} of {}: {}", piece.value, begin, info().name,
                   written.error().message);
    }
    if (outcome.piece_complete) verify_piece(piece);
}

// The check and the write of a complete piece run on a worker (the second core), up to
// kMaxVerifying at once; past that, here. The picker holds the piece as complete meanwhile, so
// nobody asks for its blocks; it counts as verified only once the verdict is in.
void Downloader::verify_piece(PieceIndex piece) {
    if (verifying_ >= kMaxVerifying) return on_verdict(piece, store_.verify_piece(piece));
    ++verifying_;
    auto job = std::make_shared<PieceStore::CompletePiece>(store_.take_piece(piece));
    workers_.submit([job] { return PieceStore::check_and_write(*job); },
                    life_.guard([this, job, piece](Result<PieceStore::Verdict> verdict) {
                        --verifying_;
                        store_.recycle(std::move(*job),
                                       verdict && *verdict == PieceStore::Verdict::Passed);
                        on_verdict(piece, std::move(verdict));
                    }));
}

void Downloader::on_verdict(PieceIndex piece, Result<PieceStore::Verdict> verdict) {
    if (!verdict) {
        picker_.on_piece_failed(piece, {});  // not on disk: it has to come again after a resume
        return pause_with_error(verdict.error());
    }
    if (*verdict == PieceStore::Verdict::Failed) return refetch_piece(piece);
    picker_.on_piece_passed(piece);
    verified_bytes_ += info().piece_size(piece.value);
    for (auto& [id, s] : sessions_) s->send_have(piece);
    if (callbacks_.on_piece_verified) callbacks_.on_piece_verified(piece);
    if (store_.save_due()) save_in_background();
    if (picker_.is_complete()) loop_.defer(life_.guard([this] { finish(); }));
}

void Downloader::refetch_piece(PieceIndex piece) {
    auto contributors = picker_.contributors(piece);
    picker_.on_piece_failed(piece, contributors);
    log::warn("piece {} of {} failed its SHA1 check ({} peer(s) sent it); fetching it again",
              piece.value, info().name, contributors.size());
    for (PeerId peer : contributors) {
        if (picker_.strikes(peer) < kMaxStrikes) continue;
        auto it = sessions_.find(peer);
        if (it == sessions_.end()) continue;
        banned_.insert(it->second->address().to_string());
        it->second->close("kept sending pieces that fail their SHA1 check");
    }
    top_up_all();
}

std::function<bool(PieceIndex)> Downloader::verified_pieces() const {
    // Asked through the guard, so that an answer after this download is gone is "no".
    return life_.guard([this](PieceIndex piece) { return has_piece(piece); });
}

void Downloader::on_session_closed(PeerSession& s) {
    picker_.on_peer_gone(s.id());
    ranking_.forget(s.id());
    if (s.failed()) retry_after_[s.address().to_string()] = loop_.now() + kRetryDelay;
    const PeerId id = s.id();
    // The session is inside its own callback: destroy it once this event batch is over.
    loop_.defer(life_.guard([this, id] { sessions_.erase(id); }));
    if (state_ != State::Downloading) return;
    top_up_all();  // the closed one asks for nothing any more
}

void Downloader::finish() {
    if (state_ == State::Complete || state_ == State::Failed || !picker_.is_complete()) return;
    if (saving_) {
        finish_after_save_ = true;  // its rename must not bring the state file back afterwards
        return;
    }
    stop_sessions("complete");
    if (auto done = store_.finish(); !done) {
        state_ = State::Failed;
        last_error_ = done.error().message;
        if (callbacks_.on_error) callbacks_.on_error(done.error());
        return;
    }
    state_ = State::Complete;
    finished_at_ = loop_.now();
    if (callbacks_.on_complete) callbacks_.on_complete();
}

double Downloader::rate_bytes_per_second() const {
    double rate = 0;
    for (const auto& [id, s] : sessions_) rate += s->rate_bytes_per_second();
    return rate;
}

double Downloader::percent_done() const {
    const auto& info = store_.info();
    if (info.length == 0) return 100.0;
    std::int64_t have = 0;
    for (std::uint32_t i = 0; i < info.piece_count(); ++i) {
        if (picker_.has_piece(PieceIndex{i})) have += info.piece_size(i);
    }
    return 100.0 * static_cast<double>(have) / static_cast<double>(info.length);
}

double Downloader::seconds_elapsed() const {
    auto end = state_ == State::Complete ? finished_at_ : loop_.now();
    return std::chrono::duration<double>(end - started_).count();
}

std::string Downloader::progress_text() const {
    switch (state_) {
        case State::Downloading: {
            std::string text = fmt::format("{:.1f}%  {:.1f} MB/s  {} peer(s)", percent_done(),
                                           rate_bytes_per_second() / 1e6, sessions_.size());
            if (auto spoiled = picker_.spoiled_pieces(); spoiled > 0) {
                text += fmt::format(
                    "  ({} piece(s) came corrupt from every peer that has them; waiting for a "
                    "peer with a good copy)",
                    spoiled);
            }
            return text;
        }
        case State::Paused:
            return last_error_.empty()
                       ? fmt::format("{:.1f}%  paused (log in to resume)", percent_done())
                       : fmt::format("{:.1f}%  paused: {}", percent_done(), last_error_);
        case State::Complete: {
            double secs = seconds_elapsed();
            return fmt::format("-> {}  ({:.1f} s, {:.1f} MB/s)", store_.destination(), secs,
                               secs > 0 ? static_cast<double>(verified_bytes_) / secs / 1e6 : 0.0);
        }
        case State::Failed: return fmt::format("failed: {}", last_error_);
    }
    return {};
}

}  // namespace gs::peer
