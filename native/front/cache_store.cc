#include "front/cache_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace zerocopy {

CacheStore::CacheStore(size_t max_entries, size_t max_bytes, size_t sendfile_min, size_t max_descriptors)
    : not_answerable_(std::make_shared<Entry>()),
      max_entries_(max_entries),
      max_bytes_(max_bytes),
      sendfile_min_(sendfile_min),
      max_descriptors_(max_descriptors) {
  not_answerable_->answerable = false;
}

const EntryRef* CacheStore::Find(const std::string& key, uint64_t now) {
  auto found = keys_.find(key);
  if (found == keys_.end()) return nullptr;
  Key& k = found->second;
  key_order_.splice(key_order_.begin(), key_order_, k.recent);
  if (k.file_key.empty()) return k.valid_until > now ? &not_answerable_ : nullptr;
  auto answer = answers_.find(k.file_key);
  if (answer == answers_.end() || answer->second.entry->valid_until <= now) return nullptr;
  Answer& a = answer->second;
  answer_order_.splice(answer_order_.begin(), answer_order_, a.recent);
  if (a.entry->body_fd >= 0) descriptor_order_.splice(descriptor_order_.begin(), descriptor_order_, a.recent_descriptor);
  return &a.entry;
}

void CacheStore::StoreBody(Entry* entry, const char* data, size_t size) {
  entry->body_size = size;
  if (size >= sendfile_min_ && descriptors_ < max_descriptors_) {
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
  if (!entry->answerable) return PointKey(key, std::string(), entry->valid_until);
  // Already expired: nothing to keep (and nothing that would ever be found).
  if (entry->valid_until <= now) {
    Erase(key);
    return false;
  }
  std::string file_key = entry->file_key.empty() ? key : entry->file_key;
  auto old = answers_.find(file_key);
  if (old != answers_.end() && old->second.entry == entry) {
    // Refresh()ed: one more key points at it.
    return PointKey(key, file_key, 0);
  }
  if (old != answers_.end()) EraseAnswer(old);
  size_t size = entry->memory();
  bool descriptor = entry->body_fd >= 0;
  if (size > max_bytes_ || max_entries_ == 0 || (descriptor && max_descriptors_ == 0)) {
    Erase(key);
    return false;
  }
  // Expired answers are purged by the sweep (PurgeExpired); here the least recently used go.
  while (answers_.size() + 1 > max_entries_ || bytes_ + size > max_bytes_) {
    evictions_++;
    EraseAnswer(answers_.find(*answer_order_.back()));
  }
  while (descriptor && descriptors_ + 1 > max_descriptors_) {
    evictions_++;
    EraseAnswer(answers_.find(*descriptor_order_.back()));
  }
  auto [it, inserted] = answers_.emplace(file_key, Answer{std::move(entry), {}, {}});
  Answer& a = it->second;
  a.recent = answer_order_.insert(answer_order_.begin(), &it->first);
  if (descriptor) {
    a.recent_descriptor = descriptor_order_.insert(descriptor_order_.begin(), &it->first);
    descriptors_++;
  }
  bytes_ += size;
  // Stored only if a request can find it: otherwise a waiter served from the table would park again.
  return PointKey(key, file_key, 0);
}

EntryRef CacheStore::Refresh(const std::string& file_key, uint64_t valid_until) {
  if (file_key.empty()) return nullptr;
  auto found = answers_.find(file_key);
  if (found == answers_.end()) return nullptr;
  Entry& entry = *found->second.entry;
  entry.valid_until = std::max(entry.valid_until, valid_until);
  return found->second.entry;
}

bool CacheStore::PointKey(const std::string& key, const std::string& file_key, uint64_t valid_until) {
  auto found = keys_.find(key);
  if (found != keys_.end()) {
    key_order_.splice(key_order_.begin(), key_order_, found->second.recent);
    key_bytes_ -= found->second.file_key.size();
  } else {
    // Request keys are cheap to make again (one fill, answered from JavaScript's cache), so
    // the coldest ones simply make room.
    size_t size = key.size() + file_key.size();
    if (max_entries_ == 0 || size > kMaxKeyBytes) return false;
    while (!keys_.empty() && (keys_.size() >= max_entries_ || key_bytes_ + size > kMaxKeyBytes))
      EraseKey(keys_.find(*key_order_.back()));
    found = keys_.emplace(key, Key{}).first;
    found->second.recent = key_order_.insert(key_order_.begin(), &found->first);
    key_bytes_ += key.size();
  }
  found->second.file_key = file_key;
  found->second.valid_until = valid_until;
  key_bytes_ += file_key.size();
  return true;
}

void CacheStore::Erase(const std::string& key) {
  auto it = keys_.find(key);
  if (it != keys_.end()) EraseKey(it);
}

void CacheStore::PurgeExpired(uint64_t now) {
  for (auto it = answers_.begin(); it != answers_.end();) {
    auto next = std::next(it);
    if (it->second.entry->valid_until <= now) EraseAnswer(it);
    it = next;
  }
  for (auto it = keys_.begin(); it != keys_.end();) {
    auto next = std::next(it);
    const Key& k = it->second;
    if (k.file_key.empty() ? k.valid_until <= now : answers_.count(k.file_key) == 0) EraseKey(it);
    it = next;
  }
}

void CacheStore::Clear() {
  answers_.clear();
  keys_.clear();
  answer_order_.clear();
  descriptor_order_.clear();
  key_order_.clear();
  bytes_ = descriptors_ = key_bytes_ = 0;
}

// The entry leaves the table; responses in flight may still hold it (and its descriptor).
void CacheStore::EraseAnswer(std::unordered_map<std::string, Answer>::iterator it) {
  const Entry& entry = *it->second.entry;
  bytes_ -= entry.memory();
  if (entry.body_fd >= 0) {
    descriptors_--;
    descriptor_order_.erase(it->second.recent_descriptor);
  }
  answer_order_.erase(it->second.recent);
  answers_.erase(it);
}

void CacheStore::EraseKey(std::unordered_map<std::string, Key>::iterator it) {
  key_bytes_ -= it->first.size() + it->second.file_key.size();
  key_order_.erase(it->second.recent);
  keys_.erase(it);
}

}  // namespace zerocopy
