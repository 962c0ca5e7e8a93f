// Futex wake-ups on the shared words. Process-shared futexes (no FUTEX_PRIVATE_FLAG): the
// words live in a MAP_SHARED memfd mapping, keyed by the page, not by the address.
#pragma once

#include <cstdint>

#include "ipc/ring_layout.h"

namespace zerocopy::ipc {

// Sleeps while *word == expected, at most timeout_ms; returns at once when it differs.
void FutexWait(Atomic32* word, uint32_t expected, int timeout_ms);
void FutexWakeAll(Atomic32* word);

// Whether process `pid` still runs (pidfd: a zombie counts as gone; pid reuse after it was
// reaped is not noticed, as with any pid). Our own pid is alive: threads say goodbye
// through the header instead.
bool ProcessAlive(uint32_t pid);

// For `zerocopy doctor`: 0 when the call works here, else -errno.
int ProbeFutex();
int ProbePidfd();

}  // namespace zerocopy::ipc
