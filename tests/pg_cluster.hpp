// A throwaway PostgreSQL cluster for one test binary (unit and end-to-end): started by
// scripts/pg-cluster.sh into a fresh temporary directory the first time a test asks for it,
// stopped and removed when the binary exits (also when tests failed). Each test then makes its
// own database. When PostgreSQL is not installed, fresh_database() fails with the script's
// message: the tests that need it fail, they are not skipped.
#pragma once

#include "tracker/pg/pg_store.hpp"

#include <sodium.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#ifndef GS_SOURCE_DIR
#error "GS_SOURCE_DIR (the repository's root) must be defined by the build"
#endif

namespace gs::test {

class PgTestCluster {
public:
    static PgTestCluster& get() {
        static PgTestCluster* cluster = [] {
            auto* c = new PgTestCluster();
            std::atexit([] { get().stop(); });
            return c;
        }();
        return *cluster;
    }

    enum class Schema { Migrated, Empty };

    // The URI of a new database "t_<random>" on the cluster, with every migration applied
    // (copied from a template migrated once per binary, which is faster) or empty; an error
    // saying why not.
    Result<std::string> fresh_database(Schema schema = Schema::Migrated) {
        std::lock_guard<std::mutex> lock(mu_);
        if (admin_uri_.empty() && start_error_.empty()) start();
        if (!start_error_.empty()) return make_error(Errc::Internal, start_error_);
        unsigned char bytes[8];
        randombytes_buf(bytes, sizeof bytes);
        std::string name = "t_";
        for (unsigned char b : bytes) name += "0123456789abcdef"[b % 16];
        tracker::pg::Conn admin(admin_uri_);
        std::string create = "CREATE DATABASE " + name;
        if (schema == Schema::Migrated) create += " TEMPLATE gs_migrated";
        if (auto s = admin.exec(create); !s) return s.error();
        return uri_of(name);
    }

    // Stops the running server at once (pg_ctl's immediate mode: no shutdown checkpoint, as a
    // crash would), keeping its data; start_server() starts it again on the same socket. An
    // error saying why not.
    Status stop_server() {
        std::lock_guard<std::mutex> lock(mu_);
        if (admin_uri_.empty()) return make_error(Errc::Internal, "the test cluster never started");
        return script_status(run_script("stop " + dir_ + " --discard 2>&1"));
    }
    Status start_server() {
        std::lock_guard<std::mutex> lock(mu_);
        if (admin_uri_.empty()) return make_error(Errc::Internal, "the test cluster never started");
        return script_status(run_script("start " + dir_ + " 2>&1"));
    }

    // Runs scripts/pg-cluster.sh with `args` (a shell command line's tail, redirections
    // included): its exit status and standard output.
    static std::pair<int, std::string> run_script(const std::string& args) {
        std::string command = std::string(GS_SOURCE_DIR) + "/scripts/pg-cluster.sh " + args;
        std::string output;
        FILE* p = ::popen(command.c_str(), "r");
        if (p == nullptr) return {-1, "cannot run " + command};
        char buffer[512];
        while (std::fgets(buffer, sizeof buffer, p) != nullptr) output += buffer;
        int status = ::pclose(p);
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
    }

private:
    static Status script_status(const std::pair<int, std::string>& run) {
        if (run.first == 0) return {};
        return make_error(Errc::Internal, "scripts/pg-cluster.sh failed: " + run.second);
    }

    void start() {
        std::string pattern = (std::filesystem::temp_directory_path() / "gs-pg-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            start_error_ = "mkdtemp failed for the PostgreSQL test cluster";
            return;
        }
        dir_ = pattern;
        auto [status, output] = run_script("start " + dir_ + " 2>&1");
        while (!output.empty() && output.back() == '\n') output.pop_back();
        if (status != 0) {
            start_error_ =
                "the PostgreSQL test cluster did not start (PostgreSQL 15 is needed: "
                "scripts/install-deps.sh --test): " +
                output;
            return;
        }
        admin_uri_ = output.substr(output.rfind('\n') + 1);
        tracker::pg::Conn admin(admin_uri_);
        if (auto s = admin.exec("CREATE DATABASE gs_migrated"); !s) {
            start_error_ = s.error().message;
            return;
        }
        auto migrated = tracker::PgStore::open(uri_of("gs_migrated"), "template");
        if (!migrated) start_error_ = migrated.error().message;
    }

    std::string uri_of(const std::string& database) const {
        return admin_uri_.substr(0, admin_uri_.rfind('/') + 1) + database;
    }

    void stop() {
        if (dir_.empty()) return;
        run_script("stop " + dir_ + " --discard >/dev/null 2>&1");  // it is deleted next
        // The server's last processes may still be going away: a second pass takes what they
        // left.
        std::error_code failed;
        for (int pass = 0; pass < 2 && std::filesystem::exists(dir_); ++pass) {
            std::filesystem::remove_all(dir_, failed);
        }
        if (failed)
            std::fprintf(stderr, "cannot remove %s: %s\n", dir_.c_str(), failed.message().c_str());
        dir_.clear();
    }

    std::mutex mu_;
    std::string dir_;
    std::string admin_uri_;
    std::string start_error_;
};

}  // namespace gs::test
