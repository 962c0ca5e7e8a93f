// The physical limit for the ipc scenario: a single-producer/single-consumer ring in a
// memfd mapped shared, in C, between two threads or two processes (fork). The payload is
// written by the sender (memset) and read by the receiver (a scan of every byte), as in
// the Node contenders. Three ways to wait for a message or a free slot:
//   spin     busy-poll (with a sched_yield now and then, so a stolen core does not stall it)
//   futex    futex_wait on the cursor, woken only when the other end said it sleeps
//   eventfd  epoll_wait on an eventfd, written only when the other end said it sleeps
//
// usage: ipc-ring spin|futex|eventfd threads|processes throughput|latency SIZE COUNT
// Prints one JSON line: msgsPerS and mbPerS, or p50Us/p99Us/p999Us/maxUs; and cpuUsPerMsg.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum wait_kind { SPIN, FUTEX, EVENTFD };

#define ABSENT 0xab /* fill values stay below 100: memchr(ABSENT) scans every byte */

struct signal {
  _Alignas(64) _Atomic uint32_t cursor; /* head (messages) or tail (free slots) */
  _Atomic uint32_t sleeping;
  int eventfd;
  int epoll;
};

struct ring {
  struct signal head; /* the producer advances it */
  struct signal tail; /* the consumer advances it */
  uint32_t slots, slot_size;
  size_t data_offset; /* from the start of the mapping */
};

static enum wait_kind kind;
static int shared_across_processes;
static unsigned char *base;

static void die(const char *what) {
  fprintf(stderr, "ipc-ring: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint32_t *lengths_of(struct ring *ring) { return (uint32_t *)(base + ring->data_offset); }
static unsigned char *slot_of(struct ring *ring, uint32_t index) {
  size_t lengths = ((size_t)ring->slots * 4 + 63) & ~(size_t)63;
  return base + ring->data_offset + lengths + (size_t)(index % ring->slots) * ring->slot_size;
}

static void signal_init(struct signal *s) {
  atomic_store(&s->cursor, 0);
  atomic_store(&s->sleeping, 0);
  s->eventfd = -1;
  s->epoll = -1;
  if (kind != EVENTFD) return;
  s->eventfd = eventfd(0, EFD_NONBLOCK);
  s->epoll = epoll_create1(0);
  if (s->eventfd < 0 || s->epoll < 0) die("eventfd/epoll_create1");
  struct epoll_event event = {.events = EPOLLIN, .data.u32 = 0};
  if (epoll_ctl(s->epoll, EPOLL_CTL_ADD, s->eventfd, &event) != 0) die("epoll_ctl");
}

/* Advances the cursor and wakes the other end only if it said it sleeps. */
static void signal_advance(struct signal *s) {
  atomic_fetch_add_explicit(&s->cursor, 1, memory_order_seq_cst);
  if (kind == SPIN || atomic_load_explicit(&s->sleeping, memory_order_seq_cst) == 0) return;
  if (kind == FUTEX) {
    syscall(SYS_futex, &s->cursor, shared_across_processes ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  } else {
    uint64_t one = 1;
    if (write(s->eventfd, &one, sizeof one) < 0 && errno != EAGAIN) die("write(eventfd)");
  }
}

/* Waits until ready(cursor) holds. */
static uint32_t signal_wait(struct signal *s, int (*ready)(struct ring *, uint32_t), struct ring *ring) {
  for (unsigned spins = 0;; spins++) {
    uint32_t seen = atomic_load_explicit(&s->cursor, memory_order_acquire);
    if (ready(ring, seen)) return seen;
    if (kind == SPIN) {
      if ((spins & 4095) == 4095) sched_yield();
      else __builtin_ia32_pause();
      continue;
    }
    atomic_store_explicit(&s->sleeping, 1, memory_order_seq_cst);
    seen = atomic_load_explicit(&s->cursor, memory_order_seq_cst);
    if (!ready(ring, seen)) {
      if (kind == FUTEX) {
        syscall(SYS_futex, &s->cursor, shared_across_processes ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, seen, NULL, NULL,
                0);
      } else {
        struct epoll_event event;
        while (epoll_wait(s->epoll, &event, 1, -1) < 0 && errno == EINTR) {
        }
        uint64_t count;
        if (read(s->eventfd, &count, sizeof count) < 0 && errno != EAGAIN) die("read(eventfd)");
      }
    }
    atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
  }
}

static int has_message(struct ring *ring, uint32_t head) {
  return head != atomic_load_explicit(&ring->tail.cursor, memory_order_relaxed);
}
static int has_space(struct ring *ring, uint32_t tail) {
  return atomic_load_explicit(&ring->head.cursor, memory_order_relaxed) - tail < ring->slots;
}

static void send_message(struct ring *ring, uint32_t size, int value) {
  signal_wait(&ring->tail, has_space, ring);
  uint32_t head = atomic_load_explicit(&ring->head.cursor, memory_order_relaxed);
  memset(slot_of(ring, head), value, size);
  lengths_of(ring)[head % ring->slots] = size;
  signal_advance(&ring->head);
}

/* Receives one message, scans it, and returns its length. */
static uint32_t receive_message(struct ring *ring) {
  signal_wait(&ring->head, has_message, ring);
  uint32_t tail = atomic_load_explicit(&ring->tail.cursor, memory_order_relaxed);
  uint32_t size = lengths_of(ring)[tail % ring->slots];
  if (size > ring->slot_size) {
    fprintf(stderr, "ipc-ring: length %u out of range\n", size);
    exit(1);
  }
  if (memchr(slot_of(ring, tail), ABSENT, size) != NULL) {
    fprintf(stderr, "ipc-ring: payload corrupt\n");
    exit(1);
  }
  signal_advance(&ring->tail);
  return size;
}

struct trial {
  int latency;
  uint32_t size;
  long count;
  struct ring *ping, *pong;
};

/* The other end: echoes every message (latency), or acknowledges the last (throughput). */
static void *peer(void *argument) {
  struct trial *t = argument;
  uint32_t size = receive_message(t->ping); /* the warm-up round trip */
  send_message(t->pong, size, 1);
  long total = t->latency ? t->count + (t->count + 9) / 10 : t->count;
  for (long i = 1; i <= total; i++) {
    size = receive_message(t->ping);
    if (t->latency) send_message(t->pong, size, (int)(i % 100));
  }
  if (!t->latency) send_message(t->pong, 64, 1);
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double cpu_us_self(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

static double cpu_us_of(pid_t pid) {
  if (pid <= 0) return 0;
  char path[64], text[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *file = fopen(path, "r");
  if (file == NULL) return 0;
  size_t n = fread(text, 1, sizeof text - 1, file);
  fclose(file);
  text[n] = 0;
  char *after = strrchr(text, ')');
  if (after == NULL) return 0;
  unsigned long utime = 0, stime = 0;
  /* fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
  if (sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK) * 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static uint32_t slots_for(uint32_t size) { return size >= (1u << 20) ? 8 : size >= 4096 ? 256 : 1024; }
static uint32_t slot_size_for(uint32_t size) {
  uint32_t slot = 64;
  while (slot < size) slot *= 2;
  return slot;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: ipc-ring spin|futex|eventfd threads|processes throughput|latency SIZE COUNT\n");
    return 2;
  }
  kind = strcmp(argv[1], "spin") == 0 ? SPIN : strcmp(argv[1], "futex") == 0 ? FUTEX : EVENTFD;
  shared_across_processes = strcmp(argv[2], "processes") == 0;
  struct trial t = {.latency = strcmp(argv[3], "latency") == 0,
                    .size = (uint32_t)strtoul(argv[4], NULL, 10),
                    .count = strtol(argv[5], NULL, 10)};
  if (t.size == 0 || t.size > (64u << 20) || t.count < 1) {
    fprintf(stderr, "ipc-ring: bad SIZE or COUNT\n");
    return 2;
  }

  uint32_t slots = slots_for(t.size), slot_size = slot_size_for(t.size);
  size_t ring_bytes = (((size_t)slots * 4 + 63) & ~(size_t)63) + (size_t)slots * slot_size;
  size_t header = 4096;
  size_t total = header + 2 * ring_bytes;
  int fd = memfd_create("ipc-ring", MFD_CLOEXEC);
  if (fd < 0) die("memfd_create");
  if (ftruncate(fd, (off_t)total) != 0) die("ftruncate");
  base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) die("mmap");
  t.ping = (struct ring *)base;
  t.pong = (struct ring *)(base + sizeof(struct ring));
  struct ring *rings[2] = {t.ping, t.pong};
  for (int r = 0; r < 2; r++) {
    signal_init(&rings[r]->head);
    signal_init(&rings[r]->tail);
    rings[r]->slots = slots;
    rings[r]->slot_size = slot_size;
    rings[r]->data_offset = header + (size_t)r * ring_bytes;
  }
  /* Fault every page in before timing, as a channel that has been used a while would be. */
  memset(base + header, 0, 2 * ring_bytes);

  pthread_t thread;
  pid_t child = -1;
  if (shared_across_processes) {
    child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL); /* a timed-out trial's parent is killed: its peer goes too */
      peer(&t);
      _exit(0);
    }
  } else if (pthread_create(&thread, NULL, peer, &t) != 0) {
    die("pthread_create");
  }

  send_message(t.ping, t.size, 1); /* the warm-up round trip */
  receive_message(t.pong);

  double cpu_before = cpu_us_self() + cpu_us_of(child);
  double started = now_ns();
  if (t.latency) {
    long warmup = (t.count + 9) / 10;
    double *one_way = malloc(sizeof(double) * (size_t)t.count);
    if (one_way == NULL) die("malloc");
    for (long i = 0; i < t.count + warmup; i++) {
      double t0 = now_ns();
      send_message(t.ping, t.size, (int)(i % 100));
      receive_message(t.pong);
      if (i >= warmup) one_way[i - warmup] = (now_ns() - t0) / 2000;
    }
    double cpu = cpu_us_self() + cpu_us_of(child) - cpu_before;
    qsort(one_way, (size_t)t.count, sizeof(double), by_value);
#define AT(q) one_way[(long)((q) * (double)t.count) < t.count ? (long)((q) * (double)t.count) : t.count - 1]
    printf("{\"p50Us\":%.3f,\"p99Us\":%.3f,\"p999Us\":%.3f,\"maxUs\":%.3f,\"cpuUsPerMsg\":%.3f}\n", AT(0.5),
           AT(0.99), AT(0.999), one_way[t.count - 1], cpu / ((double)t.count * 2.2));
  } else {
    for (long i = 0; i < t.count; i++) send_message(t.ping, t.size, (int)(i % 100));
    receive_message(t.pong);
    double seconds = (now_ns() - started) / 1e9;
    double cpu = cpu_us_self() + cpu_us_of(child) - cpu_before;
    printf("{\"msgsPerS\":%.1f,\"mbPerS\":%.2f,\"cpuUsPerMsg\":%.3f}\n", (double)t.count / seconds,
           (double)t.count * t.size / seconds / 1e6, cpu / (double)t.count);
  }
  fflush(stdout);
  if (shared_across_processes) {
    int status;
    waitpid(child, &status, 0);
  } else {
    pthread_join(thread, NULL);
  }
  return 0;
}
