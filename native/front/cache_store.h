// The native front's cache, in two tables. Answers are stored by what JavaScript resolved the
// request to (Entry::file_key: the file and the representation of it, so every spelling of one
// path, every query string and every Accept-Encoding that picks the same sibling share one
// answer and one descriptor); request keys (target, and Accept-Encoding when it varies) only
// point at them. Each table is least recently used first out: answers within a count, a byte
// and a descriptor budget, request keys within a count. A flood of unique targets so only
// pushes out other request keys, never a hot file. A body is kept in memory, in a sealed
// memfd (from sendfile_min on), or read from its open file (on_disk).
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

#include "front/types.h"

namespace zerocopy {

// Sealed memfds, and the open files of bodies too large to keep, are sent with sendfile; each
// is a descriptor, so at most this many are held at once.
constexpr size_t kMaxBodyDescriptors = 1024;
// Request keys are as long as a client makes them (up to the largest head): their bytes are
// bounded too, at 512 bytes a key on average for a full table.
constexpr size_t kMaxKeyBytes = 8 << 20;

class CacheStore {
 public:
  CacheStore(size_t max_entries, size_t max_bytes, size_t sendfile_min,
             size_t max_descriptors = kMaxBodyDescriptors);

  // The answer for the request key `key`, valid at `now`, or nullptr; marks both recently used.
  const EntryRef* Find(const std::string& key, uint64_t now);
  // Stores `entry` under its file_key (`key` when it has none) and points `key` at it; an entry
  // that is not answerable is remembered for `key` alone. Returns whether it is in the table (a
  // body larger than the whole budget is not).
  bool Store(const std::string& key, EntryRef entry, uint64_t now);
  // The answer stored under `file_key`, now valid until at least `valid_until` (JavaScript has
  // just found that version of the file again), or nullptr.
  EntryRef Refresh(const std::string& file_key, uint64_t valid_until);
  // Forgets the request key (the answer it pointed at stays for its other spellings).
  void Erase(const std::string& key);
  // Gives `entry` its body: a sealed memfd when it is large enough and descriptors are left.
  void StoreBody(Entry* entry, const char* data, size_t size);
  // Whether a body may be kept as a descriptor at all (the least recently used one makes room).
  bool CanKeepDescriptor() const { return max_descriptors_ > 0; }
  // Drops every expired answer and request key: the descriptor of a file deleted or replaced on
  // disk is let go here, not only when the table fills.
  void PurgeExpired(uint64_t now);
  void Clear();

  size_t size() const { return answers_.size(); }
  size_t keys() const { return keys_.size(); }
  size_t bytes() const { return bytes_; }
  size_t descriptors() const { return descriptors_; }
  double evictions() const { return evictions_; }

 private:
  using Order = std::list<const std::string*>;  // most recently used first; points at map keys
  struct Answer {
    EntryRef entry;
    Order::iterator recent;
    Order::iterator recent_descriptor;  // in descriptor_order_ when entry->body_fd >= 0
  };
  struct Key {
    std::string file_key;  // empty: not answerable until valid_until
    uint64_t valid_until = 0;
    Order::iterator recent;
  };

  void EraseAnswer(std::unordered_map<std::string, Answer>::iterator it);
  void EraseKey(std::unordered_map<std::string, Key>::iterator it);
  // Points `key` at `file_key` (empty: not answerable until valid_until); false if it cannot be kept.
  bool PointKey(const std::string& key, const std::string& file_key, uint64_t valid_until);

  std::unordered_map<std::string, Answer> answers_;
  std::unordered_map<std::string, Key> keys_;
  Order answer_order_, descriptor_order_, key_order_;
  EntryRef not_answerable_;  // what Find() returns for a key JavaScript said to hand over
  size_t max_entries_, max_bytes_, sendfile_min_, max_descriptors_;
  size_t bytes_ = 0, descriptors_ = 0, key_bytes_ = 0;
  double evictions_ = 0;
};

}  // namespace zerocopy
