// tracker_loadgen --tracker IP:PORT [--connections N] [--duration S] [--warmup S] [--seeders K]
//                 [--file-mib M] [--tracker-pid PID]
// Issue #4, benchmark 3: holds N logged-in connections to a groupshare tracker and keeps exactly
// one `get_peers` request (what a downloader sends for a file's peers, docs/protocol.md §1.3) in
// flight on each, closed loop, for a bounded time; prints requests per second, latency
// percentiles and the tracker's resident memory, then one machine-readable `RESULT` line.
//
// One thread on one epoll fd. The tracker is one reactor thread and this machine class has two
// cores: a second generator thread would take CPU from the tracker it is measuring. One thread
// that only frames, sends, decrypts and checks replies needs about half the tracker's CPU per
// request, so it keeps up; the report prints both CPU shares so that this stays visible.
#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/tracker/scenario.hpp"
#include "shared/proto/bencode.hpp"
#include "shared/proto/frame.hpp"

namespace gs::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kUsage =
    "usage: tracker_loadgen --tracker IP:PORT [--connections N] [--duration SECONDS] "
    "[--warmup SECONDS] [--seeders K] [--file-mib MIB] [--tracker-pid PID] "
    "[--tls sha256:FINGERPRINT] [--go-file PATH]";
// With --go-file, after the set-up the load waits (at most this long) for PATH to exist, so that
// several load generators (one per tracker) start their warm-up and window together.
constexpr auto kGoWait = 300s;
constexpr auto kDrainTimeout = 5s;  // after the window, for replies still in flight
constexpr std::size_t kReadChunkBytes = 256 * 1024;

struct Options {
    net::Endpoint tracker;
    int connections = 64;
    double duration_s = 10;
    double warmup_s = 2;
    int seeders = 8;
    std::int64_t file_mib = 1024;  // the shape of bench/swarm: 1 GiB in 512 KiB pieces
    int tracker_pid = 0;           // 0: no memory or CPU figures for the tracker
    std::string tls_fingerprint;   // empty: plain frames; else TLS 1.3 to this certificate
    std::string go_file;           // empty: start the load as soon as it is set up
};

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    std::exit(1);
}

template <class T>
T parse_number(std::string_view flag, std::string_view text, T min, T max) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
        fail(fmt::format("{} '{}' must be a number from {} to {}\n{}", flag, text, min, max,
                         kUsage));
    }
    return value;
}

Options parse_args(int argc, char** argv) {
    Options o;
    bool have_tracker = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "-h" || flag == "--help") {
            std::puts(kUsage);
            std::exit(0);
        }
        if (i + 1 >= argc) fail(fmt::format("{} needs a value\n{}", flag, kUsage));
        std::string_view value = argv[++i];
        if (flag == "--tracker") {
            auto ep = net::parse_endpoint(value, false);
            if (!ep) fail(ep.error().message);
            o.tracker = *ep;
            have_tracker = true;
        } else if (flag == "--connections") {
            o.connections = parse_number(flag, value, 1, 40000);
        } else if (flag == "--duration") {
            o.duration_s = parse_number(flag, value, 0.1, 3600.0);
        } else if (flag == "--warmup") {
            o.warmup_s = parse_number(flag, value, 0.0, 600.0);
        } else if (flag == "--seeders") {
            o.seeders = parse_number(flag, value, 1, 1000);
        } else if (flag == "--file-mib") {
            o.file_mib = parse_number<std::int64_t>(flag, value, 1, 1 << 20);
        } else if (flag == "--tls") {
            o.tls_fingerprint = std::string(value);
        } else if (flag == "--go-file") {
            o.go_file = std::string(value);
        } else if (flag == "--tracker-pid") {
            o.tracker_pid = parse_number(flag, value, 1, 1 << 30);
        } else {
            fail(fmt::format("unknown option '{}'\n{}", flag, kUsage));
        }
    }
    if (!have_tracker) fail(fmt::format("--tracker is required\n{}", kUsage));
    return o;
}

// Every connection is a descriptor here and in the tracker: lift our soft limit to the hard one.
void raise_fd_limit(int connections) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    rlim_t wanted = static_cast<rlim_t>(connections) + 64;
    if (lim.rlim_cur >= wanted) return;
    lim.rlim_cur = std::min(lim.rlim_max, std::max(wanted, lim.rlim_cur));
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < wanted) {
        fail(
            fmt::format("{} connections need {} file descriptors; the hard limit is {} "
                        "(raise it with ulimit -Hn)",
                        connections, wanted, lim.rlim_max));
    }
}

// The get_peers request body with a given seq, built without allocating: the keys sort as
// group < info_hash < op < seq (BEP 3), so the body is a fixed prefix, then "3:seqi<seq>e", then
// "e".
class RequestEncoder {
public:
    RequestEncoder(const std::string& group, const std::string& info_hash) {
        std::string without_seq = proto::encode(
            proto::Dict{{"op", "get_peers"}, {"group", group}, {"info_hash", info_hash}});
        prefix_ = without_seq.substr(0, without_seq.size() - 1);  // drop the closing "e"
        std::string check;
        append_frame(check, 1234567);
        proto::Dict full{
            {"op", "get_peers"}, {"group", group}, {"info_hash", info_hash}, {"seq", 1234567}};
        if (check != proto::make_frame(proto::encode(full))) fail("request encoding mismatch");
    }

    // Appends one whole frame (length prefix + body) to `out`.
    void append_frame(std::string& out, std::int64_t seq) const {
        char digits[24];
        auto end = std::to_chars(digits, digits + sizeof digits, seq).ptr;
        const auto seq_len = static_cast<std::size_t>(end - digits);
        // prefix, "3:seqi" (6), the digits, "ee" (2)
        const auto body_len = static_cast<std::uint32_t>(prefix_.size() + 6 + seq_len + 2);
        const char header[4] = {static_cast<char>(body_len >> 24),
                                static_cast<char>(body_len >> 16), static_cast<char>(body_len >> 8),
                                static_cast<char>(body_len)};
        out.append(header, sizeof header);
        out += prefix_;
        out += "3:seqi";
        out.append(digits, seq_len);
        out += "ee";
    }

private:
    std::string prefix_;
};

// One load connection: the resumed link, its unparsed input, and the request in flight.
struct LoadConn {
    explicit LoadConn(Link l) : link(std::move(l)) {}

    Link link;
    std::string in;
    std::string out;  // bytes the socket did not take yet (rare: requests are tiny)
    std::size_t out_sent = 0;
    std::int64_t next_seq = 1;
    std::int64_t in_flight_seq = 0;  // 0: nothing in flight
    Clock::time_point sent_at;
    bool wants_write = false;
    bool is_dead = false;
};

struct TrackerSample {
    long rss_kib = -1;
    long hwm_kib = -1;
    double cpu_s = -1;
};

long status_kib(int pid, std::string_view field) {
    std::ifstream f(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind(field, 0) == 0 && line.size() > field.size() && line[field.size()] == ':') {
            return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
        }
    }
    return -1;
}

// utime + stime of a process, from /proc/<pid>/stat fields 14 and 15 (proc(5)).
double cpu_seconds(int pid) {
    std::ifstream f(fmt::format("/proc/{}/stat", pid));
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto paren = text.rfind(')');
    if (paren == std::string::npos) return -1;
    std::istringstream fields(text.substr(paren + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt
    long utime = 0, stime = 0;
    fields >> utime >> stime;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TrackerSample sample_tracker(int pid) {
    if (pid == 0) return {};
    return {status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"), cpu_seconds(pid)};
}

double own_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct RunResult {
    std::uint64_t completed = 0;  // ok replies inside the window
    std::uint64_t errors = 0;     // error replies, bad replies, lost connections, in the window
    std::map<std::string, std::uint64_t> error_kinds;
    std::vector<std::uint32_t> latencies_ns;  // of `completed`
    std::uint64_t unanswered = 0;
    double window_s = 0;
    TrackerSample tracker_start, tracker_end;
    double own_cpu_s = 0;
};

// The closed loop: every connection sends its next request as soon as its reply arrives.
class LoadRun {
public:
    LoadRun(std::vector<LoadConn> conns, const RequestEncoder& encoder, const Options& options)
        : conns_(std::move(conns)),
          encoder_(encoder),
          options_(options),
          scratch_(kReadChunkBytes) {
        epoll_ = net::Fd(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_.valid()) fail(fmt::format("epoll_create1: {}", std::strerror(errno)));
        // Connections live until the run ends, so their index is a stable epoll key.
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, conns_[i].link.fd(), &ev) != 0) {
                fail(fmt::format("epoll_ctl: {}", std::strerror(errno)));
            }
        }
    }

    RunResult run() {
        const auto start = Clock::now();
        window_start_ = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(options_.warmup_s));
        window_end_ = window_start_ + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options_.duration_s));
        result_.latencies_ns.reserve(1 << 20);
        for (std::size_t i = 0; i < conns_.size(); ++i) send_request(i, start);

        bool measuring = false;
        bool sampled_end = false;
        double own_cpu_start = 0;
        std::vector<epoll_event> events(1024);
        while (true) {
            auto now = Clock::now();
            if (!measuring && now >= window_start_) {
                measuring = true;
                result_.tracker_start = sample_tracker(options_.tracker_pid);
                own_cpu_start = own_cpu_seconds();
            }
            if (now >= window_end_) {
                if (!sampled_end) {
                    // Memory is sampled here, while all N connections are still held.
                    sampled_end = true;
                    result_.tracker_end = sample_tracker(options_.tracker_pid);
                    result_.own_cpu_s = own_cpu_seconds() - own_cpu_start;
                }
                if (in_flight_ == 0 || now >= window_end_ + kDrainTimeout) break;
            }
            int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 10);
            if (n < 0 && errno != EINTR) fail(fmt::format("epoll_wait: {}", std::strerror(errno)));
            for (int e = 0; e < n; ++e) {
                auto index = static_cast<std::size_t>(events[e].data.u64);
                if (conns_[index].is_dead) continue;
                if ((events[e].events & EPOLLOUT) != 0) flush(index);
                if ((events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) on_readable(index);
            }
        }
        result_.unanswered = in_flight_;
        result_.window_s = std::chrono::duration<double>(window_end_ - window_start_).count();
        return std::move(result_);
    }

private:
    static std::string link_failure(std::string_view what, const Link& link, Link::Status status) {
        if (status == Link::Status::Closed) return "closed by the tracker";
        return fmt::format("{}: {}", what, link.error());
    }

    bool in_window(Clock::time_point t) const { return t >= window_start_ && t < window_end_; }

    void count_error(Clock::time_point t, const std::string& kind) {
        if (!in_window(t)) return;
        ++result_.errors;
        ++result_.error_kinds[kind];
    }

    void kill(std::size_t index, const std::string& why) {
        LoadConn& c = conns_[index];
        if (c.in_flight_seq != 0) --in_flight_;
        c.in_flight_seq = 0;
        c.is_dead = true;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.link.fd(), nullptr);  // closed at the end
        count_error(Clock::now(), why);
        if (++dead_ <= 3)
            std::fprintf(stderr, "loadgen: connection %zu lost: %s\n", index, why.c_str());
    }

    void send_request(std::size_t index, Clock::time_point now) {
        LoadConn& c = conns_[index];
        c.in_flight_seq = c.next_seq++;
        c.sent_at = now;
        ++in_flight_;
        encoder_.append_frame(c.out, c.in_flight_seq);
        flush(index);
    }

    void flush(std::size_t index) {
        LoadConn& c = conns_[index];
        while (c.out_sent < c.out.size()) {
            auto io = c.link.write(c.out.data() + c.out_sent, c.out.size() - c.out_sent);
            if (io.status == Link::Status::Done) {
                c.out_sent += io.bytes;
            } else if (io.status == Link::Status::WantWrite ||
                       io.status == Link::Status::WantRead) {
                break;  // retried on EPOLLOUT (TLS 1.3 has no renegotiation to wait a read for)
            } else {
                return kill(index, link_failure("send", c.link, io.status));
            }
        }
        bool pending = c.out_sent < c.out.size();
        if (!pending) {
            c.out.clear();
            c.out_sent = 0;
        }
        if (pending != c.wants_write) {
            c.wants_write = pending;
            epoll_event ev{};
            ev.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
            ev.data.u64 = index;
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.link.fd(), &ev);
        }
    }

    void on_readable(std::size_t index) {
        LoadConn& c = conns_[index];
        while (true) {
            auto io = c.link.read(scratch_.data(), scratch_.size());
            if (io.status == Link::Status::WantRead || io.status == Link::Status::WantWrite) break;
            if (io.status != Link::Status::Done) {
                return kill(index, link_failure("receive", c.link, io.status));
            }
            c.in.append(scratch_.data(), io.bytes);
            // A short plain read drained the socket; TLS reads return one record at a time and
            // must go on until OpenSSL holds nothing more.
            if (!c.link.is_tls() && io.bytes < scratch_.size()) break;
        }
        std::size_t used = 0;
        while (!c.is_dead) {
            auto frame = proto::peek_frame(std::string_view(c.in).substr(used));
            if (frame.status == proto::FrameStatus::TooLarge) return kill(index, "oversized frame");
            if (frame.status != proto::FrameStatus::Ready) break;
            on_reply(index, frame.body);
            used += frame.total_bytes;
        }
        if (!c.is_dead) c.in.erase(0, used);
    }

    void on_reply(std::size_t index, std::string_view body) {
        LoadConn& c = conns_[index];
        const auto now = Clock::now();
        auto reply = proto::decode(body);
        if (!reply || c.in_flight_seq == 0 || reply->get_int("seq") != c.in_flight_seq) {
            return kill(index, "unreadable or unexpected reply");
        }
        --in_flight_;
        c.in_flight_seq = 0;
        if (reply->get_int("ok") == 1 && reply->get_list("peers") != nullptr) {
            if (in_window(now)) {
                ++result_.completed;
                auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent_at);
                result_.latencies_ns.push_back(
                    static_cast<std::uint32_t>(std::min<std::int64_t>(ns.count(), UINT32_MAX)));
            }
        } else {
            count_error(now, std::string(reply->get_string("code").value_or("bad reply")));
        }
        if (now < window_end_) send_request(index, now);
    }

    std::vector<LoadConn> conns_;
    const RequestEncoder& encoder_;
    const Options& options_;
    net::Fd epoll_;
    std::vector<char> scratch_;
    Clock::time_point window_start_, window_end_;
    std::size_t in_flight_ = 0;
    std::size_t dead_ = 0;
    RunResult result_;
};

double percentile_ms(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1] / 1e6;
}

int run(const Options& o) {
    raise_fd_limit(o.connections + o.seeders + 2);
    auto setup_started = Clock::now();
    std::optional<TlsClient> tls;
    if (!o.tls_fingerprint.empty()) {
        auto client = TlsClient::create(o.tls_fingerprint);
        if (!client) fail(client.error().message);
        tls.emplace(std::move(client).value());
    }
    const TlsClient* tls_client = tls ? &*tls : nullptr;
    auto scenario = set_up_scenario(o.tracker, tls_client, o.seeders, o.file_mib);
    if (!scenario) {
        fail(scenario.error().message +
             (tls ? "" : " (a tracker that prints a fingerprint speaks TLS: pass --tls)"));
    }
    RequestEncoder encoder(scenario->group, scenario->info_hash);
    auto links = open_load_connections(o.tracker, tls_client, *scenario, o.connections);
    if (!links) fail(links.error().message);
    std::vector<LoadConn> conns;
    conns.reserve(links->size());
    for (auto& link : *links) conns.emplace_back(std::move(link));
    std::printf(
        "set up in %.1f s (%s): group %s, file %s (%lld MiB), %d online seeders, %d "
        "connections resumed; get_peers reply %zu bytes with %zu peers\n",
        std::chrono::duration<double>(Clock::now() - setup_started).count(),
        tls ? "TLS 1.3" : "plain frames", scenario->group.c_str(), scenario->file_name.c_str(),
        static_cast<long long>(o.file_mib), o.seeders, o.connections, scenario->reply_bytes,
        scenario->peers);
    std::fflush(stdout);
    if (!o.go_file.empty()) {
        const auto give_up = Clock::now() + kGoWait;
        while (::access(o.go_file.c_str(), F_OK) != 0) {
            if (Clock::now() > give_up) fail(fmt::format("{} did not appear", o.go_file));
            std::this_thread::sleep_for(5ms);
        }
    }

    LoadRun load(std::move(conns), encoder, o);
    RunResult r = load.run();

    std::sort(r.latencies_ns.begin(), r.latencies_ns.end());
    const double rps = static_cast<double>(r.completed) / r.window_s;
    const double p50 = percentile_ms(r.latencies_ns, 0.50);
    const double p99 = percentile_ms(r.latencies_ns, 0.99);
    const double p999 = percentile_ms(r.latencies_ns, 0.999);
    const double max = r.latencies_ns.empty() ? 0 : r.latencies_ns.back() / 1e6;
    double mean = 0;
    for (auto ns : r.latencies_ns) mean += ns / 1e6;
    if (!r.latencies_ns.empty()) mean /= static_cast<double>(r.latencies_ns.size());
    double tracker_cpu_pct = -1;
    if (r.tracker_start.cpu_s >= 0 && r.tracker_end.cpu_s >= 0) {
        tracker_cpu_pct = 100 * (r.tracker_end.cpu_s - r.tracker_start.cpu_s) / r.window_s;
    }
    const double own_cpu_pct = 100 * r.own_cpu_s / r.window_s;
    // CPU time per answered request: unlike req/s, roughly independent of how much of a core
    // the tracker got on a shared machine.
    const double tracker_us_per_request =
        tracker_cpu_pct >= 0 && r.completed > 0
            ? tracker_cpu_pct / 100 * r.window_s * 1e6 / static_cast<double>(r.completed)
            : -1;

    std::printf(
        "get_peers, %d connections, %.1f s after %.1f s warm-up: %llu replies, "
        "%.0f req/s, %llu errors, %llu unanswered\n",
        o.connections, r.window_s, o.warmup_s, static_cast<unsigned long long>(r.completed), rps,
        static_cast<unsigned long long>(r.errors), static_cast<unsigned long long>(r.unanswered));
    for (const auto& [kind, count] : r.error_kinds) {
        std::printf("  error %s: %llu\n", kind.c_str(), static_cast<unsigned long long>(count));
    }
    std::printf("latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n", p50, p99, p999,
                max, mean);
    if (o.tracker_pid != 0) {
        std::printf(
            "tracker pid %d: VmRSS %.1f MiB, VmHWM %.1f MiB, CPU %.0f%% of a core "
            "(%.1f us per request); load generator CPU %.0f%%\n",
            o.tracker_pid, r.tracker_end.rss_kib / 1024.0, r.tracker_end.hwm_kib / 1024.0,
            tracker_cpu_pct, tracker_us_per_request, own_cpu_pct);
    } else {
        std::printf("load generator CPU %.0f%% of a core\n", own_cpu_pct);
    }
    std::printf(
        "RESULT engine=groupshare connections=%d seconds=%.2f requests=%llu rps=%.0f "
        "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f errors=%llu unanswered=%llu "
        "rss_kib=%ld hwm_kib=%ld tracker_cpu_pct=%.0f tracker_us_per_request=%.1f "
        "loadgen_cpu_pct=%.0f reply_bytes=%zu peers=%zu\n",
        o.connections, r.window_s, static_cast<unsigned long long>(r.completed), rps, p50, p99,
        p999, max, static_cast<unsigned long long>(r.errors),
        static_cast<unsigned long long>(r.unanswered), r.tracker_end.rss_kib, r.tracker_end.hwm_kib,
        tracker_cpu_pct, tracker_us_per_request, own_cpu_pct, scenario->reply_bytes,
        scenario->peers);
    std::fflush(stdout);
    return r.errors == 0 && r.unanswered == 0 && r.completed > 0 ? 0 : 1;
}

}  // namespace
}  // namespace gs::bench

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);  // TLS writes use write(2); a reset is handled as an error
    return gs::bench::run(gs::bench::parse_args(argc, argv));
}
