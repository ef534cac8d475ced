#include "shared/result.hpp"

namespace gs {

const char* errc_name(Errc code) {
    switch (code) {
        case Errc::BadInput: return "bad_input";
        case Errc::NotFound: return "not_found";
        case Errc::AlreadyExists: return "already_exists";
        case Errc::Denied: return "denied";
        case Errc::NotLoggedIn: return "not_logged_in";
        case Errc::AuthFailed: return "auth_failed";
        case Errc::Throttled: return "throttled";
        case Errc::Limit: return "limit";
        case Errc::Io: return "io";
        case Errc::Protocol: return "protocol";
        case Errc::Internal: return "internal";
    }
    return "internal";
}

Errc errc_from_name(std::string_view name) {
    for (Errc code : {Errc::BadInput, Errc::NotFound, Errc::AlreadyExists, Errc::Denied,
                      Errc::NotLoggedIn, Errc::AuthFailed, Errc::Throttled, Errc::Limit, Errc::Io,
                      Errc::Protocol, Errc::Internal}) {
        if (name == errc_name(code)) return code;
    }
    return Errc::Internal;
}

}  // namespace gs
