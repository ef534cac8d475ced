#include "tracker/handlers/paging.hpp"

#include "shared/ids.hpp"

#include <fmt/format.h>

namespace gs::tracker {

Result<std::string> cursor_arg(const proto::Value& request) {
    if (request.find("after") == nullptr) return std::string();  // the first page
    auto after = request.get_string("after");
    if (!after) {
        return make_error(Errc::BadInput,
                          "invalid cursor 'after': use the 'next' of the previous "
                          "page");
    }
    if (after->size() > kMaxCursorBytes) {
        return make_error(Errc::BadInput,
                          fmt::format("invalid cursor 'after': over {} bytes", kMaxCursorBytes));
    }
    // Cursors are ids and file names: UTF-8 without NUL, which PostgreSQL text requires.
    if (!is_valid_utf8(*after) || after->find('\0') != std::string_view::npos) {
        return make_error(Errc::BadInput,
                          "invalid cursor 'after': use the 'next' of the previous page");
    }
    return std::string(*after);
}

bool Page::add(proto::Dict item, std::string key) {
    if (full_) return false;
    const std::size_t size = proto::encode(proto::Value(item)).size();
    // At least one item per page, so paging always moves on.
    if (items_.size() >= limits_.page_items ||
        (!items_.empty() && bytes_ + size > limits_.page_bytes)) {
        full_ = true;
        return false;
    }
    bytes_ += size;
    items_.push_back(std::move(item));
    last_key_ = std::move(key);
    return true;
}

proto::Dict Page::finish(std::string_view list_key, std::size_t store_rows) {
    const bool more = full_ || store_rows > limits_.page_items;
    proto::Dict reply{{std::string(list_key), std::move(items_)}};
    if (more) {
        reply["more"] = 1;
        reply["next"] = std::move(last_key_);
    }
    return reply;
}

}  // namespace gs::tracker
