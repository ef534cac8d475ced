// Transaction: BEGIN IMMEDIATE on construction, ROLLBACK on destruction unless commit()
// succeeded. It never commits by itself, so an early return or an exception undoes the work.
// Used by SqliteStore and migrate() on the reactor thread.
#pragma once

#include "shared/result.hpp"
#include "tracker/sqlite/db.hpp"

namespace gs::tracker {

class [[nodiscard]] Transaction {
public:
    // IMMEDIATE takes the write lock at once, so a busy database fails here (after the busy
    // timeout) rather than half-way through the work.
    static Result<Transaction> begin(Db& db);

    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();

    // Makes the changes durable. On failure the transaction is still open and is rolled back
    // when this object goes away.
    Status commit();
    bool is_open() const { return db_ != nullptr; }

private:
    explicit Transaction(Db& db) : db_(&db) {}

    Db* db_ = nullptr;  // null once committed or rolled back
};

}  // namespace gs::tracker
