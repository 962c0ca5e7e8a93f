// The producer's and the consumers' operations on a mapped channel, with C++ atomics on
// the shared memory. One Ring is one participant: a producer or one subscriber.
//
// Trust: the geometry comes from the checked local copy in Mapping; every sequence, state
// and length read from shared memory is clamped or rejected before it indexes anything,
// and no loop runs longer than a constant bound, whatever a peer wrote.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "ipc/event_wake.h"
#include "ipc/memory.h"

namespace zerocopy::ipc {

enum class Want { kData, kSpace };

// Why a consumer finds nothing to read.
constexpr int kProducerClosed = -ESHUTDOWN;  // it closed: the stream ended
constexpr int kPeerGone = -EPIPE;            // it died, or (single consumer) the consumer left

struct Received {
  uint64_t sequence;
  uint32_t length;
  uint64_t missed;  // messages overwritten before this subscriber could read them
  uint32_t count;   // messages in the batch (1 for Receive)
};

class Ring {
 public:
  explicit Ring(const Mapping& mapping);

  int AttachProducer(uint32_t pid);    // 0 | -EBUSY
  int AttachSubscriber(uint32_t pid);  // subscriber index | -EBUSY
  void Detach();

  // Producer.
  int64_t Reserve();  // sequence | -EAGAIN | -EPIPE | -EBUSY (a loan is open)
  int Publish(uint32_t length);
  void CancelLoan();
  uint8_t* LoanAddress() const { return SlotAddress(loan_sequence_); }
  bool Loaned() const { return loaned_; }

  // Consumer.
  int Receive(Received* out);  // 0 | -EAGAIN | kProducerClosed | kPeerGone | -EBADMSG
  // Up to `max` ready messages in consecutive slots (a batch never wraps the ring), held
  // together until Release(): their lengths in `lengths`, how many in out->count. Results
  // as Receive; a corrupt message after the first ends the batch before it.
  int ReceiveBatch(uint32_t max, uint32_t* lengths, Received* out);
  void Release();
  bool Holding() const { return holding_; }
  uint8_t* HeldAddress() const { return SlotAddress(held_sequence_); }

  // Waiting. Ready(want) is true exactly when the matching call above would not return
  // -EAGAIN, so a wake-up is never followed by an empty poll and another wake-up.
  bool Ready(Want want) const;
  // Marks this participant asleep, re-checks, sleeps on the futex for at most timeout_ms.
  // `cancel` set before Interrupt() makes it return at once (no lost interrupt).
  bool SleepOnce(Want want, int timeout_ms, const std::atomic<bool>& cancel);
  // Marks participants whose process died (pidfd) as dead.
  void CheckPeers(Want want);
  // Makes a thread sleeping in SleepOnce(want) return.
  void Interrupt(Want want);

  // Event-loop sleeping (see event_wake.h). Whether the peers that would wake this wait
  // run in this process, so that they signal our eventfd: for data, the producer (it
  // attaches once, so a true answer stays true); for space, every active subscriber (one
  // from elsewhere may attach later: the caller then also looks every kPeerCheckMs).
  bool PeersLocal(Want want) const;
  // Marks this participant asleep (`mark`: kEventFd or kWakeSocket), then re-checks: true
  // when `want` holds already and the mark was taken back; false: sleep, the peer signals.
  bool ArmEventSleep(Want want, SleepMark mark);
  // Takes the mark back; returns what it was (kUnreachable: a waker could not reach us).
  uint32_t ClearEventSleep();
  // The pid whose wake socket a peer names: our own (the waker derives it from the header).
  uint32_t pid() const { return pid_; }
  EventKey event_key() const {
    return EventKey{mapping_.device, mapping_.inode, role_ == Role::kProducer ? kMaxSubscribers : index_};
  }

  uint32_t slot_size() const { return mapping_.slot_size; }
  bool is_producer() const { return role_ == Role::kProducer; }

 private:
  enum class Role { kNone, kProducer, kSubscriber };

  uint8_t* SlotAddress(uint64_t sequence) const;
  SlotMeta& MetaOf(uint64_t sequence) const;
  uint64_t Clamp(uint64_t value, uint64_t head) const;
  bool SpaceAvailable() const;
  bool SubscriberLeft() const;
  bool MessageAvailable() const;
  int ProducerEnded() const;
  void WakeConsumers();
  void WakeProducer();
  void WakeMarked(Atomic32& mark, const Atomic32& pid, uint32_t index);
  Atomic32& EventMark() const;

  Mapping mapping_;
  Header* header_;
  uint64_t mask_;
  Role role_ = Role::kNone;
  uint32_t index_ = 0;
  uint32_t pid_ = 0;
  // Producer state: the producer's own head is authoritative, never read back.
  uint64_t head_ = 0;
  bool loaned_ = false;
  uint64_t loan_sequence_ = 0;
  // Subscriber state.
  uint64_t cursor_ = 0;
  bool holding_ = false;
  uint64_t held_sequence_ = 0;  // the first message held
  uint32_t held_count_ = 0;     // how many from there
};

}  // namespace zerocopy::ipc
