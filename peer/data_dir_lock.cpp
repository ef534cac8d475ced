#include "peer/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace gs::peer {

namespace {
constexpr const char* kLockFileName = "client.lock";

// What the lock file says (the holder's PID), trimmed; "unknown" when it says nothing usable.
std::string read_holder(int fd) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return "unknown";
    }
    return text;
}
}  // namespace

Result<DataDirLock> DataDirLock::acquire(const std::filesystem::path& data_dir) {
    const std::string path = (data_dir / kLockFileName).string();
    net::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        return make_error(Errc::Io, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return make_error(Errc::AlreadyExists,
                              fmt::format("data directory {} is in use by another client (PID {})",
                                          data_dir.string(), read_holder(fd.get())));
        }
        return make_error(Errc::Io, fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
    }
    const std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        return make_error(Errc::Io, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    return DataDirLock(std::move(fd));
}

}  // namespace gs::peer
