#include "shared/config.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gs {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}
}  // namespace

Result<std::vector<TrackerEntry>> parse_tracker_info(std::string_view text,
                                                     const std::string& path_for_errors) {
    std::vector<TrackerEntry> entries;
    int line_number = 0;
    while (!text.empty()) {
        ++line_number;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        auto ep = net::parse_endpoint(line);
        if (!ep) {
            return make_error(Errc::BadInput, fmt::format("{} line {}: {}", path_for_errors,
                                                          line_number, ep.error().message));
        }
        entries.push_back(TrackerEntry{*ep, line_number});
    }
    if (entries.empty()) {
        return make_error(Errc::BadInput,
                          fmt::format("{} lists no tracker (expected lines like 127.0.0.1:5000)",
                                      path_for_errors));
    }
    return entries;
}

Result<std::vector<TrackerEntry>> read_tracker_info(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return make_error(Errc::Io, fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_tracker_info(ss.str(), path);
}

}  // namespace gs
