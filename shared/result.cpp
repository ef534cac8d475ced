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

}  // namespace gs
