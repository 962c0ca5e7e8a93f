#include "ipc/event_wake.h"

#include <unistd.h>

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

}  // namespace zerocopy::ipc
