// tracker_info.txt: one tracker per line as "IP:PORT" (blank lines and '#' comments allowed).
#pragma once

#include "shared/net/socket.hpp"
#include "shared/result.hpp"

#include <string>
#include <vector>

namespace gs {

struct TrackerEntry {
    net::Endpoint endpoint;
    int line_number = 0;
};

Result<std::vector<TrackerEntry>> read_tracker_info(const std::string& path);
Result<std::vector<TrackerEntry>> parse_tracker_info(std::string_view text,
                                                     const std::string& path_for_errors);

}  // namespace gs
