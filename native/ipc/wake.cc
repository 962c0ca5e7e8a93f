#include "ipc/wake.h"

#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace zerocopy::ipc {

void FutexWait(Atomic32* word, uint32_t expected, int timeout_ms) {
  struct timespec timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &timeout, nullptr, 0);
}

void FutexWakeAll(Atomic32* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

bool ProcessAlive(uint32_t pid) {
  if (pid == 0 || pid > static_cast<uint32_t>(INT_MAX)) return false;
  if (pid == static_cast<uint32_t>(getpid())) return true;
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (fd >= 0) {
    struct pollfd probe = {fd, POLLIN, 0};
    int ready = poll(&probe, 1, 0);
    close(fd);
    return ready == 0;
  }
  if (errno != ENOSYS) return errno != ESRCH;
#endif
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

int ProbeFutex() {
  Atomic32 word{0};
  long result = syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
  return result < 0 ? -errno : 0;
}

int ProbePidfd() {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  if (fd < 0) return -errno;
  close(fd);
  return 0;
#else
  return -ENOSYS;
#endif
}

}  // namespace zerocopy::ipc
