// One timestamped line per event. Callers never pass secrets (passwords, tokens).
// By default every line goes to stderr (the tracker). A program may instead send them to a file
// (the client: client.log in its data directory), with or without a copy on stderr, and drop
// lines below a level. Configure at start-up, before any thread starts; after that, logging is
// thread-safe: each line is written with a single write(2) per destination.
#pragma once

#include "shared/result.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>

namespace gs::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

// "debug", "info", "warn" or "error"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);

void set_program(std::string_view name);
// Lines below `min` are dropped (default: info).
void set_level(Level min);
// Appends every line to `path` (created 0600). A file already over `rotate_bytes` is first
// renamed to `<path>.1` (replacing an older one), so the log never grows without bound across
// runs. `also_stderr`: keep the copy on stderr. Without a call, lines go to stderr only.
Status log_to_file(const std::string& path, bool also_stderr,
                   std::size_t rotate_bytes = std::size_t{16} << 20);

bool enabled(Level level);
void line(Level level, std::string_view text);

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::debug)) line(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::info)) line(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::warn)) line(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::error)) line(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace gs::log
