#include "shared/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace gs::log {
namespace {
std::string g_program = "groupshare";
std::atomic<int> g_min_level{static_cast<int>(Level::info)};
std::atomic<int> g_file_fd{-1};
std::atomic<bool> g_to_stderr{true};

constexpr std::array<std::string_view, 4> kLevelNames = {"debug", "info", "warn", "error"};

void write_all(int fd, std::string_view out) {
    while (!out.empty()) {
        ssize_t n = ::write(fd, out.data(), out.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // nowhere to report a failing log
        out.remove_prefix(static_cast<std::size_t>(n));
    }
}
}  // namespace

std::optional<Level> parse_level(std::string_view name) {
    for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
        if (kLevelNames[i] == name) return static_cast<Level>(i);
    }
    return std::nullopt;
}

void set_program(std::string_view name) {
    g_program = std::string(name);
}

void set_level(Level min) {
    g_min_level = static_cast<int>(min);
}

Status log_to_file(const std::string& path, bool also_stderr, std::size_t rotate_bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && static_cast<std::size_t>(st.st_size) > rotate_bytes) {
        const std::string old = path + ".1";
        if (::rename(path.c_str(), old.c_str()) != 0) {
            return make_error(Errc::Io, fmt::format("cannot rotate the log {} to {}: {}", path, old,
                                                    std::strerror(errno)));
        }
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        return make_error(Errc::Io,
                          fmt::format("cannot open the log {}: {}", path, std::strerror(errno)));
    }
    if (int old = g_file_fd.exchange(fd); old >= 0) ::close(old);
    g_to_stderr = also_stderr;
    return {};
}

bool enabled(Level level) {
    return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void line(Level level, std::string_view text) {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto secs = system_clock::to_time_t(now);
    auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = fmt::format("{}.{:03}Z {} {}: {}\n", stamp, millis, g_program,
                                  kLevelNames[static_cast<std::size_t>(level)], text);
    // One write per destination so lines from different threads never interleave.
    if (int fd = g_file_fd.load(std::memory_order_relaxed); fd >= 0) write_all(fd, out);
    if (g_to_stderr.load(std::memory_order_relaxed)) {
        [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
    }
}

}  // namespace gs::log
