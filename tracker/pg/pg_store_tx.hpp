// PgStore's error wrapping and transactions, shared by tracker/pg/pg_store*.cpp. Private to them.
#pragma once

#include "tracker/pg/pg_store.hpp"

namespace gs::tracker {

template <class T>
Result<T> PgStore::stored(std::string_view operation, Result<T> r) {
    if (!r) return storage_error(operation, r.error());
    return r;
}

template <class Work>
auto PgStore::in_transaction(std::string_view operation, Work work) -> decltype(work()) {
    constexpr int kAttempts = 4;
    for (int attempt = 1;; ++attempt) {
        Error cause{Errc::Internal, ""};
        if (auto begun = conn_.exec("BEGIN"); !begun) {
            cause = begun.error();
        } else {
            auto result = work();
            if (result) {
                auto committed = conn_.exec("COMMIT");
                if (committed) return result;
                cause = committed.error();
            } else {
                cause = result.error();
            }
        }
        const std::string state = conn_.last_state();
        if (conn_.good()) (void)conn_.exec("ROLLBACK");
        const bool retry = state == pg::kSerializationFailure || state == pg::kDeadlockDetected;
        if (!retry || attempt == kAttempts) return storage_error(operation, cause);
    }
}

}  // namespace gs::tracker
