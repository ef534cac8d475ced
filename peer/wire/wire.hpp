// The whole peer wire codec (BEP 3 + BEP 10) in one include.
#pragma once

#include "peer/wire/extended_handshake.hpp"
#include "peer/wire/handshake.hpp"
#include "peer/wire/message.hpp"
#include "peer/wire/wire_constants.hpp"
