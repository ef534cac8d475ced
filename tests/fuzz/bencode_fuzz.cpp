// libFuzzer target: the bencode decoder (shared/proto/bencode.hpp). Any input is decoded with the
// default limits and with the tracker's request limits; a value that decodes must re-encode to
// exactly the input (the decoder accepts only canonical bencode), and the small limits may only
// reject what the default ones accept. Any mismatch aborts, which libFuzzer reports as a crash.
#include "shared/proto/bencode.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

using namespace gs::proto;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bencode_fuzz: %s\n", what);
    std::abort();
}

// The limits tracker/dispatcher.cpp decodes requests with.
constexpr DecodeLimits kRequestLimits{8, 4096};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    auto full = decode(in);
    if (full) {
        if (encode(*full) != in) fail("decode then encode did not give the input back");
    }

    auto small = decode(in, kRequestLimits);
    if (small) {
        if (!full) fail("accepted under the request limits but rejected under the defaults");
        if (!(*small == *full)) fail("the two limits decoded different values");
    }

    // The front of the input: whatever decode_prefix takes must decode on its own to the same
    // value, and re-encode to exactly those bytes.
    std::size_t consumed = 0;
    auto prefix = decode_prefix(in, consumed);
    if (prefix) {
        if (consumed == 0 || consumed > in.size()) fail("decode_prefix consumed a bad length");
        const std::string_view front = in.substr(0, consumed);
        if (encode(*prefix) != front) fail("decode_prefix value does not re-encode to its bytes");
        auto again = decode(front);
        if (!again || !(*again == *prefix)) fail("decode of the prefix differs from decode_prefix");
        if (full && consumed != in.size()) fail("decode accepted trailing bytes");
    } else if (full) {
        fail("decode accepted what decode_prefix rejected");
    }
    return 0;
}
