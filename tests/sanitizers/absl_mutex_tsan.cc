// ThreadSanitizer builds only (tests/CMakeLists.txt links this file into
// the TSan test binaries): tells TSan about absl::Mutex and absl::CondVar.
//
// storage/ and server/ guard their state with absl::Mutex. An abseil built
// with -fsanitize=thread reports each lock and unlock to TSan itself
// (ABSL_TSAN_MUTEX_* in its mutex.cc), but Debian's libabsl is not
// instrumented: TSan would see none of its synchronization and report every
// guarded access as a race. So this file interposes the out-of-line entry
// points that our code calls (an executable's definitions come before a
// shared library's), reports them through TSan's mutex annotation API
// (<sanitizer/tsan_interface.h>), and calls abseil's own, found with
// dlsym(RTLD_NEXT). The inline constructor already reports creation (the
// header's ABSL_TSAN_MUTEX_CREATE is on in an instrumented compile).
//
// A CondVar wait is reported as an unlock before and a lock after it.
// Mutex::Await, LockWhen and their variants are not interposed: TSan would
// miss the unlock inside them, so our code uses CondVar instead.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#define WINNOW_TSAN_STR2(x) #x
#define WINNOW_TSAN_STR(x) WINNOW_TSAN_STR2(x)

namespace {

// abseil's own definition of `_ZN4absl<inline namespace><rest>`, such as
// rest = "5Mutex4LockEv" for absl::Mutex::Lock().
template <typename Fn>
Fn Abseils(const char* rest) {
  static const char kInline[] =
      WINNOW_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      "_ZN4absl" + std::to_string(std::strlen(kInline)) + kInline + rest;
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: abseil has no %s\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

constexpr unsigned kRead = __tsan_mutex_read_lock;

// Runs `wait`, a CondVar wait that releases `mu` for its duration.
template <typename Wait>
auto Waiting(absl::Mutex* mu, Wait&& wait) {
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  auto result = wait();
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

Mutex::~Mutex() {
  static const auto real = Abseils<void (*)(Mutex*)>("5MutexD1Ev");
  __tsan_mutex_destroy(this, 0);
  real(this);
}

void Mutex::Lock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex4LockEv");
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::Unlock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

bool Mutex::TryLock() {
  static const auto real = Abseils<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(
      this, __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed),
      0);
  return locked;
}

void Mutex::ReaderLock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  __tsan_mutex_pre_lock(this, kRead);
  real(this);
  __tsan_mutex_post_lock(this, kRead, 0);
}

void Mutex::ReaderUnlock() {
  static const auto real = Abseils<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_mutex_pre_unlock(this, kRead);
  real(this);
  __tsan_mutex_post_unlock(this, kRead);
}

bool Mutex::ReaderTryLock() {
  static const auto real = Abseils<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_read_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(
      this,
      locked ? __tsan_mutex_try_read_lock : __tsan_mutex_try_read_lock_failed,
      0);
  return locked;
}

void CondVar::Wait(Mutex* mu) {
  static const auto real =
      Abseils<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Waiting(mu, [&] {
    real(this, mu);
    return 0;
  });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Abseils<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return Waiting(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Abseils<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return Waiting(mu, [&] { return real(this, mu, deadline); });
}

ABSL_NAMESPACE_END
}  // namespace absl
