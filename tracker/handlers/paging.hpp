// Paging for the listings (list_groups, list_files, list_requests): a request may carry
// "after", the key the previous page ended with; a reply holds at most GroupLimits::page_items
// items and page_bytes encoded bytes of them, and says "more": 1 with "next" (the key to ask
// after) when there is more. So no reply grows with the table behind it, and none comes near
// the frame limit (docs/protocol.md §1.3, paging). Private to tracker/handlers/*.cpp.
#pragma once

#include "shared/proto/bencode.hpp"
#include "shared/result.hpp"
#include "tracker/handlers/context.hpp"

#include <string>

namespace gs::tracker {

// Longest "after" accepted: keys are ids (<= 64 bytes), file names (<= 255) or numbers.
inline constexpr std::size_t kMaxCursorBytes = 255;

// The request's "after" (empty when absent: the first page), checked for length.
Result<std::string> cursor_arg(const proto::Value& request);

class Page {
public:
    explicit Page(const GroupLimits& limits) : limits_(limits) {}

    // How many rows to ask the store for: one more than a page, to know whether more follow.
    std::size_t rows_to_fetch() const { return limits_.page_items + 1; }
    // Adds `item`, whose key is `key`, unless the page is full (by count or bytes): then it
    // returns false, the item is left out and the reply will say there is more.
    bool add(proto::Dict item, std::string key);
    // The reply: {list_key: items}, with "more": 1 and "next" when the page did not hold
    // everything (`store_rows`: how many rows the store gave).
    proto::Dict finish(std::string_view list_key, std::size_t store_rows);

private:
    const GroupLimits& limits_;
    proto::List items_;
    std::size_t bytes_ = 0;
    bool full_ = false;
    std::string last_key_;
};

}  // namespace gs::tracker
