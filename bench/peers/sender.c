/*
 * The physical yardstick for zerocopy's benchmarks: the same transfer done by a C
 * program, so a Node figure can be read against what this kernel and machine can do.
 *
 *   sender sink                                  listen on 127.0.0.1 (ephemeral port), print
 *                                                "port N", read one connection to its end
 *   sender sink PORT read|splice                 the same on a given port; 'splice' moves the
 *                                                bytes socket -> pipe -> /dev/null (no copy to
 *                                                user space: a cheap load for proxy benchmarks)
 *   sender send METHOD PORT FILE SIZE COUNT      connect to 127.0.0.1:PORT and send the first
 *                                                SIZE bytes of FILE, COUNT times, over one
 *                                                connection; METHOD is rw64k, rw1m, sendfile,
 *                                                splice or mmap
 *   sender echo PORT                             listen on 127.0.0.1:PORT, print "port N", echo
 *                                                one connection's bytes back until its end
 *   sender rr PORT ROUNDS SIZE                   connect, then ROUNDS times: write SIZE bytes,
 *                                                read SIZE bytes back; prints round-trip
 *                                                median/p99/mean in microseconds (after 200
 *                                                discarded warm-up rounds)
 *   sender time PROGRAM ARGS...                  run PROGRAM, wait4() it, print its wall time,
 *                                                CPU and context switches as JSON
 *   sender get PORT PATH SECONDS [CONNECTIONS [FIELD]]
 *                                                HTTP/1.1 GET of PATH from 127.0.0.1:PORT on
 *                                                CONNECTIONS (default 1) keep-alive connections,
 *                                                one request in flight on each, again and again
 *                                                for SECONDS, with one more header FIELD
 *                                                ("Range: bytes=0-99") if given; each answer
 *                                                must be a 200 or 206 with Content-Length;
 *                                                bodies are discarded in the kernel
 *                                                (recv with MSG_TRUNC, no copy to user space),
 *                                                so the server, not this client, is the
 *                                                bottleneck; prints requests, body bytes, time
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
#include <sys/wait.h>
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

/* Listens on 127.0.0.1:port (0: any), prints "port N", accepts one connection. */
static int accept_one(int port) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
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
  return s;
}

static int sink(int port, int use_splice) {
  int s = accept_one(port);
  static char buf[1 << 20];
  long long total = 0;
  if (use_splice) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe2");
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0) die("open /dev/null");
    for (;;) {
      ssize_t in = splice(s, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE);
      if (in < 0) {
        if (errno == EINTR) continue;
        die("splice from socket");
      }
      if (in == 0) break;
      total += in;
      while (in > 0) {
        ssize_t out = splice(p[0], NULL, devnull, NULL, (size_t)in, SPLICE_F_MOVE);
        if (out < 0) {
          if (errno == EINTR) continue;
          die("splice to /dev/null");
        }
        in -= out;
      }
    }
    close(s);
    printf("{\"bytes\":%lld}\n", total);
    return 0;
  }
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

static int echo(int port) {
  int s = accept_one(port);
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  static char buf[1 << 16];
  for (;;) {
    ssize_t r = read(s, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) break;
    write_all(s, buf, (size_t)r);
  }
  close(s);
  return 0;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

static int request_response(int port, long long rounds, long long size) {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char *buf = malloc((size_t)size);
  long long *ns = malloc(sizeof(long long) * (size_t)rounds);
  if (buf == NULL || ns == NULL) die("malloc");
  memset(buf, 'r', (size_t)size);
  const long long warmup = 200;
  struct rusage before, after;
  long long start = 0;
  for (long long i = -warmup; i < rounds; i++) {
    if (i == 0) {
      getrusage(RUSAGE_SELF, &before);
      start = now_ns();
    }
    long long t0 = now_ns();
    write_all(sock, buf, (size_t)size);
    for (long long got = 0; got < size;) {
      ssize_t r = read(sock, buf, (size_t)(size - got));
      if (r < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      if (r == 0) {
        fprintf(stderr, "sender: the connection closed after %lld rounds\n", i + warmup);
        return 1;
      }
      got += r;
    }
    if (i >= 0) ns[i] = now_ns() - t0;
  }
  long long wall = now_ns() - start;
  getrusage(RUSAGE_SELF, &after);
  shutdown(sock, SHUT_WR);
  char byte;
  while (read(sock, &byte, 1) > 0) {
  }
  qsort(ns, (size_t)rounds, sizeof ns[0], cmp_ll);
  printf("{\"rounds\":%lld,\"medianUs\":%.2f,\"p99Us\":%.2f,\"meanUs\":%.2f,\"wallNs\":%lld,\"userUs\":%lld,"
         "\"sysUs\":%lld}\n",
         rounds, ns[rounds / 2] / 1e3, ns[(rounds * 99) / 100] / 1e3, wall / 1e3 / (double)rounds, wall,
         tv_us(after.ru_utime) - tv_us(before.ru_utime), tv_us(after.ru_stime) - tv_us(before.ru_stime));
  return 0;
}

static int time_program(char **argv) {
  long long start = now_ns();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "sender: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage usage;
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) die("wait4");
  }
  long long wall = now_ns() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("{\"exitCode\":%d,\"wallNs\":%lld,\"userUs\":%lld,\"sysUs\":%lld,\"voluntaryCtx\":%ld,\"involuntaryCtx\":%ld}\n",
         code, wall, tv_us(usage.ru_utime), tv_us(usage.ru_stime), usage.ru_nvcsw, usage.ru_nivcsw);
  return code;
}

/* One connection of get(): where its current response stands. */
struct getter {
  int sock;
  size_t have;        /* head bytes so far */
  long long length;   /* the body's Content-Length, once the head is in */
  long long left;     /* body bytes still to drop; -1 while the head is arriving */
  char head[4096];
};

static int connect_loopback(int port) {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  return sock;
}

/* Returns 1 when a whole response has arrived, 0 when the socket has no more for now;
 * exits on anything unexpected. */
static int get_step(struct getter *g) {
  for (;;) {
    if (g->left < 0) {
      if (g->have == sizeof g->head - 1) {
        fprintf(stderr, "sender: response head larger than %zu bytes\n", sizeof g->head);
        exit(1);
      }
      ssize_t r = recv(g->sock, g->head + g->have, sizeof g->head - 1 - g->have, MSG_DONTWAIT);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) return 0;
      if (r < 0) die("recv");
      if (r == 0) {
        fprintf(stderr, "sender: the server closed a connection\n");
        exit(1);
      }
      g->have += (size_t)r;
      g->head[g->have] = 0;
      char *end = strstr(g->head, "\r\n\r\n");
      if (end == NULL) continue;
      char *length = strcasestr(g->head, "\r\ncontent-length:");
      int status_ok = strncmp(g->head, "HTTP/1.1 200 ", 13) == 0 || strncmp(g->head, "HTTP/1.1 206 ", 13) == 0;
      if (!status_ok || length == NULL || length > end) {
        fprintf(stderr, "sender: %.40s\n", g->head);
        exit(1);
      }
      g->length = atoll(length + 17);
      long long extra = (long long)(g->have - (size_t)(end + 4 - g->head));
      if (extra > g->length) {
        fprintf(stderr, "sender: more bytes than Content-Length\n");
        exit(1);
      }
      g->left = g->length - extra;
    }
    if (g->left == 0) return 1;
    /* With MSG_TRUNC, TCP drops the bytes without copying them: no buffer is needed (and a
     * real one would have to span `left` bytes of valid addresses for the kernel's check). */
    ssize_t r = recv(g->sock, NULL, (size_t)g->left, MSG_TRUNC | MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 0;
    if (r < 0) die("recv body");
    if (r == 0) {
      fprintf(stderr, "sender: a connection closed %lld bytes short\n", g->left);
      exit(1);
    }
    g->left -= r;
  }
}

static int get(int port, const char *path, double seconds, int connections, const char *field) {
  if (connections < 1 || connections > 1024) {
    fprintf(stderr, "sender: CONNECTIONS must be 1 to 1024\n");
    return 2;
  }
  char request[1024];
  int request_length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n", path,
                                field, *field == 0 ? "" : "\r\n");
  if (request_length <= 0 || (size_t)request_length >= sizeof request) die("path");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct getter *getters = calloc((size_t)connections, sizeof *getters);
  if (getters == NULL) die("calloc");
  for (int i = 0; i < connections; i++) {
    getters[i].sock = connect_loopback(port);
    getters[i].left = -1;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = &getters[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, getters[i].sock, &event) < 0) die("epoll_ctl");
  }
  long long requests = 0, bytes = 0, start = now_ns(), limit = (long long)(seconds * 1e9);
  for (int i = 0; i < connections; i++) write_all(getters[i].sock, request, (size_t)request_length);
  int busy = connections;
  while (busy > 0) {
    struct epoll_event ready[64];
    /* A stalled server ends the run, not the bench. */
    int n = epoll_wait(ep, ready, 64, 30000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    if (n == 0) {
      fprintf(stderr, "sender: no response for 30 s\n");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct getter *g = ready[i].data.ptr;
      if (!get_step(g)) continue;
      requests++;
      bytes += g->length;
      g->have = 0;
      g->left = -1;
      if (now_ns() - start < limit) {
        write_all(g->sock, request, (size_t)request_length);
      } else {
        epoll_ctl(ep, EPOLL_CTL_DEL, g->sock, NULL);
        close(g->sock);
        busy--;
      }
    }
  }
  printf("{\"requests\":%lld,\"bytes\":%lld,\"durationUs\":%lld}\n", requests, bytes, (now_ns() - start) / 1000);
  free(getters);
  close(ep);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "sink") == 0) return sink(0, 0);
  if (argc == 4 && strcmp(argv[1], "sink") == 0) return sink(atoi(argv[2]), strcmp(argv[3], "splice") == 0);
  if (argc == 3 && strcmp(argv[1], "echo") == 0) return echo(atoi(argv[2]));
  if (argc == 5 && strcmp(argv[1], "rr") == 0) return request_response(atoi(argv[2]), atoll(argv[3]), atoll(argv[4]));
  if (argc >= 3 && strcmp(argv[1], "time") == 0) return time_program(argv + 2);
  if (argc >= 5 && argc <= 7 && strcmp(argv[1], "get") == 0)
    return get(atoi(argv[2]), argv[3], atof(argv[4]), argc >= 6 ? atoi(argv[5]) : 1, argc == 7 ? argv[6] : "");
  if (argc == 7 && strcmp(argv[1], "send") == 0)
    return sender(argv[2], atoi(argv[3]), argv[4], atoll(argv[5]), atoll(argv[6]));
  fprintf(stderr,
          "usage: sender sink [PORT read|splice] | sender send METHOD PORT FILE SIZE COUNT | sender echo PORT |\n"
          "       sender rr PORT ROUNDS SIZE | sender time PROGRAM ARGS... | sender get PORT PATH SECONDS [CONNECTIONS [FIELD]]\n");
  return 2;
}
