// Result<T>: a value or a plain-words Error, for failures that come from outside the
// program (bad input, a misbehaving peer, a missing row). Bugs assert instead; see
// docs/ARCHITECTURE.md.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace gs {

enum class Errc {
    BadInput,       // malformed or out-of-range input from a user or peer
    NotFound,       // the named thing does not exist
    AlreadyExists,  // the thing being created is already there
    Denied,         // the caller may not do this (not a member, not the owner, ...)
    NotLoggedIn,    // the request needs a session
    AuthFailed,     // wrong user or password, never saying which
    Throttled,      // too many attempts; try later
    Limit,          // a size or count limit was exceeded
    Io,             // a file or socket operation failed
    Protocol,       // a peer broke the protocol
    Internal,       // something on our side failed (database, ...)
};

const char* errc_name(Errc code);
Errc errc_from_name(std::string_view name);  // unknown names map to Internal

struct Error {
    Errc code;
    std::string message;  // one line, plain words, safe to show to a user
};

inline Error make_error(Errc code, std::string message) {
    return Error{code, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const {
        assert(!ok());
        return std::get<1>(v_);
    }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const {
        assert(!ok_);
        return error_;
    }

private:
    Error error_{Errc::Internal, {}};
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace gs
