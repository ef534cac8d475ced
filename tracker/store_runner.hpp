// StoreRunner: where the tracker's Store calls run, so that the reactor never waits on a
// database (docs/ARCHITECTURE.md, Threads). Two modes:
// - inline, over one Store: the work runs on the calling thread at once and `done` runs before
//   run() returns. SQLite keeps this: a call on a local file takes microseconds, less than a
//   hop to a thread and back would.
// - a pool of N threads, each with its own Store made by a factory (one database connection per
//   thread): the work runs on whichever thread is free and `done` comes back on the reactor
//   thread through EventLoop::post, later. For a database across a network (PgStore).
// It keeps no order between jobs and no limit of its own: the Dispatcher runs one job of a
// connection at a time and bounds what waits (StoreLimits). A `done` whose target may have gone
// must check it itself (Liveness::guard, or a lookup by connection id). The work gets nothing
// of the reactor's but what it captures (copies) and the Store it is given. run() and pending()
// are for the reactor thread only.
#pragma once

#include "shared/liveness.hpp"
#include "shared/net/event_loop.hpp"
#include "shared/worker_pool.hpp"
#include "tracker/store.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace gs::tracker {

class StoreRunner {
public:
    // Makes one Store (one database connection); throws, or returns null, if it cannot.
    using StoreFactory = std::function<std::unique_ptr<Store>()>;

    // Inline over `store`, which must outlive the runner.
    explicit StoreRunner(Store& store);
    // A pool of `threads` workers (at least 1): makes their stores with `make_store` now, on
    // this thread, so a database that cannot be reached stops start-up with its message.
    // `loop` must outlive the runner.
    StoreRunner(net::EventLoop& loop, unsigned threads, const StoreFactory& make_store);
    // A pool waits for the running jobs (queued ones are dropped, their `done` never runs), then
    // calls Store::release on one of its stores: a tracker that stops cleanly gives up its lease
    // and presence at once (PgStore) instead of when the lease runs out. Inline: nothing.
    ~StoreRunner();
    StoreRunner(const StoreRunner&) = delete;
    StoreRunner& operator=(const StoreRunner&) = delete;

    // Runs `work(Store&)` (on a worker in pool mode) and then `done(result)` on the reactor
    // thread. The work must not touch reactor state: it gets copies.
    template <class Work, class Done>
    void run(Work work, Done done) {
        using R = decltype(work(std::declval<Store&>()));
        ++pending_;
        if (!pool_) {
            R result = work(*inline_);
            --pending_;
            done(std::move(result));
            return;
        }
        pool_->submit_indexed([this, work = std::move(work)](
                                  unsigned index) mutable { return work(*stores_[index]); },
                              alive_.guard([this, done = std::move(done)](R result) mutable {
                                  --pending_;
                                  done(std::move(result));
                              }));
    }

    bool is_inline() const { return pool_ == nullptr; }
    // Worker threads (0 inline).
    unsigned threads() const { return pool_ ? pool_->threads() : 0; }
    // Jobs handed over whose `done` has not run yet.
    std::size_t pending() const { return pending_; }

private:
    Store* inline_ = nullptr;
    std::vector<std::unique_ptr<Store>> stores_;  // one per worker, by worker index
    std::unique_ptr<WorkerPool> pool_;            // after stores_: its threads stop first
    std::size_t pending_ = 0;
    Liveness alive_;  // last: answers posted after the runner has gone are dropped
};

// Calls Store::heartbeat through the runner every `period` of the loop's clock (PgStore renews
// this tracker's lease with it), one beat at a time; a failure is logged. Stops when destroyed.
class StoreHeartbeat {
public:
    static constexpr net::Clock::duration kPeriod = std::chrono::seconds(5);

    StoreHeartbeat(net::EventLoop& loop, StoreRunner& runner,
                   net::Clock::duration period = kPeriod);
    ~StoreHeartbeat();
    StoreHeartbeat(const StoreHeartbeat&) = delete;
    StoreHeartbeat& operator=(const StoreHeartbeat&) = delete;

    // Beats answered so far (tests).
    std::size_t beats() const { return beats_; }

private:
    void arm();
    void beat();

    net::EventLoop& loop_;
    StoreRunner& runner_;
    net::Clock::duration period_;
    net::TimerId timer_ = 0;
    bool beating_ = false;  // a beat is with the runner: the next waits for it
    std::size_t beats_ = 0;
    Liveness alive_;
};

}  // namespace gs::tracker
