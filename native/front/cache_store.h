// The native front's cache: answers by key (target, and Accept-Encoding when it varies), each
// valid until JavaScript's copy expires, within a count and a byte budget. A body is kept in
// memory, in a sealed memfd (from sendfile_min on), or read from its open file (on_disk).
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

#include "front/types.h"

namespace zerocopy {

class CacheStore {
 public:
  CacheStore(size_t max_entries, size_t max_bytes, size_t sendfile_min)
      : max_entries_(max_entries), max_bytes_(max_bytes), sendfile_min_(sendfile_min) {}

  // The entry stored for `key` and still valid at `now`, or nullptr.
  const EntryRef* Find(const std::string& key, uint64_t now) const;
  // Returns whether the entry is in the table (a body larger than the whole budget is not).
  bool Store(const std::string& key, EntryRef entry, uint64_t now);
  void Erase(const std::string& key);
  // Gives `entry` its body: a sealed memfd when it is large enough and descriptors are left.
  void StoreBody(Entry* entry, const char* data, size_t size);
  // Whether one more body may be kept as a descriptor.
  bool CanKeepDescriptor() const;
  size_t size() const { return entries_.size(); }
  void Clear() { entries_.clear(); }

 private:
  // An entry leaves the table (responses in flight may still hold it).
  void Forget(const Entry& entry);

  std::unordered_map<std::string, EntryRef> entries_;
  size_t max_entries_, max_bytes_, sendfile_min_;
  size_t bytes_ = 0, body_descriptors_ = 0;
};

}  // namespace zerocopy
