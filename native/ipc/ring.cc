#include "ipc/ring.h"

#include <cerrno>

#include "ipc/wake.h"

namespace zerocopy::ipc {

namespace {

constexpr auto kAcquire = std::memory_order_acquire;
constexpr auto kRelease = std::memory_order_release;
constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr auto kOrdered = std::memory_order_seq_cst;

// A few attempts, then give up: a peer rewriting the word forever must not keep us here.
constexpr int kMaxAttempts = 8;

void StoreMax(Atomic64& word, uint64_t value) {
  uint64_t current = word.load(kRelaxed);
  for (int i = 0; i < kMaxAttempts && current < value; i++) {
    if (word.compare_exchange_weak(current, value, kOrdered)) return;
  }
}

}  // namespace

Ring::Ring(const Mapping& mapping)
    : mapping_(mapping), header_(mapping.header), mask_(uint64_t(mapping.slot_count) - 1) {}

uint8_t* Ring::SlotAddress(uint64_t sequence) const {
  return reinterpret_cast<uint8_t*>(header_) + mapping_.data_offset + (sequence & mask_) * mapping_.slot_size;
}

SlotMeta& Ring::MetaOf(uint64_t sequence) const {
  auto* meta = reinterpret_cast<SlotMeta*>(reinterpret_cast<uint8_t*>(header_) + MetaOffset());
  return meta[sequence & mask_];
}

// A sequence a peer reported, forced into the only window it can legitimately be in.
uint64_t Ring::Clamp(uint64_t value, uint64_t head) const {
  uint64_t lowest = head > mapping_.slot_count ? head - mapping_.slot_count : 0;
  if (value < lowest) return lowest;
  if (value > head) return head;
  return value;
}

int Ring::AttachProducer(uint32_t pid) {
  uint32_t expected = kFree;
  if (!header_->producer_state.compare_exchange_strong(expected, kActive, kOrdered)) return -EBUSY;
  header_->producer_pid.store(pid, kRelease);
  head_ = header_->head.load(kAcquire);
  role_ = Role::kProducer;
  pid_ = pid;
  return 0;
}

int Ring::AttachSubscriber(uint32_t pid) {
  for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
    SubscriberRecord& record = header_->subscribers[i];
    uint32_t state = record.state.load(kAcquire);
    if (state == kActive) continue;
    if (!record.state.compare_exchange_strong(state, kActive, kOrdered)) continue;
    record.pid.store(pid, kRelease);
    record.held.store(0, kRelease);
    uint64_t head = header_->head.load(kAcquire);
    uint64_t start = mapping_.overflow == kOverwrite ? head : Clamp(header_->floor.load(kAcquire), head);
    record.released.store(start, kOrdered);
    // The producer may have moved the floor while we joined; follow it (bounded).
    for (int attempt = 0; attempt < kMaxAttempts && mapping_.overflow == kBlock; attempt++) {
      uint64_t floor = Clamp(header_->floor.load(kOrdered), header_->head.load(kAcquire));
      if (floor <= start) break;
      start = floor;
      record.released.store(start, kOrdered);
    }
    index_ = i;
    pid_ = pid;
    cursor_ = start;
    role_ = Role::kSubscriber;
    return static_cast<int>(i);
  }
  return -EBUSY;
}

void Ring::Detach() {
  if (role_ == Role::kProducer) {
    header_->producer_state.store(kClosed, kOrdered);
    WakeConsumers();
  } else if (role_ == Role::kSubscriber) {
    // Leave first, then account: a producer woken by the freed slot must already see
    // that its only consumer left. Closing counts as releasing the held message.
    SubscriberRecord& record = header_->subscribers[index_];
    uint64_t released = holding_ ? held_sequence_ + held_count_ : record.released.load(kAcquire);
    holding_ = false;
    record.state.store(kClosed, kOrdered);
    record.held.store(0, kOrdered);
    StoreMax(header_->floor, Clamp(released, header_->head.load(kAcquire)));
    WakeProducer();
  }
  role_ = Role::kNone;
}

// ---- producer ----

bool Ring::SubscriberLeft() const {
  if (mapping_.mode != kSingleConsumer) return false;
  uint32_t state = header_->subscribers[0].state.load(kAcquire);
  return state == kClosed || state == kDead;
}

bool Ring::SpaceAvailable() const {
  uint64_t head = head_;
  if (mapping_.overflow == kOverwrite) {
    if (head < mapping_.slot_count) return true;
    uint64_t occupant = head - mapping_.slot_count;
    for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
      const SubscriberRecord& record = header_->subscribers[i];
      if (record.state.load(kAcquire) != kActive) continue;
      if (record.held.load(kOrdered) == occupant + 1) return false;
    }
    return true;
  }
  uint64_t lowest = Clamp(header_->floor.load(kAcquire), head);
  bool any = false;
  for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
    const SubscriberRecord& record = header_->subscribers[i];
    if (record.state.load(kAcquire) != kActive) continue;
    uint64_t released = Clamp(record.released.load(kAcquire), head);
    lowest = any ? (released < lowest ? released : lowest) : released;
    any = true;
  }
  return head - lowest < mapping_.slot_count;
}

int64_t Ring::Reserve() {
  if (role_ != Role::kProducer) return -EINVAL;
  if (loaned_) return -EBUSY;
  if (mapping_.overflow == kOverwrite) {
    // Announce the slot first, then look for a reader holding it (Dekker with Receive).
    header_->writing.store(head_ + 1, kOrdered);
    if (!SpaceAvailable()) {
      header_->writing.store(0, kOrdered);
      return -EAGAIN;
    }
  } else {
    bool any_active = false;
    for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
      if (header_->subscribers[i].state.load(kAcquire) == kActive) any_active = true;
    }
    if (!any_active && SubscriberLeft()) return kPeerGone;
    if (!SpaceAvailable()) return -EAGAIN;
    // Where the next subscriber starts: the oldest message anyone still needs.
    uint64_t lowest = head_;
    bool any = false;
    for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
      const SubscriberRecord& record = header_->subscribers[i];
      if (record.state.load(kAcquire) != kActive) continue;
      uint64_t released = Clamp(record.released.load(kAcquire), head_);
      if (!any || released < lowest) lowest = released;
      any = true;
    }
    if (any) StoreMax(header_->floor, lowest);
  }
  loaned_ = true;
  loan_sequence_ = head_;
  return static_cast<int64_t>(head_);
}

void Ring::CancelLoan() {
  if (!loaned_) return;
  loaned_ = false;
  if (mapping_.overflow == kOverwrite) header_->writing.store(0, kOrdered);
}

int Ring::Publish(uint32_t length) {
  if (!loaned_) return -EINVAL;
  if (length > mapping_.slot_size) return -EMSGSIZE;
  SlotMeta& meta = MetaOf(loan_sequence_);
  meta.length.store(length, kRelaxed);
  meta.sequence.store(loan_sequence_, kRelease);
  head_ = loan_sequence_ + 1;
  loaned_ = false;
  header_->head.store(head_, kOrdered);
  if (mapping_.overflow == kOverwrite) header_->writing.store(0, kOrdered);
  WakeConsumers();
  return 0;
}

void Ring::WakeMarked(Atomic32& mark, const Atomic32& pid, uint32_t index) {
  // The load first: when nobody sleeps (the busy case) publish makes no write and no call.
  if (mark.load(kOrdered) == kAwake) return;
  uint32_t was = mark.exchange(kAwake, kOrdered);
  EventKey key{mapping_.device, mapping_.inode, index};
  if (was == kEventFd) {
    SignalEventFd(key);
  } else if (was == kWakeSocket) {
    // Unreachable (another network namespace, a name taken): say so; the sleeper's timer
    // finds the message and it sleeps on the futex from then on.
    if (SendWake(key, pid.load(kAcquire)) < 0) mark.store(kUnreachable, kOrdered);
  } else if (was == kUnreachable) {
    mark.store(kUnreachable, kOrdered);
  }
}

void Ring::WakeConsumers() {
  // Pairs with SleepOnce and ArmEventSleep: the head (or state) store before this is
  // ordered before these loads, the sleeper's mark before its head check, so one of the
  // two sees the other.
  std::atomic_thread_fence(kOrdered);
  for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
    SubscriberRecord& record = header_->subscribers[i];
    WakeMarked(record.event_sleeping, record.pid, i);
  }
  if (header_->consumers_sleeping.load(kOrdered) == 0) return;
  header_->data_word.fetch_add(1, kOrdered);
  FutexWakeAll(&header_->data_word);
}

void Ring::WakeProducer() {
  // As in WakeConsumers. Taking the mark is safe even in broadcast, where this release may
  // free nothing: the producer then finds no space, marks itself again and re-checks.
  std::atomic_thread_fence(kOrdered);
  WakeMarked(header_->producer_event_sleeping, header_->producer_pid, kMaxSubscribers);
  if (header_->producer_sleeping.load(kOrdered) == 0) return;
  header_->space_word.fetch_add(1, kOrdered);
  FutexWakeAll(&header_->space_word);
}

// ---- consumer ----

bool Ring::MessageAvailable() const {
  uint64_t head = header_->head.load(kAcquire);
  return head > cursor_;
}

int Ring::ProducerEnded() const {
  uint32_t state = header_->producer_state.load(kAcquire);
  if (state == kClosed) return kProducerClosed;
  if (state == kDead) return kPeerGone;
  return 0;
}

int Ring::Receive(Received* out) {
  uint32_t length = 0;
  int result = ReceiveBatch(1, &length, out);
  out->length = length;
  return result;
}

int Ring::ReceiveBatch(uint32_t max, uint32_t* lengths, Received* out) {
  if (role_ != Role::kSubscriber) return -EINVAL;
  if (holding_) Release();
  if (max == 0) return -EINVAL;
  SubscriberRecord& record = header_->subscribers[index_];
  uint64_t missed = 0;
  uint64_t cursor = cursor_;
  uint64_t head = header_->head.load(kAcquire);
  if (head <= cursor) {
    // Nothing new (a head that went backwards is a corrupt one: treated as nothing new).
    int ended = ProducerEnded();
    return ended != 0 ? ended : -EAGAIN;
  }
  if (head - cursor > mapping_.slot_count) {
    missed += head - mapping_.slot_count - cursor;
    cursor = head - mapping_.slot_count;
  }
  if (mapping_.overflow == kOverwrite) {
    // Claiming the first message of a batch protects the whole batch: the producer
    // overwrites in order, so it stops at the first before it reaches any later one.
    bool claimed = false;
    for (int attempt = 0; attempt < kMaxAttempts && !claimed; attempt++) {
      record.held.store(cursor + 1, kOrdered);
      uint64_t writing = header_->writing.load(kOrdered);
      uint64_t published = header_->head.load(kOrdered);
      uint64_t top = writing > published ? writing : published;
      // Sane only within one ring of what we saw; anything else is a corrupt header.
      if (top > head + mapping_.slot_count) top = head;
      if (top > cursor + mapping_.slot_count) {
        missed += top - mapping_.slot_count - cursor;
        cursor = top - mapping_.slot_count;
      } else {
        claimed = true;
      }
    }
    if (!claimed || cursor >= head) {
      record.held.store(0, kOrdered);
      cursor_ = cursor;
      return -EAGAIN;
    }
  }
  uint64_t available = head - cursor;
  uint64_t to_ring_end = mapping_.slot_count - (cursor & mask_);
  uint32_t count = static_cast<uint32_t>(available < max ? available : max);
  if (count > to_ring_end) count = static_cast<uint32_t>(to_ring_end);
  uint32_t good = 0;
  for (; good < count; good++) {
    SlotMeta& meta = MetaOf(cursor + good);
    uint64_t sequence = meta.sequence.load(kAcquire);
    uint32_t length = meta.length.load(kRelaxed);
    if (sequence != cursor + good || length > mapping_.slot_size) break;
    lengths[good] = length;
  }
  holding_ = true;
  held_sequence_ = cursor;
  held_count_ = good == 0 ? 1 : good;
  cursor_ = cursor + held_count_;
  out->sequence = cursor;
  out->missed = missed;
  out->count = good;
  if (good == 0) {
    Release();
    return -EBADMSG;
  }
  return 0;
}

void Ring::Release() {
  if (!holding_) return;
  holding_ = false;
  SubscriberRecord& record = header_->subscribers[index_];
  record.released.store(held_sequence_ + held_count_, kOrdered);
  record.held.store(0, kOrdered);
  WakeProducer();
}

// ---- waiting ----

bool Ring::Ready(Want want) const {
  if (want == Want::kData) return role_ != Role::kSubscriber || MessageAvailable() || ProducerEnded() != 0;
  if (role_ != Role::kProducer) return true;
  if (mapping_.overflow == kBlock) {
    bool any_active = false;
    for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
      if (header_->subscribers[i].state.load(kAcquire) == kActive) any_active = true;
    }
    if (!any_active && SubscriberLeft()) return true;
  }
  return SpaceAvailable();
}

bool Ring::SleepOnce(Want want, int timeout_ms, const std::atomic<bool>& cancel) {
  Atomic32& sleeping = want == Want::kData ? header_->consumers_sleeping : header_->producer_sleeping;
  Atomic32& word = want == Want::kData ? header_->data_word : header_->space_word;
  if (want == Want::kData) {
    sleeping.fetch_add(1, kOrdered);
  } else {
    sleeping.store(1, kOrdered);
  }
  uint32_t expected = word.load(kOrdered);
  bool ready = Ready(want);
  if (!ready && !cancel.load(kOrdered)) {
    FutexWait(&word, expected, timeout_ms);
    ready = Ready(want);
  }
  if (want == Want::kData) {
    sleeping.fetch_sub(1, kOrdered);
  } else {
    sleeping.store(0, kOrdered);
  }
  return ready;
}

bool Ring::PeersLocal(Want want) const {
  if (want == Want::kData) {
    if (role_ != Role::kSubscriber) return false;
    // Before its pid is written the producer reads as remote.
    return header_->producer_state.load(kAcquire) == kActive && header_->producer_pid.load(kAcquire) == pid_;
  }
  if (role_ != Role::kProducer) return false;
  bool any = false;
  for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
    const SubscriberRecord& record = header_->subscribers[i];
    if (record.state.load(kAcquire) != kActive) continue;
    if (record.pid.load(kAcquire) != pid_) return false;
    any = true;
  }
  return any;
}

Atomic32& Ring::EventMark() const {
  return role_ == Role::kProducer ? header_->producer_event_sleeping : header_->subscribers[index_].event_sleeping;
}

bool Ring::ArmEventSleep(Want want, SleepMark mark) {
  Atomic32& sleeping = EventMark();
  sleeping.store(mark, kOrdered);
  std::atomic_thread_fence(kOrdered);
  if (!Ready(want)) return false;
  sleeping.store(kAwake, kOrdered);
  return true;
}

uint32_t Ring::ClearEventSleep() {
  if (role_ == Role::kNone) return kAwake;
  return EventMark().exchange(kAwake, kOrdered);
}

void Ring::Interrupt(Want want) {
  Atomic32& word = want == Want::kData ? header_->data_word : header_->space_word;
  word.fetch_add(1, kOrdered);
  FutexWakeAll(&word);
}

void Ring::CheckPeers(Want want) {
  if (want == Want::kData) {
    uint32_t state = header_->producer_state.load(kAcquire);
    if (state == kActive && !ProcessAlive(header_->producer_pid.load(kAcquire))) {
      header_->producer_state.compare_exchange_strong(state, kDead, kOrdered);
    }
    return;
  }
  for (uint32_t i = 0; i < mapping_.max_subscribers; i++) {
    SubscriberRecord& record = header_->subscribers[i];
    uint32_t state = record.state.load(kAcquire);
    if (state != kActive || ProcessAlive(record.pid.load(kAcquire))) continue;
    // Its slots go back to the ring: the next subscriber starts after what it released.
    StoreMax(header_->floor, Clamp(record.released.load(kAcquire), head_));
    record.state.compare_exchange_strong(state, kDead, kOrdered);
  }
}

}  // namespace zerocopy::ipc
