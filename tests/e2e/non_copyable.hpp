// A base for the e2e types that own something outside the program (a directory, a descriptor, a
// child process): deriving from it deletes the copy constructor and copy assignment, and with
// them the implicit moves, so exactly one object cleans up what it owns.
#pragma once

namespace gs::e2e {

class NonCopyable {
protected:
    NonCopyable() = default;
    ~NonCopyable() = default;

public:
    NonCopyable(const NonCopyable&) = delete;
    NonCopyable& operator=(const NonCopyable&) = delete;
};

}  // namespace gs::e2e
