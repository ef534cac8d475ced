// Membership ends access, listings always fit, quotas (issue 10, findings 1 and 3):
// remove_member end to end; a member who leaves or is removed stops getting pieces once the
// ticket they hold expires (the tracker and the seeder run with the test-only --test-clock: their
// wall time stands still, and the test moves the seeder's to the ticket's expiry instead of
// waiting for it); list_groups and list_files of more items than one reply page print every
// item as before; the groups quota.
// Raw clients written here (not our code) play the leaver who kept a ticket.
#include "tests/e2e/fixtures.hpp"
#include "tests/e2e/peer_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <thread>

namespace gs::e2e {
namespace {

using ::testing::SizeIs;

// When a ticket expires: its "e" field (Unix seconds), the first integer in it (the signed body
// comes first and starts with it: d1:bN:d1:ei<expires>e...).
std::int64_t ticket_expiry(const std::string& ticket) {
    const std::string key = "1:ei";
    const auto at = ticket.find(key);
    if (at == std::string::npos) return 0;
    return std::stoll(ticket.substr(at + key.size()));  // the digits, up to the 'e
}

// What a program started with --test-clock answers when its clock is moved: its wall time then,
// in Unix seconds.
std::int64_t test_clock_time(const std::string& line) {
    const std::string prefix = "test clock at unix time ";
    EXPECT_EQ(line.rfind(prefix, 0), 0u) << line;
    return line.rfind(prefix, 0) == 0 ? std::stoll(line.substr(prefix.size())) : 0;
}

// Moves the clock of `c` `seconds` forward; its wall time then.
std::int64_t advance_clock(Client& c, std::int64_t seconds) {
    return test_clock_time(c.run_one("__advance_clock " + std::to_string(seconds)));
}

// The same for the tracker (`advance SECONDS` on its stdin).
std::int64_t advance_clock(Tracker& tracker, std::int64_t seconds) {
    tracker.process().send_line("advance " + std::to_string(seconds));
    return test_clock_time(tracker.process().wait_for_line("^test clock at unix time "));
}

// What a BitTorrent peer sends: a handshake, an extended handshake showing `ticket`, interested.
std::string peer_hello(const std::string& info_hash, const std::string& ticket) {
    return bep3_handshake(info_hash, "-XX0001-leaverleaver") + extended_ticket(ticket) +
           interested();
}

// A download under way, as a raw peer: one connection to the seeder that asks for a block, waits
// for it, and asks again.
class RawDownload {
public:
    RawDownload(std::uint16_t port, const std::string& info_hash, const std::string& ticket)
        : fd_(connect_from("127.0.0.1", port)) {
        EXPECT_GE(fd_, 0);
        send(peer_hello(info_hash, ticket));
    }
    ~RawDownload() { ::close(fd_); }

    // Asks for a block; true when a piece message comes within `wait`, false when the seeder
    // closes the connection (or sends nothing) instead.
    bool next_block(Duration wait) {
        if (!send(request_first_block())) return false;
        const auto deadline = Clock::now() + wait;
        while (Clock::now() < deadline) {
            // Walk whole messages after the 68-byte handshake.
            while (in_.size() >= at_ + 4) {
                const std::uint32_t len = get32(in_, at_);
                if (in_.size() < at_ + 4 + len) break;
                const bool piece = len > 0 && in_[at_ + 4] == kPieceId;
                at_ += 4 + len;
                if (piece) return true;
            }
            pollfd p{fd_, POLLIN, 0};
            auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
            if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
            char buf[65536];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return false;
            in_.append(buf, static_cast<std::size_t>(n));
        }
        return false;
    }

    // Sends only keep-alives (every 250 ms) and reads whatever comes; true when the seeder
    // closes the connection within `wait`.
    bool closed_while_idle(Duration wait) {
        const auto deadline = Clock::now() + wait;
        while (Clock::now() < deadline) {
            if (!send(std::string(4, '\0'))) return true;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 250) <= 0) continue;
            char buf[65536];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return true;
        }
        return false;
    }

private:
    bool send(const std::string& bytes) {
        return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(bytes.size());
    }
    int fd_ = -1;
    std::string in_;
    std::size_t at_ = kHandshakeBytes;
};

// A BitTorrent peer that shows `ticket` and asks for the first block on a new connection; true
// when the seeder at 127.0.0.1:`port` sends a piece within `wait`.
bool seeder_serves(std::uint16_t port, const std::string& info_hash, const std::string& ticket,
                   Duration wait) {
    const std::string hello = peer_hello(info_hash, ticket) + request_first_block();
    int fd = connect_from("127.0.0.1", port);
    if (fd < 0) return false;
    if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(hello.size())) {
        ::close(fd);
        return false;
    }
    std::string in;
    bool got_piece = false;
    const auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline && !got_piece) {
        pollfd p{fd, POLLIN, 0};
        auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
        if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
        char buf[65536];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        for (char id : message_ids(in)) got_piece |= id == kPieceId;
    }
    ::close(fd);
    return got_piece;
}

// A logged-in raw tracker connection (docs/protocol.md §1.3), for asking what the client would
// not show: the ticket itself.
class RawSession {
public:
    RawSession(const Tracker& tracker, const std::string& user)
        : conn_("127.0.0.1", tracker.port()) {
        auto reply = ask({{"op", Bencode::str("login")},
                          {"user", Bencode::str(user)},
                          {"password", Bencode::str("secret")},
                          {"listen", Bencode::str("127.0.0.1:9")}});
        EXPECT_NE(reply.find("2:oki1e"), std::string::npos) << reply;
    }

    // One request (seq added), its reply frame.
    std::string ask(std::vector<std::pair<std::string, std::string>> fields) {
        send(std::move(fields));
        auto reply = conn_.read_frame();
        return reply.value_or("");
    }
    void send(std::vector<std::pair<std::string, std::string>> fields) {
        fields.emplace_back("seq", Bencode::integer(++seq_));
        conn_.send_frame(Bencode::dict(std::move(fields)));
    }
    std::string read() { return conn_.read_frame().value_or(""); }

private:
    RawConnection conn_;
    std::int64_t seq_ = 0;
};

// A TCP relay between clients and the tracker on 127.0.0.1. Once armed, it cuts any connection
// on which the tracker has sent more than `cut_after` bytes since arming: a reply that drops
// the link, every time, as a reply too big for the client did.
class CuttingRelay {
public:
    explicit CuttingRelay(std::uint16_t tracker_port) : tracker_port_(tracker_port) {
        listener_ = listen_loopback(0, port_, "cutting relay");
        thread_ = std::thread([this] { run(); });
    }
    ~CuttingRelay() {
        stop_ = true;
        thread_.join();
        for (auto& [c, t] : pairs_) {
            ::close(c);
            ::close(t);
        }
        ::close(listener_);
    }
    std::uint16_t port() const { return port_; }
    void arm(std::size_t cut_after) {
        cut_after_ = cut_after;
        armed_ = true;
    }
    void disarm() { armed_ = false; }
    int connections() const { return accepted_; }

private:
    void run() {
        std::map<int, std::size_t> sent;  // client fd -> tracker bytes since arming
        while (!stop_) {
            std::vector<pollfd> fds{{listener_, POLLIN, 0}};
            for (auto& [c, t] : pairs_) {
                fds.push_back({c, POLLIN, 0});
                fds.push_back({t, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
            if (fds[0].revents & POLLIN) {
                int c = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
                int t = c >= 0 ? connect_from("127.0.0.1", tracker_port_) : -1;
                if (t >= 0) {
                    pairs_[c] = t;
                    ++accepted_;
                } else if (c >= 0) {
                    ::close(c);
                }
            }
            std::vector<int> dead;
            for (std::size_t i = 1; i + 1 < fds.size(); i += 2) {
                const int c = fds[i].fd, t = fds[i + 1].fd;
                char buf[65536];
                bool gone = false;
                if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                    ssize_t n = ::recv(c, buf, sizeof buf, 0);
                    gone |= n <= 0 || ::send(t, buf, n, MSG_NOSIGNAL) != n;
                }
                if (!gone && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
                    ssize_t n = ::recv(t, buf, sizeof buf, 0);
                    if (n > 0 && armed_) {
                        sent[c] += static_cast<std::size_t>(n);
                        gone |= sent[c] > cut_after_;
                    }
                    gone |= n <= 0 || ::send(c, buf, n, MSG_NOSIGNAL) != n;
                }
                if (!armed_) sent[c] = 0;
                if (gone) dead.push_back(c);
            }
            for (int c : dead) {
                ::close(pairs_[c]);
                ::close(c);
                pairs_.erase(c);
                sent.erase(c);
            }
        }
    }

    std::uint16_t tracker_port_;
    std::uint16_t port_ = 0;
    int listener_ = -1;
    std::map<int, int> pairs_;  // client fd -> tracker fd
    std::atomic<bool> stop_{false};
    std::atomic<bool> armed_{false};
    std::atomic<std::size_t> cut_after_{0};
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

// Uploads `count` files with long names into `group` on a raw session (pipelined).
void upload_fake_files(RawSession& raw, const std::string& group, int count,
                       std::size_t name_bytes = 0, int first = 10000) {
    for (int i = 0; i < count; ++i) {
        std::string name = "f" + std::to_string(first + i);
        name += std::string(name_bytes > name.size() ? name_bytes - name.size() : 0, 'n');
        const std::string info =
            Bencode::dict({{"length", Bencode::integer(5)},
                           {"name", Bencode::str(name)},
                           {"piece length", Bencode::integer(16384)},
                           {"pieces", Bencode::str(std::string(20, static_cast<char>(i)))},
                           {"private", Bencode::integer(1)}});
        raw.send({{"op", Bencode::str("upload_file")},
                  {"group", Bencode::str(group)},
                  {"info", Bencode::str(info)}});
    }
    int ok = 0;
    for (int i = 0; i < count; ++i) ok += raw.read().find("2:oki1e") != std::string::npos;
    ASSERT_EQ(ok, count);
}

class MembershipTest : public E2eTest {
protected:
    void SetUp() override {
        tracker_.set_extra_args({"--test-clock"});
        use_plain_peer_wire();  // the raw leaver speaks plain BEP 3
        E2eTest::SetUp();
    }

    // alice owns g and shares secret.bin in it; `members` are let in. alice's client runs on a
    // test clock: its wall time stands still until advance_clock() moves it.
    void group_with_file(std::initializer_list<std::string> members) {
        alice_ = &new_client({"--test-clock"});
        alice_->must("create_user alice secret", "user alice created");
        alice_->must("login alice secret", "logged in as alice");
        alice_->must("create_group g", "group g created; you are its owner");
        for (const auto& m : members) {
            Client& c = logged_in(m);
            join_group(*alice_, c, m, "g");
            clients_by_name_[m] = &c;
        }
        content_ = random_bytes(200000, 7);
        write_file(dir_ / "src" / "secret.bin", content_);
        auto lines = alice_->run("upload_file " + (dir_ / "src" / "secret.bin").string() + " g");
        ASSERT_THAT(lines, SizeIs(1));
        std::smatch m;
        ASSERT_TRUE(std::regex_search(lines[0], m, std::regex("info hash ([0-9a-f]{40})")))
            << lines[0];
        hash_hex_ = m[1];
        const std::string& addr = alice_->listen_address();
        seeder_port_ = static_cast<std::uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
    }

    // The ticket get_peers hands `raw`'s user for secret.bin.
    std::string ticket_for(RawSession& raw) {
        auto reply = raw.ask({{"op", Bencode::str("get_peers")},
                              {"group", Bencode::str("g")},
                              {"info_hash", Bencode::str(hash_hex_)}});
        std::string ticket = bencode_string_field(reply, "ticket");
        EXPECT_FALSE(ticket.empty()) << reply;
        return ticket;
    }

    // `who` held a ticket while a member and `end_membership` ends that: the tracker gives no new
    // one, and the seeder serves the ticket held (a download under way) until its clock reaches
    // the ticket's expiry and not from then on, neither under way nor on a new connection,
    // while a member who stays (`stayer`) still downloads the file.
    void access_ends(const std::string& who, const std::function<void()>& end_membership,
                     const std::string& stayer) {
        RawSession raw(tracker_, who);
        const std::string ticket = ticket_for(raw);
        const std::int64_t expires = ticket_expiry(ticket);
        const std::string hash = hex_to_bytes(hash_hex_);
        ASSERT_TRUE(seeder_serves(seeder_port_, hash, ticket, Duration(5000)))
            << "the seeder does not serve a member's ticket: the test could not fail";
        // A download under way when the membership ends.
        RawDownload under_way(seeder_port_, hash, ticket);
        ASSERT_TRUE(under_way.next_block(Duration(5000)));

        end_membership();
        // The tracker gives no new ticket...
        auto reply = raw.ask({{"op", Bencode::str("get_peers")},
                              {"group", Bencode::str("g")},
                              {"info_hash", Bencode::str(hash_hex_)}});
        EXPECT_NE(reply.find("you are not a member of group 'g'"), std::string::npos) << reply;
        // ...and the one held works until the seeder's clock reaches its expiry (a second
        // before, the download under way still gets blocks: the clock is what ends it)...
        const std::int64_t now = advance_clock(*alice_, 0);
        ASSERT_LT(now, expires) << "the seeder's clock is past the ticket's expiry already";
        EXPECT_EQ(advance_clock(*alice_, expires - 1 - now), expires - 1);
        ASSERT_TRUE(under_way.next_block(Duration(5000)))
            << "the download under way stopped before the ticket expired: the test shows nothing";
        // ...and not from then on: the download under way is closed at its next request, and a
        // new connection with that ticket is refused, each for that reason.
        EXPECT_EQ(advance_clock(*alice_, 1), expires);
        EXPECT_FALSE(under_way.next_block(Duration(5000)))
            << "the seeder still serves a download under way by a member who is gone";
        // (At the request, or at the ticket check if that came first: both for the expiry, as
        // the group still shares the file and no newer epoch was shown.)
        alice_->process().wait_for_stderr_line(
            "closed: (request without a valid download ticket|ticket expired and no newer one "
            "shown)");
        EXPECT_FALSE(seeder_serves(seeder_port_, hash, ticket, Duration(5000)))
            << "the seeder still serves a ticket of a member who is gone";
        alice_->process().wait_for_stderr_line("closed: ticket refused: expired");
        // The tracker's clock catches up with the seeder's, so that the tickets it issues from
        // now on outlive the seeder's clock.
        const std::int64_t tracker_now = advance_clock(tracker_, 0);
        advance_clock(tracker_, expires - tracker_now);
        // A member who stays goes on.
        Client& s = *clients_by_name_.at(stayer);
        fs::create_directories(dir_ / ("down-" + stayer));
        const fs::path dest = dir_ / ("down-" + stayer) / "secret.bin";
        auto started = s.run("download_file g secret.bin " + dest.parent_path().string());
        ASSERT_THAT(started, SizeIs(1));
        EXPECT_THAT(started[0], StartsWith("downloading secret.bin"));
        s.process().wait_for_line("^\\[C\\] \\[g\\] secret\\.bin", Duration(30000));
        EXPECT_TRUE(read_file(dest) == content_);
    }

    Client* alice_ = nullptr;
    std::map<std::string, Client*> clients_by_name_;
    std::string content_;
    std::string hash_hex_;
    std::uint16_t seeder_port_ = 0;
};

// A removed member cannot renew his ticket, but an admitted connection used to keep its upload
// slot for as long as it sent keep-alives (32 per address, 256 in all: finding 5 again, with a
// ticket once valid). It is now closed once its ticket has expired and no newer one came within
// the seeder's ticket_timeout (3 s): the test moves the seeder's clock that far.
TEST_F(MembershipTest, AnAdmittedConnectionWhoseTicketLapsesLosesItsSlot) {
    constexpr std::int64_t kTicketTimeout = 3;  // the seeder's UploadLimits::ticket_timeout
    group_with_file({"bob"});
    RawSession raw(tracker_, "bob");
    const std::string ticket = ticket_for(raw);
    const std::int64_t expires = ticket_expiry(ticket);
    RawDownload held(seeder_port_, hex_to_bytes(hash_hex_), ticket);
    ASSERT_TRUE(held.next_block(Duration(5000))) << "not admitted: the test could not fail";
    alice_->must("remove_member g bob", "bob is no longer a member of group g");
    const std::int64_t now = advance_clock(*alice_, 0);
    ASSERT_LT(now, expires) << "the seeder's clock is past the ticket's expiry already";
    advance_clock(*alice_, expires + kTicketTimeout - now);
    EXPECT_TRUE(held.closed_while_idle(kDefaultTimeout))
        << "a removed member keeps an upload slot with keep-alives";
    alice_->process().wait_for_stderr_line("closed: ticket expired and no newer one shown");
}

TEST_F(MembershipTest, OwnerRemovesAMemberAndOnlyTheOwnerCan) {
    group_with_file({"bob", "carol"});
    Client& bob = *clients_by_name_["bob"];
    Client& carol = *clients_by_name_["carol"];
    EXPECT_THAT(carol.run("remove_member g bob"),
                ElementsAre("error: only the owner of group 'g' can remove members"));
    EXPECT_THAT(alice_->run("remove_member g bob"),
                ElementsAre("bob is no longer a member of group g"));
    EXPECT_THAT(bob.run("list_files g"), ElementsAre("error: you are not a member of group 'g'"));
    EXPECT_THAT(bob.run("list_groups"), ElementsAre("g  (not a member; join_group g to ask)"));
    EXPECT_THAT(alice_->run("remove_member g bob"),
                ElementsAre("error: 'bob' is not a member of group 'g'"));
    EXPECT_THAT(alice_->run("remove_member g alice"),
                ElementsAre("error: you own group 'g'; use leave_group g to leave it"));
    EXPECT_THAT(alice_->run("remove_member nowhere bob"),
                ElementsAre("error: group 'nowhere' does not exist"));
    EXPECT_THAT(alice_->run("remove_member g"),
                ElementsAre("error: usage: remove_member <group_id> <user_id>"));
    EXPECT_THAT(carol.run("list_groups"), ElementsAre(member_of("g", "alice", 2)));
    // bob may ask again.
    ask_to_join(bob, "g");
}

TEST_F(MembershipTest, AMemberWhoLeavesStopsGettingPiecesWithinTheTicketLifetime) {
    group_with_file({"bob", "carol"});
    access_ends(
        "bob", [&] { clients_by_name_["bob"]->must("leave_group g", "left group g"); }, "carol");
}

TEST_F(MembershipTest, AMemberWhoIsRemovedStopsGettingPiecesWithinTheTicketLifetime) {
    group_with_file({"bob", "carol"});
    access_ends(
        "bob", [&] { alice_->must("remove_member g bob", "bob is no longer a member of group g"); },
        "carol");
}

// A removed member's ticket is dead at a seeder as soon as any member shows it a ticket issued
// after the removal (a newer membership epoch), before it expires: the seeder's test clock is
// never moved, so its wall time stands before the expiry, and it says why it refuses.
using EpochTest = MembershipTest;

TEST_F(EpochTest, ARemovedMembersTicketDiesAtASeederOnceItSeesANewerEpoch) {
    group_with_file({"bob", "carol"});
    const std::string hash = hex_to_bytes(hash_hex_);
    RawSession bob(tracker_, "bob");
    const std::string old_ticket = ticket_for(bob);
    ASSERT_TRUE(seeder_serves(seeder_port_, hash, old_ticket, Duration(5000)))
        << "the seeder does not serve a member's ticket: the test could not fail";
    alice_->must("remove_member g bob", "bob is no longer a member of group g");
    ASSERT_LT(advance_clock(*alice_, 0), ticket_expiry(old_ticket))
        << "the seeder's clock is past the ticket's expiry already";
    // carol's next ticket carries the new epoch; the seeder learns it when she shows it.
    RawSession carol(tracker_, "carol");
    ASSERT_TRUE(seeder_serves(seeder_port_, hash, ticket_for(carol), Duration(5000)));
    EXPECT_FALSE(seeder_serves(seeder_port_, hash, old_ticket, Duration(5000)))
        << "a ticket from before the removal still opens the share";
    alice_->process().wait_for_stderr_line(
        "closed: ticket refused: issued before a membership change");
}

// 3 accounts own 100 groups each, the quota, pipelined on raw connections; the 101st is
// refused. list_groups then needs more than one page (500), and prints all 300... plus the
// rest, one per line as before.
TEST_F(MembershipTest, ListGroupsOfManyPagesPrintsEveryGroupAndTheGroupsQuotaHolds) {
    constexpr int kAccounts = 6;
    constexpr int kQuota = 100;
    Client& viewer = logged_in("viewer");
    for (int a = 0; a < kAccounts; ++a) {
        const std::string user = "u" + std::to_string(a);
        viewer.must("create_user " + user + " secret", "user " + user + " created");
        RawSession raw(tracker_, user);
        for (int i = 0; i <= kQuota; ++i) {
            raw.send({{"op", Bencode::str("create_group")},
                      {"group", Bencode::str(user + "-" + std::to_string(1000 + i))}});
        }
        for (int i = 0; i < kQuota; ++i) {
            auto reply = raw.read();
            ASSERT_NE(reply.find("2:oki1e"), std::string::npos) << i << ": " << reply;
        }
        auto refused = raw.read();
        EXPECT_NE(refused.find("you already own 100 groups, the most one account may own "
                               "(groups quota); leave one you own first"),
                  std::string::npos)
            << refused;
    }
    create_group(viewer, "zz");
    auto lines = viewer.run("list_groups", Duration(30000));
    ASSERT_THAT(lines, SizeIs(kAccounts * kQuota + 1));
    EXPECT_EQ(lines[0], "u0-1000  (not a member; join_group u0-1000 to ask)");
    EXPECT_EQ(lines[kAccounts * kQuota - 1], "u5-1099  (not a member; join_group u5-1099 to ask)");
    EXPECT_EQ(lines.back(), member_of("zz", "viewer", 1));
}

// More files than one reply page: list_files prints each, in name order, as before.
TEST_F(MembershipTest, ListFilesOfManyPagesPrintsEveryFile) {
    constexpr int kFiles = 1100;  // over two pages; from two accounts, as one may add 1000
    Client& alice = logged_in("alice");
    create_group(alice, "g");
    Client& bob = logged_in("bob");
    join_group(alice, bob, "bob", "g");
    {
        RawSession raw(tracker_, "alice");
        upload_fake_files(raw, "g", 600);
    }
    RawSession raw(tracker_, "bob");
    upload_fake_files(raw, "g", kFiles - 600, 0, 10600);
    auto lines = alice.run("list_files g", Duration(30000));
    ASSERT_THAT(lines, SizeIs(kFiles));
    EXPECT_THAT(lines.front(), StartsWith("f10000  5 B  seeders=1"));
    EXPECT_THAT(lines.back(), StartsWith("f11099  5 B  seeders=1"));
}

// A request whose answer drops the link is sent once more after the reconnect, then fails with
// one error line: the client does not go round reconnecting (it did ~100 times per command).
TEST_F(MembershipTest, ARequestWhoseAnswerDropsTheLinkTwiceFailsWithOneError) {
    CuttingRelay relay(tracker_.port());
    Client& owner = logged_in("alice");
    create_group(owner, "g");
    {
        RawSession raw(tracker_, "alice");
        upload_fake_files(raw, "g", 300, 200);  // a list_files reply of about 80 KB
    }
    // This client reaches the tracker only through the relay.
    write_file(tracker_.client_info_path(), "127.0.0.1:" + std::to_string(relay.port()) + "\n");
    Client& c = new_client();
    c.must("login alice secret", "logged in as alice");
    ASSERT_THAT(c.run("list_files g"), SizeIs(300));
    const int before = relay.connections();
    relay.arm(20000);
    auto lines = c.run("list_files g");
    ASSERT_THAT(lines, SizeIs(1));
    EXPECT_THAT(lines[0], ::testing::MatchesRegex(
                              "error: the connection to the tracker 127\\.0\\.0\\.1:[0-9]+ "
                              "dropped twice while it answered list_files \\(last: .*\\); not "
                              "sent again: try later, or tell the tracker's operator"));
    // The first send and one resend: two connections cut (a third may be coming up), not the
    // ~100 of a client going round reconnecting.
    EXPECT_LE(relay.connections() - before, 3);
    relay.disarm();
    EXPECT_THAT(c.run("list_files g"), SizeIs(300));
}

}  // namespace
}  // namespace gs::e2e
