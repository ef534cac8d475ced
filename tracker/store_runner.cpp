#include "tracker/store_runner.hpp"

#include "shared/log.hpp"

#include <stdexcept>

namespace gs::tracker {

StoreRunner::StoreRunner(Store& store) : inline_(&store) {}

StoreRunner::StoreRunner(net::EventLoop& loop, unsigned threads, const StoreFactory& make_store) {
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) {
        auto store = make_store();
        if (!store) throw std::runtime_error("the tracker could not open its database");
        stores_.push_back(std::move(store));
    }
    pool_ = std::make_unique<WorkerPool>(loop, threads);
}

StoreRunner::~StoreRunner() {
    if (!pool_) return;  // inline: the store is its owner's
    pool_.reset();       // no job runs after this: release() is the last call
    if (auto released = stores_.front()->release(); !released) {
        log::warn("could not release this tracker's presence: {}", released.error().message);
    }
}

StoreHeartbeat::StoreHeartbeat(net::EventLoop& loop, StoreRunner& runner,
                               net::Clock::duration period)
    : loop_(loop), runner_(runner), period_(period) {
    arm();
}

StoreHeartbeat::~StoreHeartbeat() {
    loop_.cancel(timer_);
}

void StoreHeartbeat::arm() {
    timer_ = loop_.after(period_, alive_.guard([this] {
        timer_ = 0;
        beat();
        arm();
    }));
}

void StoreHeartbeat::beat() {
    if (beating_) return;  // the database is slow: one beat waiting is enough
    beating_ = true;
    runner_.run([now = loop_.wall_now()](Store& store) { return store.heartbeat(now); },
                alive_.guard([this](Status beat) {
                    beating_ = false;
                    ++beats_;
                    if (!beat) log::warn("store heartbeat failed: {}", beat.error().message);
                }));
}

}  // namespace gs::tracker
