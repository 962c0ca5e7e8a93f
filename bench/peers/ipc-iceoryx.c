// Eclipse iceoryx (2.0, the C binding) for the ipc scenario: two processes (fork), each
// with its own runtime, a publisher and a subscriber, talking through a RouDi daemon the
// bench starts. The payload is written into the loaned chunk by the sender (memset) and read
// in place by the receiver (a scan of every byte), as in the other contenders.
//   poll     the receiver busy-polls iox_sub_take_chunk (with a sched_yield now and then)
//   waitset  the receiver sleeps in iox_ws_wait on the subscriber's HAS_DATA state
//
// usage: ipc-iceoryx poll|waitset throughput|latency SIZE COUNT
// Prints one JSON line: msgsPerS and mbPerS, or p50Us/p99Us/p999Us/maxUs; and cpuUsPerMsg.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/chunk.h"
#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/wait_set.h"

#define ABSENT 0xab /* fill values stay below 100: memchr(ABSENT) scans every byte */

static bool use_waitset;
static iox_pub_storage_t pub_storage;
static iox_sub_storage_t sub_storage;
static iox_ws_storage_t ws_storage;
static iox_pub_t publisher;
static iox_sub_t subscriber;
static iox_ws_t waitset;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Each trial has its own service instance, so a publisher left over by an earlier trial never matches. */
static void open_ends(const char *role, const char *instance, const char *out, const char *in, uint64_t queue) {
  char name[64];
  snprintf(name, sizeof name, "zc-%s-%d", role, (int)getpid());
  iox_set_loglevel(Iceoryx_LogLevel_Fatal);
  iox_runtime_init(name);
  iox_pub_options_t pub_options;
  iox_pub_options_init(&pub_options);
  pub_options.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
  publisher = iox_pub_init(&pub_storage, "zerocopy-bench", instance, out, &pub_options);
  iox_sub_options_t sub_options;
  iox_sub_options_init(&sub_options);
  sub_options.queueCapacity = queue;
  sub_options.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
  subscriber = iox_sub_init(&sub_storage, "zerocopy-bench", instance, in, &sub_options);
  if (use_waitset) {
    waitset = iox_ws_init(&ws_storage);
    if (iox_ws_attach_subscriber_state(waitset, subscriber, SubscriberState_HAS_DATA, 0, NULL) != WaitSetResult_SUCCESS) {
      fprintf(stderr, "ipc-iceoryx: iox_ws_attach_subscriber_state failed\n");
      exit(1);
    }
  }
  /* Both directions connected (matching is asynchronous, through RouDi). */
  double deadline = now_ns() + 20e9;
  while (!iox_pub_has_subscribers(publisher) || iox_sub_get_subscription_state(subscriber) != SubscribeState_SUBSCRIBED) {
    if (now_ns() > deadline) {
      fprintf(stderr, "ipc-iceoryx: %s: no peer connected within 20 s\n", role);
      exit(1);
    }
    usleep(1000);
  }
}

static void send_message(uint32_t size, int value) {
  void *chunk = NULL;
  for (unsigned tries = 0;; tries++) {
    enum iox_AllocationResult result = iox_pub_loan_chunk(publisher, &chunk, size);
    if (result == AllocationResult_SUCCESS) break;
    if (result != AllocationResult_RUNNING_OUT_OF_CHUNKS || tries > 10000000) {
      fprintf(stderr, "ipc-iceoryx: iox_pub_loan_chunk failed (%d)\n", (int)result);
      exit(1);
    }
    sched_yield();
  }
  memset(chunk, value, size);
  iox_pub_publish_chunk(publisher, chunk);
}

/* Receives one message of `size` bytes (the C binding does not tell a chunk's payload size), scans it in
   place and releases it. */
static void receive_message(uint32_t size) {
  const void *chunk = NULL;
  for (unsigned spins = 0;; spins++) {
    enum iox_ChunkReceiveResult result = iox_sub_take_chunk(subscriber, &chunk);
    if (result == ChunkReceiveResult_SUCCESS) break;
    if (result != ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
      fprintf(stderr, "ipc-iceoryx: iox_sub_take_chunk failed (%d)\n", (int)result);
      exit(1);
    }
    if (use_waitset) {
      iox_notification_info_t events[1];
      uint64_t missed = 0;
      iox_ws_wait(waitset, events, 1, &missed);
    } else if ((spins & 4095) == 4095) {
      sched_yield();
    }
  }
  if (memchr(chunk, ABSENT, size) != NULL) {
    fprintf(stderr, "ipc-iceoryx: payload corrupt\n");
    exit(1);
  }
  iox_sub_release_chunk(subscriber, chunk);
}

/* Unregisters from RouDi: a runtime that just vanishes is reaped by RouDi only after its keep-alive times out. */
static void close_ends(void) {
  if (use_waitset) iox_ws_deinit(waitset);
  iox_sub_deinit(subscriber);
  iox_pub_deinit(publisher);
  iox_runtime_shutdown();
}

static double cpu_us_self(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

static double cpu_us_of(pid_t pid) {
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
  if (sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK) * 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: ipc-iceoryx poll|waitset throughput|latency SIZE COUNT\n");
    return 2;
  }
  use_waitset = strcmp(argv[1], "waitset") == 0;
  bool latency = strcmp(argv[2], "latency") == 0;
  uint32_t size = (uint32_t)strtoul(argv[3], NULL, 10);
  long count = strtol(argv[4], NULL, 10);
  if (size == 0 || size > (1u << 20) || count < 1) {
    fprintf(stderr, "ipc-iceoryx: bad SIZE or COUNT\n");
    return 2;
  }
  /* The subscriber's queue: as many messages in flight as the channel's slots (iceoryx allows 256 at most). */
  uint64_t queue = size >= (1u << 20) ? 8 : 256;
  long warmup = (count + 9) / 10;
  char instance[32];
  snprintf(instance, sizeof instance, "ipc-%d", (int)getpid());

  pid_t child = fork();
  if (child < 0) {
    perror("ipc-iceoryx: fork");
    return 1;
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    open_ends("peer", instance, "pong", "ping", queue);
    receive_message(size); /* the warm-up round trip */
    send_message(size, 1);
    long total = latency ? count + warmup : count;
    for (long i = 1; i <= total; i++) {
      receive_message(size);
      if (latency) send_message(size, (int)(i % 100));
    }
    if (!latency) send_message(64, 1);
    /* Stay until the parent took the last message: a runtime that exits takes its chunks along. */
    receive_message(64);
    close_ends();
    exit(0);
  }
  open_ends("main", instance, "ping", "pong", queue);
  send_message(size, 1);
  receive_message(size);

  double cpu_before = cpu_us_self() + cpu_us_of(child);
  double started = now_ns();
  if (latency) {
    double *one_way = malloc(sizeof(double) * (size_t)count);
    if (one_way == NULL) return 1;
    for (long i = 0; i < count + warmup; i++) {
      double t0 = now_ns();
      send_message(size, (int)(i % 100));
      receive_message(size);
      if (i >= warmup) one_way[i - warmup] = (now_ns() - t0) / 2000;
    }
    double cpu = cpu_us_self() + cpu_us_of(child) - cpu_before;
    qsort(one_way, (size_t)count, sizeof(double), by_value);
#define AT(q) one_way[(long)((q) * (double)count) < count ? (long)((q) * (double)count) : count - 1]
    printf("{\"p50Us\":%.3f,\"p99Us\":%.3f,\"p999Us\":%.3f,\"maxUs\":%.3f,\"cpuUsPerMsg\":%.3f}\n", AT(0.5), AT(0.99),
           AT(0.999), one_way[count - 1], cpu / ((double)count * 2.2));
  } else {
    for (long i = 0; i < count; i++) send_message(size, (int)(i % 100));
    receive_message(64);
    double seconds = (now_ns() - started) / 1e9;
    double cpu = cpu_us_self() + cpu_us_of(child) - cpu_before;
    printf("{\"msgsPerS\":%.1f,\"mbPerS\":%.2f,\"cpuUsPerMsg\":%.3f}\n", (double)count / seconds,
           (double)count * size / seconds / 1e6, cpu / (double)count);
  }
  fflush(stdout);
  send_message(64, 1); /* lets the peer go */
  int status;
  waitpid(child, &status, 0);
  close_ends();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
