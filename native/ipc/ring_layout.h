// The shared-memory layout of a channel and its limits: the one definition both the native
// code and TypeScript (through the addon's `Channel.limits`) read.
//
// Everything here lives in memory another process can write. Only the creator writes the
// immutable part, and every participant copies it once at attach time after checking it;
// the mutable fields are read through atomics and checked before they are used.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace zerocopy::ipc {

constexpr uint32_t kMagic = 0x7a63686e;  // "zchn"
constexpr uint32_t kVersion = 3;

constexpr uint32_t kMinSlotSize = 64;
constexpr uint32_t kMaxSlotSize = 64u << 20;  // 64 MiB
constexpr uint32_t kMinSlots = 2;
constexpr uint32_t kMaxSlots = 1u << 16;
constexpr uint32_t kMaxSubscribers = 16;
// The whole data area of one channel; keeps a channel inside a 64 MB container budget
// only if the user asks for that much, and a sum that never overflows.
constexpr uint64_t kMaxDataBytes = 1ull << 30;  // 1 GiB

enum Mode : uint32_t { kSingleConsumer = 0, kBroadcast = 1 };
enum Overflow : uint32_t { kBlock = 0, kOverwrite = 1 };
// kClosed: left by closing (its stream ended); kDead: its process died, noticed by a peer.
enum ParticipantState : uint32_t { kFree = 0, kActive = 1, kClosed = 2, kDead = 3 };
// What a participant's event mark says: awake; asleep on an eventfd of its own process
// (the waker is in that process too and finds it in the process's registry); asleep on a
// datagram socket whose abstract name derives from the channel, its index and its pid (a
// waker in any process sends it one byte); or a waker could not reach that socket (the
// sleeper then uses the futex from its next wait on).
enum SleepMark : uint32_t { kAwake = 0, kEventFd = 1, kWakeSocket = 2, kUnreachable = 3 };

using Atomic32 = std::atomic<uint32_t>;
using Atomic64 = std::atomic<uint64_t>;
static_assert(Atomic32::is_always_lock_free && Atomic64::is_always_lock_free, "shared atomics must be lock-free");
static_assert(sizeof(Atomic64) == 8 && sizeof(Atomic32) == 4, "shared atomics must have the plain layout");

struct alignas(64) SubscriberRecord {
  Atomic32 state;     // ParticipantState
  Atomic32 pid;       // its process, to notice its death with a pidfd
  Atomic64 released;  // every sequence below this one is free as far as it is concerned
  Atomic64 held;      // sequence + 1 of the message it is reading, 0 when none
  // SleepMark: how publish wakes it when it sleeps on its event loop. Neither descriptor
  // nor address is ever read from here: the waker derives them itself.
  Atomic32 event_sleeping;
};

struct alignas(64) Header {
  // Immutable after creation.
  uint32_t magic;
  uint32_t version;
  uint32_t slot_size;
  uint32_t slot_count;
  uint32_t mode;
  uint32_t overflow;
  uint32_t max_subscribers;
  uint32_t reserved;
  uint64_t data_offset;
  uint64_t total_bytes;

  // The producer's line.
  alignas(64) Atomic64 head;  // messages published
  Atomic64 writing;           // sequence + 1 of the slot being written (overwrite mode), 0 when none
  Atomic64 floor;             // where a newly attached subscriber starts
  Atomic32 producer_state;
  Atomic32 producer_pid;
  Atomic32 producer_sleeping;  // the producer waits for space: releases must wake it
  Atomic32 space_word;         // futex word the producer sleeps on
  // SleepMark of the producer waiting for space on its event loop: releases wake it as
  // publish wakes subscribers.
  Atomic32 producer_event_sleeping;

  // The consumers' wake-up line.
  alignas(64) Atomic32 data_word;  // futex word consumers sleep on
  Atomic32 consumers_sleeping;     // how many sleep: publish skips the wake when 0

  SubscriberRecord subscribers[kMaxSubscribers];
};

struct SlotMeta {
  Atomic64 sequence;  // the message this slot holds
  Atomic32 length;
  uint32_t reserved;
};

constexpr uint64_t kPageSize = 4096;

inline uint64_t AlignUp(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }
inline uint64_t MetaOffset() { return AlignUp(sizeof(Header), 64); }
inline uint64_t DataOffset(uint32_t slot_count) {
  return AlignUp(MetaOffset() + uint64_t(slot_count) * sizeof(SlotMeta), kPageSize);
}
inline uint64_t TotalBytes(uint32_t slot_size, uint32_t slot_count) {
  return DataOffset(slot_count) + AlignUp(uint64_t(slot_size) * slot_count, kPageSize);
}
inline bool IsPowerOfTwo(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// Whether a geometry is one we create and accept; the same rule TypeScript reports on.
inline bool ValidGeometry(uint32_t slot_size, uint32_t slot_count, uint32_t max_subscribers) {
  return IsPowerOfTwo(slot_size) && slot_size >= kMinSlotSize && slot_size <= kMaxSlotSize &&
         IsPowerOfTwo(slot_count) && slot_count >= kMinSlots && slot_count <= kMaxSlots &&
         uint64_t(slot_size) * slot_count <= kMaxDataBytes && max_subscribers >= 1 &&
         max_subscribers <= kMaxSubscribers;
}

}  // namespace zerocopy::ipc
