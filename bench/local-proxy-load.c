/*
 * Load generator and backend for bench/local-proxy.ts. Written in C so that the measuring side costs a
 * few microseconds per request and the proxy under test, not the load generator, sets the limit.
 *
 *   local-proxy-load echo PORT              echo server on 127.0.0.1:PORT, and a byte source on PORT+1
 *   local-proxy-load rr HOST PORT CONNS SECONDS     keep-alive 64-byte request/response
 *   local-proxy-load conn HOST PORT PARALLEL SECONDS  one new connection per 64-byte request
 *   local-proxy-load bulk HOST PORT SECONDS         one stream read from the source
 * Clients print one JSON line: {"ops":N,"seconds":S,"p99ms":L,"bytes":B}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAXEV 256
#define HIST_US 200000

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in addr_of(const char *host, int port) {
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, host, &a.sin_addr);
  return a;
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = addr_of("127.0.0.1", port);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
    perror("listen");
    exit(1);
  }
  return fd;
}

/* Echo on port, endless 64 KiB writes on port+1. Tags in epoll data: fd*2 + (1 if source). */
static _Noreturn void serve(int port) {
  static char buf[65536];
  int ep = epoll_create1(0), echo = listener(port), source = listener(port + 1);
  struct epoll_event ev = {.events = EPOLLIN}, evs[MAXEV];
  ev.data.u64 = (uint64_t)echo * 2;
  epoll_ctl(ep, EPOLL_CTL_ADD, echo, &ev);
  ev.data.u64 = (uint64_t)source * 2 + 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, source, &ev);
  memset(buf, 'y', sizeof buf);
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int n = epoll_wait(ep, evs, MAXEV, -1);
    for (int i = 0; i < n; i++) {
      int fd = (int)(evs[i].data.u64 / 2), is_source = (int)(evs[i].data.u64 & 1);
      if (fd == echo || fd == source) {
        int c;
        while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          nodelay(c);
          struct epoll_event cev = {.events = is_source ? EPOLLOUT : EPOLLIN};
          cev.data.u64 = (uint64_t)c * 2 + is_source;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      if (is_source) {
        if (write(fd, buf, sizeof buf) < 0 && errno != EAGAIN) close(fd);
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        if (r == 0 || errno != EAGAIN) close(fd);
        continue;
      }
      if (write(fd, buf, (size_t)r) != r) close(fd);
    }
  }
}

static int connect_to(struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  nodelay(fd);
  if (connect(fd, (struct sockaddr *)a, sizeof *a) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static unsigned hist[HIST_US + 1];

static double p99(long ops) {
  long want = (long)(ops * 0.99), seen = 0;
  for (int us = 0; us <= HIST_US; us++)
    if ((seen += hist[us]) > want) return us / 1000.0;
  return HIST_US / 1000.0;
}

/* Keep-alive ping-pong on conns connections; also used for a new connection per request (fresh). */
static int client(const char *host, int port, int conns, double seconds, int fresh) {
  struct sockaddr_in a = addr_of(host, port);
  int ep = epoll_create1(0);
  int *got = calloc(65536, sizeof *got);
  double *sent = calloc(65536, sizeof *sent);
  char msg[MSG], buf[4096];
  memset(msg, 'x', sizeof msg);
  long ops = 0;
  int live = 0;
  for (int i = 0; i < conns; i++) {
    int fd = connect_to(&a);
    if (fd < 0 || fd >= 65536) continue;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    got[fd] = -1; /* -1: waiting for connect */
    live++;
  }
  double start = now(), end = start + seconds;
  struct epoll_event evs[MAXEV];
  while (now() < end) {
    int n = epoll_wait(ep, evs, MAXEV, 100);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd, dead = 0;
      if (got[fd] == -1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) dead = 1;
        else {
          struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
          got[fd] = 0;
          sent[fd] = now();
          if (write(fd, msg, MSG) != MSG) dead = 1;
        }
      } else {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0) {
          if (r == 0 || errno != EAGAIN) dead = 1;
        } else if ((got[fd] += (int)r) >= MSG) {
          got[fd] -= MSG;
          double t = now();
          long us = (long)((t - sent[fd]) * 1e6);
          hist[us > HIST_US ? HIST_US : us]++;
          ops++;
          if (fresh) dead = 1;
          else {
            sent[fd] = t;
            if (write(fd, msg, MSG) != MSG) dead = 1;
          }
        }
      }
      if (dead) {
        close(fd);
        live--;
        if (fresh || live < conns) {
          int nfd = connect_to(&a);
          if (nfd >= 0 && nfd < 65536) {
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.fd = nfd};
            epoll_ctl(ep, EPOLL_CTL_ADD, nfd, &ev);
            got[nfd] = -1;
            live++;
          }
        }
      }
    }
  }
  double elapsed = now() - start;
  printf("{\"ops\":%ld,\"seconds\":%.3f,\"p99ms\":%.3f}\n", ops, elapsed, p99(ops));
  return 0;
}

static int bulk(const char *host, int port, double seconds) {
  static char buf[262144];
  struct sockaddr_in a = addr_of(host, port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    perror("connect");
    return 1;
  }
  struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  long long bytes = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r == 0) break;
    if (r > 0) bytes += r;
  }
  double elapsed = now() - start;
  printf("{\"ops\":0,\"seconds\":%.3f,\"bytes\":%lld}\n", elapsed, bytes);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a peer that closed is an error return, not the end of the process */
  if (argc >= 3 && !strcmp(argv[1], "echo")) serve(atoi(argv[2]));
  if (argc >= 6 && !strcmp(argv[1], "rr")) return client(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]), 0);
  if (argc >= 6 && !strcmp(argv[1], "conn")) return client(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]), 1);
  if (argc >= 5 && !strcmp(argv[1], "bulk")) return bulk(argv[2], atoi(argv[3]), atof(argv[4]));
  fprintf(stderr, "usage: see the comment at the top of local-proxy-load.c\n");
  return 2;
}
