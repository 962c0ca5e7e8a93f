#include "ipc/event_wake.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include <map>
#include <mutex>
#include <tuple>

namespace zerocopy::ipc {

namespace {

using Key = std::tuple<uint64_t, uint64_t, uint32_t>;

// Leaked on purpose: a Worker's cleanup may run while the process exits.
std::mutex& RegistryMutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}

std::map<Key, int>& Registry() {
  static auto* registry = new std::map<Key, int>;
  return *registry;
}

Key KeyOf(const EventKey& key) { return Key(key.device, key.inode, key.index); }

}  // namespace

void RegisterEventFd(const EventKey& key, int fd) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry()[KeyOf(key)] = fd;
}

void UnregisterEventFd(const EventKey& key) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry().erase(KeyOf(key));
}

void SignalEventFd(const EventKey& key) {
  // The write happens under the lock: the owner cannot close the descriptor meanwhile.
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto found = Registry().find(KeyOf(key));
  if (found == Registry().end()) return;
  uint64_t one = 1;
  // A full counter (never in practice) already reads as readable: nothing to retry.
  [[maybe_unused]] ssize_t written = write(found->second, &one, sizeof(one));
}

namespace {

// An abstract name (no file, gone with the socket): "\0zerocopy-wake/dev/inode/index/pid".
socklen_t WakeAddress(const EventKey& key, uint32_t pid, sockaddr_un* address) {
  memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  int length = snprintf(address->sun_path + 1, sizeof(address->sun_path) - 1, "zerocopy-wake/%llx/%llx/%u/%u",
                        static_cast<unsigned long long>(key.device), static_cast<unsigned long long>(key.inode),
                        key.index, pid);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
}

// One unbound socket per process sends every wake-up; made on first use, never closed.
int SenderSocket() {
  static int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd;
}

}  // namespace

int BindWakeSocket(const EventKey& key, uint32_t pid) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_un address;
  socklen_t length = WakeAddress(key, pid, &address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  return fd;
}

int SendWake(const EventKey& key, uint32_t pid) {
  int fd = SenderSocket();
  if (fd < 0) return -EBADF;
  sockaddr_un address;
  socklen_t length = WakeAddress(key, pid, &address);
  char byte = 1;
  if (sendto(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), length) == 1) return 0;
  // A full queue means wake-ups are pending already: the sleeper is readable.
  return errno == EAGAIN ? 0 : -errno;
}

void DrainWakeSocket(int fd) {
  // One datagram: a sleep is signalled once (the waker takes the mark). A second one (a
  // wake that raced our own re-check) leaves the socket readable: one early wake-up,
  // which the caller absorbs, instead of a second read on every wake.
  char byte;
  [[maybe_unused]] ssize_t received = recv(fd, &byte, 1, MSG_DONTWAIT);
}

}  // namespace zerocopy::ipc
