/* Peers of the fanout scenario.
 *   fanout discard PORT N [SLOW_INDEX SLOW_BYTES_PER_S]
 *       listen on 127.0.0.1:PORT, print "ready", accept N connections and read them all,
 *       discarding, until each closes; one may read at a limited rate. Prints
 *       {"bytes":[...]} (per connection, in accept order).
 *   fanout rw PORT N        read stdin in 1 MiB chunks and write each to N connections to
 *       PORT (the C read+write loop); prints its own {"wallNs","userUs","sysUs",...}.
 *   fanout produce FILE     splice FILE to stdout (a pipe): a live source that costs little.
 *   fanout drain            splice stdin to /dev/null until it ends.
 *   fanout time PROGRAM ARGS...   run PROGRAM; print its wall time and rusage as JSON on
 *       stderr (its stdout is often the pipe being measured).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "fanout: %s: %s\n", what, strerror(errno));
  exit(1);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_us(struct timeval tv) { return (long long)tv.tv_sec * 1000000LL + tv.tv_usec; }

#define MAX_CONNECTIONS 1024
static char buffer[1 << 20];

static int discard(int port, int count, int slow, long long slow_rate) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
  if (listen(listener, MAX_CONNECTIONS) < 0) die("listen");
  printf("ready\n");
  fflush(stdout);
  if (count > MAX_CONNECTIONS) count = MAX_CONNECTIONS;
  int fds[MAX_CONNECTIONS];
  long long bytes[MAX_CONNECTIONS] = {0};
  int epoll = epoll_create1(0);
  for (int i = 0; i < count; i++) {
    fds[i] = accept(listener, NULL, NULL);
    if (fds[i] < 0) die("accept");
    if (i == slow) {
      int small = 16384;
      setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (unsigned)i};
    if (i != slow) epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event);
  }
  close(listener);
  int open_count = count;
  long long started = now_ns();
  int slow_open = slow >= 0 && slow < count;
  if (slow_open) open_count--;
  while (open_count > 0 || slow_open) {
    struct epoll_event events[64];
    int ready = epoll_wait(epoll, events, 64, slow_open ? 10 : -1);
    for (int e = 0; e < ready; e++) {
      int i = (int)events[e].data.u32;
      ssize_t got = read(fds[i], buffer, sizeof buffer);
      if (got > 0) bytes[i] += got;
      else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, fds[i], NULL);
        close(fds[i]);
        open_count--;
      }
    }
    if (slow_open) {
      /* The slow reader takes what its rate allows since the start, never more. */
      long long allowed = (now_ns() - started) / 1000000LL * slow_rate / 1000LL;
      while (bytes[slow] < allowed) {
        size_t want = (size_t)(allowed - bytes[slow]);
        if (want > sizeof buffer) want = sizeof buffer;
        ssize_t got = recv(fds[slow], buffer, want, MSG_DONTWAIT);
        if (got > 0) bytes[slow] += got;
        else {
          if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
            close(fds[slow]);
            slow_open = 0;
          }
          break;
        }
      }
    }
  }
  printf("{\"bytes\":[");
  for (int i = 0; i < count; i++) printf("%s%lld", i == 0 ? "" : ",", bytes[i]);
  printf("]}\n");
  return 0;
}

static int read_write(int port, int count) {
  if (count > MAX_CONNECTIONS) count = MAX_CONNECTIONS;
  int fds[MAX_CONNECTIONS];
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fds[i], (struct sockaddr *)&address, sizeof address) < 0) die("connect");
  }
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  long long started = now_ns(), total = 0;
  for (;;) {
    ssize_t got = read(0, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) die("read");
    if (got == 0) break;
    total += got;
    for (int i = 0; i < count; i++) {
      for (ssize_t done = 0; done < got;) {
        ssize_t put = write(fds[i], buffer + done, (size_t)(got - done));
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) die("write");
        done += put;
      }
    }
  }
  for (int i = 0; i < count; i++) close(fds[i]);
  long long wall = now_ns() - started;
  getrusage(RUSAGE_SELF, &after);
  printf("{\"bytes\":%lld,\"wallNs\":%lld,\"userUs\":%lld,\"sysUs\":%lld,\"voluntaryCtx\":%ld,\"involuntaryCtx\":%ld}\n",
         total, wall, tv_us(after.ru_utime) - tv_us(before.ru_utime), tv_us(after.ru_stime) - tv_us(before.ru_stime),
         after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw);
  return 0;
}

static int splice_all(int in, int out) {
  for (;;) {
    ssize_t moved = splice(in, NULL, out, NULL, 1 << 20, SPLICE_F_MOVE);
    if (moved < 0 && errno == EINTR) continue;
    if (moved < 0) die("splice");
    if (moved == 0) return 0;
  }
}

static int time_program(char **argv) {
  long long start = now_ns();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "fanout: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage usage;
  while (wait4(pid, &status, 0, &usage) < 0)
    if (errno != EINTR) die("wait4");
  long long wall = now_ns() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(stderr, "{\"exitCode\":%d,\"wallNs\":%lld,\"userUs\":%lld,\"sysUs\":%lld,\"voluntaryCtx\":%ld,\"involuntaryCtx\":%ld}\n",
          code, wall, tv_us(usage.ru_utime), tv_us(usage.ru_stime), usage.ru_nvcsw, usage.ru_nivcsw);
  return code;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "time") == 0) return time_program(argv + 2);
  if (argc >= 4 && strcmp(argv[1], "discard") == 0)
    return discard(atoi(argv[2]), atoi(argv[3]), argc >= 6 ? atoi(argv[4]) : -1, argc >= 6 ? atoll(argv[5]) : 0);
  if (argc == 4 && strcmp(argv[1], "rw") == 0) return read_write(atoi(argv[2]), atoi(argv[3]));
  if (argc == 3 && strcmp(argv[1], "produce") == 0) {
    int file = open(argv[2], O_RDONLY);
    if (file < 0) die("open");
    return splice_all(file, 1);
  }
  if (argc == 2 && strcmp(argv[1], "drain") == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null < 0) die("open /dev/null");
    return splice_all(0, null);
  }
  fprintf(stderr, "usage: fanout discard PORT N [SLOW_INDEX BYTES_PER_S] | rw PORT N | produce FILE | drain | time PROGRAM...\n");
  return 2;
}
