#include "tracker/sqlite/transaction.hpp"

#include "shared/log.hpp"

#include <sqlite3.h>

#include <cassert>
#include <utility>

namespace gs::tracker {

Result<Transaction> Transaction::begin(Db& db) {
    if (auto s = db.exec("BEGIN IMMEDIATE"); !s) return s.error();
    return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
    if (db_ == nullptr) return;
    // SQLite may already have rolled back by itself after some errors (SQLITE_FULL, IOERR);
    // a second ROLLBACK would only fail with "no transaction is active".
    if (sqlite3_get_autocommit(db_->handle()) != 0) return;
    if (auto s = db_->exec("ROLLBACK"); !s) {
        log::error("database '{}': rollback failed: {}", db_->path(), s.error().message);
    }
}

Status Transaction::commit() {
    assert(db_ != nullptr && "commit of a finished transaction");
    if (db_ == nullptr) return make_error(Errc::Internal, "commit of a finished transaction");
    if (auto s = db_->exec("COMMIT"); !s) return s;
    db_ = nullptr;
    return {};
}

}  // namespace gs::tracker
