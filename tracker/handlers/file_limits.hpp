// What one account may register about files (SECURITY.md, Limits): how many files it may add,
// how many addresses it may seed one file from, and how large a piece it may prove possession
// with. One struct so tests can shorten them (Context::file_limits).
#pragma once

#include <cstdint>

namespace gs::tracker {

struct FileLimits {
    // Files a user uploaded first that still exist, in one group and in all groups together.
    std::int64_t files_per_group = 1000;
    std::int64_t files_total = 10'000;
    // Seeder addresses one user keeps for one file; a new one past that replaces the oldest.
    int addrs_per_file = 4;
    // The largest piece an upload can prove possession with: fits a request frame comfortably.
    std::int64_t proof_piece_bytes = 1 << 20;
};

}  // namespace gs::tracker
