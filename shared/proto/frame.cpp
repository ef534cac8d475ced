#include "shared/proto/frame.hpp"

namespace gs::proto {

FrameView peek_frame(std::string_view in, std::size_t max_body_bytes) {
    FrameView view;
    if (in.size() < kFrameHeaderBytes) return view;
    auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i]));
    };
    view.declared_bytes = (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
    if (view.declared_bytes > max_body_bytes) {
        view.status = FrameStatus::TooLarge;
        return view;
    }
    if (in.size() - kFrameHeaderBytes < view.declared_bytes) return view;
    view.status = FrameStatus::Ready;
    view.body = in.substr(kFrameHeaderBytes, view.declared_bytes);
    view.total_bytes = kFrameHeaderBytes + view.declared_bytes;
    return view;
}

void write_frame_header(char* out, std::uint32_t body_bytes) {
    out[0] = static_cast<char>((body_bytes >> 24) & 0xff);
    out[1] = static_cast<char>((body_bytes >> 16) & 0xff);
    out[2] = static_cast<char>((body_bytes >> 8) & 0xff);
    out[3] = static_cast<char>(body_bytes & 0xff);
}

void append_frame(std::string& out, std::string_view body) {
    char header[kFrameHeaderBytes];
    write_frame_header(header, static_cast<std::uint32_t>(body.size()));
    out.append(header, kFrameHeaderBytes);
    out.append(body);
}

std::string make_frame(std::string_view body) {
    std::string out;
    out.reserve(kFrameHeaderBytes + body.size());
    append_frame(out, body);
    return out;
}

}  // namespace gs::proto
