// PasswordHasher: the slow password work of create_user and login, behind an interface so the
// request core can run without threads (the fuzz target answers at once with a stand-in).
// Argon2Hasher is the tracker's: argon2id on the WorkerPool, its answer back on the reactor
// thread. The Dispatcher decides when a job may start (turns by address, AccountLimits).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace gs {
class WorkerPool;
}

namespace gs::tracker {

class PasswordHasher {
public:
    virtual ~PasswordHasher() = default;
    // The hash to store for `password`; "" if it could not be made. `done` runs on the reactor
    // thread, later or before this returns.
    virtual void hash(std::string password, std::function<void(std::string hash)> done) = 0;
    // Whether `password` matches `hash`. Without a hash (a user that does not exist) it is
    // checked against a stand-in, so the answer takes as long and is false.
    virtual void verify(std::optional<std::string> hash, std::string password,
                        std::function<void(bool verified)> done) = 0;
};

class Argon2Hasher final : public PasswordHasher {
public:
    // Makes the stand-in hash (one argon2id run). `workers` must outlive this.
    explicit Argon2Hasher(WorkerPool& workers);

    void hash(std::string password, std::function<void(std::string hash)> done) override;
    void verify(std::optional<std::string> hash, std::string password,
                std::function<void(bool verified)> done) override;

private:
    WorkerPool& workers_;
    // A hash of a random password: what an unknown user's login is checked against.
    std::string dummy_hash_;
};

}  // namespace gs::tracker
