#include "front/cache_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace zerocopy {

namespace {

// Sealed memfds, and the open files of bodies too large to keep, are sent with sendfile;
// each is a descriptor, so there are at most this many.
constexpr size_t kMaxBodyDescriptors = 1024;

}  // namespace

const EntryRef* CacheStore::Find(const std::string& key, uint64_t now) const {
  auto found = entries_.find(key);
  if (found == entries_.end() || found->second->valid_until <= now) return nullptr;
  return &found->second;
}

bool CacheStore::CanKeepDescriptor() const { return body_descriptors_ < kMaxBodyDescriptors; }

void CacheStore::StoreBody(Entry* entry, const char* data, size_t size) {
  entry->body_size = size;
  if (size >= sendfile_min_ && body_descriptors_ < kMaxBodyDescriptors) {
    int fd = memfd_create("zerocopy-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    size_t written = 0;
    while (fd >= 0 && written < size) {
      ssize_t n = write(fd, data + written, size - written);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) written += static_cast<size_t>(n);
    }
    if (fd >= 0 && written == size &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0) {
      entry->body_fd = fd;
      return;
    }
    if (fd >= 0) close(fd);
  }
  entry->body.assign(data, size);
}

bool CacheStore::Store(const std::string& key, EntryRef entry, uint64_t now) {
  Erase(key);
  size_t size = entry->memory();
  if (entries_.size() + 1 > max_entries_ || bytes_ + size > max_bytes_) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second->valid_until <= now) {
        Forget(*it->second);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (entries_.size() + 1 > max_entries_ || bytes_ + size > max_bytes_) {
    for (auto& [k, e] : entries_) Forget(*e);
    entries_.clear();
  }
  if (size > max_bytes_ || max_entries_ == 0) return false;
  bytes_ += size;
  if (entry->body_fd >= 0) body_descriptors_++;
  entries_.emplace(key, std::move(entry));
  return true;
}

void CacheStore::Erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Forget(*it->second);
  entries_.erase(it);
}

void CacheStore::Forget(const Entry& entry) {
  bytes_ -= entry.memory();
  if (entry.body_fd >= 0) body_descriptors_--;
}

}  // namespace zerocopy
