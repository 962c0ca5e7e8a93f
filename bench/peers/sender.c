/*
 * The physical yardstick for zerocopy's benchmarks: the same transfer done by a C
 * program, so a Node figure can be read against what this kernel and machine can do.
 *
 *   sender sink                                  listen on 127.0.0.1 (ephemeral port), print
 *                                                "port N", read one connection to its end
 *   sender send METHOD PORT FILE SIZE COUNT      connect to 127.0.0.1:PORT and send the first
 *                                                SIZE bytes of FILE, COUNT times, over one
 *                                                connection; METHOD is rw64k, rw1m, sendfile,
 *                                                splice or mmap
 *
 * The sender times from the connected socket to the sink's close (every byte received),
 * takes getrusage() around the same span, and prints one JSON line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "sender: %s: %s\n", what, strerror(errno));
  exit(1);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_us(struct timeval tv) { return (long long)tv.tv_sec * 1000000LL + tv.tv_usec; }

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

static int sink(void) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(ls, 1) < 0) die("listen");
  socklen_t len = sizeof addr;
  if (getsockname(ls, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  int s = accept(ls, NULL, NULL);
  if (s < 0) die("accept");
  close(ls);
  static char buf[1 << 20];
  long long total = 0;
  for (;;) {
    ssize_t r = read(s, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) break;
    total += r;
  }
  close(s);
  printf("{\"bytes\":%lld}\n", total);
  return 0;
}

static void send_rw(int sock, int file, long long size, size_t bufsize) {
  static char *buf;
  if (buf == NULL && (buf = malloc(bufsize)) == NULL) die("malloc");
  off_t off = 0;
  while (off < size) {
    size_t want = (size_t)(size - off) < bufsize ? (size_t)(size - off) : bufsize;
    ssize_t r = pread(file, buf, want, off);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("pread");
    }
    if (r == 0) break;
    write_all(sock, buf, (size_t)r);
    off += r;
  }
}

static void send_sendfile(int sock, int file, long long size) {
  off_t off = 0;
  while (off < size) {
    ssize_t n = sendfile(sock, file, &off, (size_t)(size - off));
    if (n < 0) {
      if (errno == EINTR) continue;
      die("sendfile");
    }
    if (n == 0) break;
  }
}

/*
 * What an event-driven server (nginx) does: a non-blocking socket, sendfile until EAGAIN,
 * then wait in epoll for room. A blocking sendfile is faster on loopback, but no server
 * that serves more than one client at a time can block in it.
 */
static void send_sendfile_epoll(int sock, int file, long long size) {
  int flags = fcntl(sock, F_GETFL);
  if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event want = {.events = EPOLLOUT};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &want) < 0) die("epoll_ctl");
  off_t off = 0;
  while (off < size) {
    ssize_t n = sendfile(sock, file, &off, (size_t)(size - off));
    if (n < 0 && errno == EAGAIN) {
      struct epoll_event ready;
      if (epoll_wait(ep, &ready, 1, -1) < 0 && errno != EINTR) die("epoll_wait");
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      die("sendfile");
    }
    if (n == 0) break;
  }
  close(ep);
  if (fcntl(sock, F_SETFL, flags) < 0) die("fcntl");
}

static int pipe_r = -1, pipe_w = -1, pipe_size = 0;

static void send_splice(int sock, int file, long long size) {
  if (pipe_r < 0) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe2");
    pipe_r = p[0];
    pipe_w = p[1];
    pipe_size = fcntl(pipe_w, F_SETPIPE_SZ, 1 << 20);
    if (pipe_size < 0) pipe_size = fcntl(pipe_w, F_GETPIPE_SZ);
  }
  loff_t off = 0;
  while (off < size) {
    size_t want = (size_t)(size - off) < (size_t)pipe_size ? (size_t)(size - off) : (size_t)pipe_size;
    ssize_t in = splice(file, &off, pipe_w, NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE);
    if (in < 0) {
      if (errno == EINTR) continue;
      die("splice in");
    }
    if (in == 0) break;
    while (in > 0) {
      ssize_t out = splice(pipe_r, NULL, sock, NULL, (size_t)in, SPLICE_F_MOVE | SPLICE_F_MORE);
      if (out < 0) {
        if (errno == EINTR) continue;
        die("splice out");
      }
      in -= out;
    }
  }
}

static void send_mmap(int sock, int file, long long size) {
  void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, file, 0);
  if (map == MAP_FAILED) die("mmap");
  write_all(sock, map, (size_t)size);
  munmap(map, (size_t)size);
}

static int sender(const char *method, int port, const char *path, long long size, long long count) {
  int file = open(path, O_RDONLY | O_CLOEXEC);
  if (file < 0) die("open");
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");

  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  long long start = now_ns();
  for (long long i = 0; i < count; i++) {
    if (strcmp(method, "rw64k") == 0) send_rw(sock, file, size, 64 * 1024);
    else if (strcmp(method, "rw1m") == 0) send_rw(sock, file, size, 1024 * 1024);
    else if (strcmp(method, "sendfile") == 0) send_sendfile(sock, file, size);
    else if (strcmp(method, "sendfile-epoll") == 0) send_sendfile_epoll(sock, file, size);
    else if (strcmp(method, "splice") == 0) send_splice(sock, file, size);
    else if (strcmp(method, "mmap") == 0) send_mmap(sock, file, size);
    else {
      fprintf(stderr, "sender: unknown method %s\n", method);
      return 2;
    }
  }
  // Done when the sink has read everything and closed its end.
  if (shutdown(sock, SHUT_WR) < 0) die("shutdown");
  char byte;
  while (read(sock, &byte, 1) > 0) {
  }
  long long wall = now_ns() - start;
  getrusage(RUSAGE_SELF, &after);
  printf("{\"bytes\":%lld,\"wallNs\":%lld,\"userUs\":%lld,\"sysUs\":%lld,\"voluntaryCtx\":%ld,\"involuntaryCtx\":%ld}\n",
         size * count, wall, tv_us(after.ru_utime) - tv_us(before.ru_utime),
         tv_us(after.ru_stime) - tv_us(before.ru_stime), after.ru_nvcsw - before.ru_nvcsw,
         after.ru_nivcsw - before.ru_nivcsw);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return sink();
  if (argc == 7 && strcmp(argv[1], "send") == 0)
    return sender(argv[2], atoi(argv[3]), argv[4], atoll(argv[5]), atoll(argv[6]));
  fprintf(stderr, "usage: sender sink | sender send METHOD PORT FILE SIZE COUNT\n");
  return 2;
}
