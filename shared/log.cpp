#include "shared/log.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

namespace gs::log {
namespace {
std::string g_program = "groupshare";
}

void set_program(std::string_view name) {
    g_program = std::string(name);
}

void line(std::string_view level, std::string_view text) {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto secs = system_clock::to_time_t(now);
    auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = fmt::format("{}.{:03}Z {} {}: {}\n", stamp, millis, g_program, level, text);
    // One write so lines from different threads never interleave.
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace gs::log
