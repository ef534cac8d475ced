// DataDirLock: one client per data directory. Holds an exclusive flock(2) on `client.lock` in
// the directory, with this process's PID written in it, for as long as it lives; the kernel
// drops the lock when the process ends, however it ends. Start-up only (blocking file calls).
#pragma once

#include "shared/net/fd.hpp"
#include "shared/result.hpp"

#include <filesystem>

namespace gs::peer {

class DataDirLock {
public:
    // The lock, or an error naming the PID of the client that holds it.
    static Result<DataDirLock> acquire(const std::filesystem::path& data_dir);

private:
    explicit DataDirLock(net::Fd fd) : fd_(std::move(fd)) {}
    net::Fd fd_;
};

}  // namespace gs::peer
