// WorkerPool: threads for slow work (argon2id, whole-file SHA1) so the reactor never waits.
// submit() is called on the reactor thread; the work runs on a worker; its result comes back to
// the reactor through EventLoop::post(). The `done` callback must itself check that whatever it
// answers (a connection, a command) still exists — it is looked up by id, never captured raw.
// submit_indexed() tells the work which worker runs it (0 .. threads-1), for work that uses
// something each worker owns (the tracker's StoreRunner: one database connection per worker).
#pragma once

#include "shared/net/event_loop.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace gs {

class WorkerPool {
public:
    WorkerPool(net::EventLoop& loop, unsigned threads);
    ~WorkerPool();  // stops the workers; queued work that has not started is dropped
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    template <class Work, class Done>
    void submit(Work work, Done done) {
        submit_indexed([work = std::move(work)](unsigned) mutable { return work(); },
                       std::move(done));
    }

    // `work(index)` runs on the worker numbered `index`; `done` as for submit().
    template <class Work, class Done>
    void submit_indexed(Work work, Done done) {
        enqueue([this, work = std::move(work), done = std::move(done)](unsigned index) mutable {
            auto result = std::make_shared<decltype(work(index))>(work(index));
            loop_.post([result, done = std::move(done)]() mutable { done(std::move(*result)); });
        });
    }

    std::size_t queued() const;
    unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

private:
    void enqueue(std::function<void(unsigned index)> job);
    void worker_main(unsigned index);

    net::EventLoop& loop_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void(unsigned index)>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace gs
