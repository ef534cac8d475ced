// Liveness: how a callback that may run after its target is gone (a deferred task, a worker's
// answer, a tracker reply) finds out. The target holds one Liveness as a member, declared last
// so it dies first; callbacks are wrapped with guard(), which runs them only while the target
// lives. Reactor thread only: the check and the call are not atomic against another thread
// destroying the target.
#pragma once

#include <memory>
#include <utility>

namespace gs {

class Liveness {
public:
    Liveness() = default;
    // The token belongs to this object: a copy or a moved-to object would be a second target.
    Liveness(const Liveness&) = delete;
    Liveness& operator=(const Liveness&) = delete;

    // A callable that forwards its arguments to `f` while the owner of this Liveness exists;
    // afterwards it does nothing and returns a value-initialised result (false, 0, empty).
    template <class F>
    auto guard(F f) const {
        return
            [token = std::weak_ptr<const char>(token_), f = std::move(f)](auto&&... args) mutable {
                using R = decltype(f(std::forward<decltype(args)>(args)...));
                if (token.expired()) return R();
                return f(std::forward<decltype(args)>(args)...);
            };
    }

private:
    std::shared_ptr<const char> token_ = std::make_shared<const char>(0);
};

}  // namespace gs
