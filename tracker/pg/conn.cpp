#include "tracker/pg/conn.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <poll.h>

#include <charconv>
#include <set>

namespace gs::tracker::pg {

// ---- Rows ----

void Rows::Clear::operator()(pg_result* r) const {
    PQclear(r);
}

Rows::Rows(pg_result* result) : result_(result) {}

int Rows::size() const {
    return PQntuples(result_.get());
}

bool Rows::is_null(int row, int col) const {
    return PQgetisnull(result_.get(), row, col) != 0;
}

std::string Rows::text(int row, int col) const {
    return std::string(PQgetvalue(result_.get(), row, col),
                       static_cast<std::size_t>(PQgetlength(result_.get(), row, col)));
}

std::int64_t Rows::integer(int row, int col) const {
    const char* v = PQgetvalue(result_.get(), row, col);
    std::int64_t n = 0;
    std::from_chars(v, v + PQgetlength(result_.get(), row, col), n);
    return n;
}

bool Rows::boolean(int row, int col) const {
    return PQgetvalue(result_.get(), row, col)[0] == 't';
}

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
}

}  // namespace

std::string Rows::bytes(int row, int col) const {
    // bytea in text format is "\x" and two hex digits a byte (bytea_output = hex, set per
    // session by Conn).
    std::string_view hex(PQgetvalue(result_.get(), row, col),
                         static_cast<std::size_t>(PQgetlength(result_.get(), row, col)));
    if (hex.substr(0, 2) == "\\x") hex.remove_prefix(2);
    std::string out(hex.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<char>(hex_digit(hex[2 * i]) * 16 + hex_digit(hex[2 * i + 1]));
    }
    return out;
}

int Rows::affected() const {
    const char* n = PQcmdTuples(result_.get());
    int count = 0;
    std::from_chars(n, n + std::char_traits<char>::length(n), count);
    return count;
}

// ---- Conn ----

std::vector<std::pair<std::string, std::string>> connection_options(const std::string& uri) {
    std::vector<std::pair<std::string, std::string>> out{{"dbname", uri}};
    std::set<std::string> given;
    char* error = nullptr;
    if (PQconninfoOption* parsed = PQconninfoParse(uri.c_str(), &error)) {
        for (auto* o = parsed; o->keyword != nullptr; ++o) {
            if (o->val != nullptr && *o->val != '\0') given.insert(o->keyword);
        }
        PQconninfoFree(parsed);
    }
    PQfreemem(error);  // a bad URI fails PQconnectdbParams with the same words
    const std::pair<const char*, const char*> defaults[] = {
        {"connect_timeout", "3"},
        {"keepalives", "1"},
        {"keepalives_idle", "5"},
        {"keepalives_interval", "2"},
        {"keepalives_count", "3"},
        {"tcp_user_timeout", "10000"},
        {"fallback_application_name", "groupshare-tracker"},
    };
    for (const auto& [key, value] : defaults) {
        if (!given.count(key)) out.emplace_back(key, value);
    }
    return out;
}

Conn::Conn(std::string uri) : uri_(std::move(uri)) {}

Conn::Conn(Conn&& other) noexcept
    : uri_(std::move(other.uri_)),
      conn_(std::exchange(other.conn_, nullptr)),
      prepared_(std::move(other.prepared_)),
      last_state_(std::move(other.last_state_)),
      broken_(other.broken_) {}

Conn& Conn::operator=(Conn&& other) noexcept {
    if (this != &other) {
        if (conn_ != nullptr) PQfinish(conn_);
        uri_ = std::move(other.uri_);
        conn_ = std::exchange(other.conn_, nullptr);
        prepared_ = std::move(other.prepared_);
        last_state_ = std::move(other.last_state_);
        broken_ = other.broken_;
    }
    return *this;
}

Conn::~Conn() {
    if (conn_ != nullptr) PQfinish(conn_);
}

bool Conn::good() const {
    return conn_ != nullptr && !broken_ && PQstatus(conn_) == CONNECTION_OK;
}

bool Conn::dropped_while_idle() {
    if (!good() || PQtransactionStatus(conn_) != PQTRANS_IDLE) return false;
    // What a server sends before it closes (a FATAL message) and the close itself may take
    // two reads; a few rounds reach the end of what is there.
    for (int round = 0; round < 4; ++round) {
        pollfd p{PQsocket(conn_), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        const bool read = PQconsumeInput(conn_) != 0;
        if (read) (void)PQisBusy(conn_);  // parses what was read
        if (!read || PQstatus(conn_) != CONNECTION_OK) {
            broken_ = true;
            return true;
        }
    }
    return false;
}

namespace {

// libpq's messages end with a newline and may span lines: one line for the log.
std::string one_line(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (char& c : s) {
        if (c == '\n') c = ' ';
    }
    return s;
}

}  // namespace

Status Conn::connect() {
    last_state_.clear();
    if (good()) return {};
    prepared_.clear();  // a new session has none of them
    if (conn_ == nullptr) {
        auto options = connection_options(uri_);
        std::vector<const char*> keys, values;
        for (const auto& [k, v] : options) {
            keys.push_back(k.c_str());
            values.push_back(v.c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
    } else {
        PQreset(conn_);
        broken_ = false;
    }
    if (conn_ == nullptr) return make_error(Errc::Io, "out of memory for a connection");
    // Notices ("relation ... already exists, skipping") are not errors: not printed.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    if (PQstatus(conn_) != CONNECTION_OK) {
        return make_error(Errc::Io, "cannot connect: " + one_line(PQerrorMessage(conn_)));
    }
    return set_up_session();
}

Status Conn::set_up_session() {
    return exec(
        fmt::format("SET statement_timeout = {}; SET bytea_output = hex; "
                    "SET client_encoding = 'UTF8'",
                    kStatementTimeoutMs));
}

Error Conn::failure(std::string_view what, pg_result* result) {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    last_state_ = state != nullptr ? state : "";
    std::string message = result != nullptr ? one_line(PQresultErrorMessage(result)) : "";
    if (message.empty()) message = one_line(PQerrorMessage(conn_));
    PQclear(result);
    // An error without a SQLSTATE is libpq's own (the connection broke, perhaps before libpq
    // noticed); class 08 and 57P0x are the server's way of saying the same.
    if (last_state_.empty() || last_state_.rfind("08", 0) == 0 ||
        last_state_.rfind("57P", 0) == 0) {
        broken_ = true;
    }
    Errc code = Errc::Internal;
    if (!good()) {
        code = Errc::Io;  // the connection is gone; the next call resets it
    } else if (last_state_ == kUniqueViolation) {
        code = Errc::AlreadyExists;
    }
    return make_error(code, fmt::format("{}: {}", what, message));
}

Status Conn::exec(std::string_view sql) {
    if (dropped_while_idle() || !good()) {
        if (auto s = connect(); !s) return s;
    }
    last_state_.clear();
    PGresult* r = PQexec(conn_, std::string(sql).c_str());
    auto status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return failure(sql, r);
    PQclear(r);
    return {};
}

Result<Rows> Conn::run_prepared(std::string_view sql, const std::vector<Param>& params) {
    if (dropped_while_idle() || !good()) {
        if (auto s = connect(); !s) return s.error();
    }
    last_state_.clear();
    std::string key(sql);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
        std::string name = fmt::format("gs{}", prepared_.size() + 1);
        PGresult* r =
            PQprepare(conn_, name.c_str(), key.c_str(), static_cast<int>(params.size()), nullptr);
        if (r == nullptr || PQresultStatus(r) != PGRES_COMMAND_OK) return failure(sql, r);
        PQclear(r);
        it = prepared_.emplace(std::move(key), std::move(name)).first;
    }
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
        values.push_back(p.value.data());
        lengths.push_back(static_cast<int>(p.value.size()));
        formats.push_back(p.binary ? 1 : 0);
    }
    PGresult* r = PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                                 values.data(), lengths.data(), formats.data(), 0);
    auto status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return failure(sql, r);
    return Rows(r);
}

}  // namespace gs::tracker::pg
