// One timestamped line per event on stderr. Callers never pass secrets (passwords, tokens).
// Thread-safe: each line is written with a single write(2).
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace gs::log {

void set_program(std::string_view name);
void line(std::string_view level, std::string_view text);

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    line("info", fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    line("warn", fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    line("error", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace gs::log
