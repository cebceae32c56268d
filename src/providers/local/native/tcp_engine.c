/*
 * The local provider's TCP data path: listeners, connection set-up and byte forwarding on one epoll
 * thread per JavaScript environment (one per proxy worker). A proxied chunk costs one recv and one send
 * and no JavaScript at all, which is what it takes to come near HAProxy; Node's sockets spend several
 * microseconds of callbacks and stream bookkeeping per chunk.
 *
 * Policy stays in TypeScript (tcp-proxy.ts): which nodes, their health, source ranges, affinity and limits
 * are handed over by limits(), nodes() and configure(), counters are read back by stats() and usage(). The
 * semantics follow the proxy spec: half-close passed on, backpressure both ways, up to three nodes tried
 * per connection, removed nodes and closed listeners drained for a grace period, then cut.
 *
 * Hostile clients are bounded: connections per listener and per engine (past either, a new connection is
 * reset and counted), bytes held per connection (one read of SCRATCH per direction, and nothing more is
 * read from that side until it is sent) and in total (past the budget a side is only peeked at, so what
 * the other side does not take stays in the kernel, where TCP flow control holds the sender back), and
 * time (a connection with no bytes either way for the listener's idle timeout is closed).
 *
 * Threads: the engine thread and the JavaScript thread share everything under one mutex. Only the
 * engine thread closes connections and frees memory, and only between epoll batches, so that an event
 * already returned by epoll_wait never points at freed memory.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_ATTEMPTS 3
#define CONNECT_TIMEOUT_MS 5000
#define TICK_MS 50
#define SCRATCH (64 * 1024)
/* Reads per direction before other connections get a turn. */
#define BURST 16
#define MAX_EVENTS 256
/* How often open connections are checked against their idle timeout. */
#define IDLE_SCAN_MS 1000
/* Buffered bytes past which the memory is handed back to the system once the buffers are empty again. */
#define TRIM_AFTER (4 * 1024 * 1024)

enum { KIND_LISTENER = 1, KIND_SIDE, KIND_WAKE };
enum { REJ_SOURCE_RANGE, REJ_NO_HEALTHY_TARGET, REJ_CONNECT_FAILED, REJ_LISTENER_LIMIT, REJ_GLOBAL_LIMIT, REJ_COUNT };
static const char *const reject_names[REJ_COUNT] = {"source_range", "no_healthy_target", "connect_failed", "listener_limit", "global_limit"};
enum { CONNECTING, OPEN, DEAD };

typedef struct conn conn;
typedef struct frontend frontend;

/* A backend's address: sockaddr_storage is 128 bytes, and there is one per frontend and node. */
typedef union sockaddr_any {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} sockaddr_any;

typedef struct backend {
  struct backend *next_retired;
  uint64_t serial;
  int node; /* index in frontend->nodes */
  int healthy;
  sockaddr_any addr;
  socklen_t addrlen;
  conn *conns; /* dialling or open */
  int64_t deadline; /* retired: connections still open then are cut */
} backend;

typedef struct side {
  int kind; /* first: epoll data points here */
  conn *c;
  int fd;
  int readable, writable, eof, shut;
  int hup; /* the peer has sent FIN or failed: a short read is no longer the end of what is there */
} side;

typedef struct pending {
  char *data;
  size_t len, off;
} pending;

struct conn {
  side s[2]; /* 0: client, 1: node */
  pending p[2]; /* p[i]: read from s[i], not yet written to the other side */
  frontend *fe;
  backend *be;
  conn *prev, *next; /* in be->conns */
  conn *prev_dial, *next_dial; /* in engine->dialling */
  conn *next_ready;
  conn *next_dead;
  int ready;
  int state;
  int attempts;
  uint64_t tried[CONNECT_ATTEMPTS];
  int64_t deadline;
  int64_t last_active; /* the last byte read, either way */
  struct sockaddr_storage peer;
};

typedef struct node_count {
  char *name;
  uint64_t opened;
} node_count;

typedef struct range {
  int family;
  unsigned char addr[16];
  int prefix;
} range;

struct frontend {
  int kind; /* first: epoll data points here */
  int id;
  int fd;
  int accepting; /* registered with epoll: not before the first configure() */
  int accept_later; /* accept failed for want of fds or memory: tick() tries again */
  frontend *next;
  backend **current;
  int ncurrent;
  backend **eligible;
  int neligible;
  backend **candidates;
  backend *retired;
  int affinity;
  range *ranges;
  int nranges;
  uint32_t rr;
  int closing;
  int64_t close_at;
  int live;
  int max_conns; /* 0: no limit of its own */
  int64_t idle_ms; /* 0: none */
  uint64_t active, bytes_in, bytes_out, rejected[REJ_COUNT];
  node_count *nodes;
  int nnodes, capnodes;
};

typedef struct engine {
  pthread_t thread;
  pthread_mutex_t mu;
  int epfd, wakefd, stop;
  int wake_kind; /* epoll data for wakefd points here */
  frontend *fes;
  int next_id;
  uint64_t next_serial;
  conn *dialling, *ready, *dead;
  int timed; /* something waits for a deadline */
  int watch_idle; /* open connections with an idle timeout */
  int64_t now; /* of the current batch */
  int64_t next_tick, next_idle_scan;
  int live, max_conns; /* max_conns 0: no limit */
  size_t buffered, max_buffered; /* bytes read from one side and not yet sent to the other */
  int trim; /* buffered went past TRIM_AFTER: give the memory back once nothing is buffered */
  char scratch[SCRATCH];
} engine;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(engine *e) {
  uint64_t one = 1;
  ssize_t ignored = write(e->wakefd, &one, sizeof one);
  (void)ignored;
}

/* FNV-1a over "client|id" with a final avalanche: the same numbers as node-picker.ts's hash, so that the
 * TCP and UDP paths and every worker send a client to the same node. The id is the node's name. */
static uint32_t affinity_hash(const char *client, const char *id) {
  uint32_t h = 0x811c9dc5u;
  for (const char *p = client; *p; p++) h = (h ^ (unsigned char)*p) * 0x01000193u;
  h = (h ^ '|') * 0x01000193u;
  for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 0x01000193u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static int tried(const conn *c, const backend *b) {
  for (int i = 0; i < c->attempts; i++)
    if (c->tried[i] == b->serial) return 1;
  return 0;
}

static backend *pick(frontend *fe, conn *c) {
  int n = 0;
  for (int i = 0; i < fe->neligible; i++)
    if (!tried(c, fe->eligible[i])) fe->candidates[n++] = fe->eligible[i];
  if (n == 0) return NULL;
  if (!fe->affinity) {
    backend *b = fe->candidates[fe->rr % (uint32_t)n];
    fe->rr = (fe->rr + 1) % 1000000007u;
    return b;
  }
  char client[INET6_ADDRSTRLEN] = "";
  if (c->peer.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&c->peer)->sin_addr, client, sizeof client);
  else inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->peer)->sin6_addr, client, sizeof client);
  backend *best = NULL;
  uint32_t best_score = 0;
  for (int i = 0; i < n; i++) {
    uint32_t score = affinity_hash(client, fe->nodes[fe->candidates[i]->node].name);
    if (!best || score > best_score) {
      best = fe->candidates[i];
      best_score = score;
    }
  }
  return best;
}

static int in_range(const range *r, int family, const unsigned char *a) {
  if (r->family != family) return 0;
  int bits = r->prefix, i = 0;
  for (; bits >= 8; bits -= 8, i++)
    if (a[i] != r->addr[i]) return 0;
  if (bits == 0) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - bits));
  return (a[i] & mask) == (r->addr[i] & mask);
}

/* loadBalancerSourceRanges: none means everyone; IPv4 ranges also match IPv4-mapped IPv6 clients. */
static int allowed(const frontend *fe, const struct sockaddr_storage *peer) {
  if (fe->nranges == 0) return 1;
  const unsigned char *v4 = NULL, *v6 = NULL;
  if (peer->ss_family == AF_INET) v4 = (const unsigned char *)&((const struct sockaddr_in *)peer)->sin_addr;
  else {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
    v6 = (const unsigned char *)a;
    if (IN6_IS_ADDR_V4MAPPED(a)) v4 = v6 + 12;
  }
  for (int i = 0; i < fe->nranges; i++) {
    if (v4 && in_range(&fe->ranges[i], AF_INET, v4)) return 1;
    if (v6 && in_range(&fe->ranges[i], AF_INET6, v6)) return 1;
  }
  return 0;
}

static void close_fd(int fd, int reset) {
  if (reset) {
    /* Linger 0: close sends RST, as a proxy does when one side failed or the stream is cut short. */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(fd);
}

/* Out of epoll before close: a child forked by the main thread (execFile) may briefly hold a copy of the
 * fd, which would keep it registered and bring back events naming freed memory. */
static void drop_fd(engine *e, int fd, int reset) {
  epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
  close_fd(fd, reset);
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void unlink_backend(conn *c) {
  backend *b = c->be;
  if (!b) return;
  if (c->prev) c->prev->next = c->next;
  else b->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  c->be = NULL;
}

static void unlink_dialling(engine *e, conn *c) {
  if (c->prev_dial) c->prev_dial->next_dial = c->next_dial;
  else if (e->dialling == c) e->dialling = c->next_dial;
  if (c->next_dial) c->next_dial->prev_dial = c->prev_dial;
  c->prev_dial = c->next_dial = NULL;
}

/* Ends a connection. The memory goes at the end of the batch, after every event that may name it. */
static void finish(engine *e, conn *c, int reset) {
  if (c->state == DEAD) return;
  if (c->state == CONNECTING) unlink_dialling(e, c);
  else c->fe->active--;
  unlink_backend(c);
  c->fe->live--;
  e->live--;
  for (int i = 0; i < 2; i++) {
    if (c->s[i].fd >= 0) drop_fd(e, c->s[i].fd, reset);
    c->s[i].fd = -1;
  }
  c->state = DEAD;
  /* A connection on the ready list is moved to the dead list when the list is run. */
  if (!c->ready) {
    c->next_dead = e->dead;
    e->dead = c;
  }
}

static void queue_ready(engine *e, conn *c) {
  if (c->ready) return;
  c->ready = 1;
  c->next_ready = e->ready;
  e->ready = c;
}

static int add_fd(engine *e, int fd, uint32_t events, void *tag) {
  struct epoll_event ev = {.events = events, .data.ptr = tag};
  return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* After a failed recv or send: 1 to try again (EINTR), 0 to wait for epoll (EAGAIN, which clears *ready),
 * -1 when the connection is over. */
static int io_failed(engine *e, conn *c, int *ready) {
  if (errno == EINTR) return 1;
  if (errno == EAGAIN) {
    *ready = 0;
    return 0;
  }
  finish(e, c, 1);
  return -1;
}

static void drop_pending(engine *e, pending *p) {
  if (!p->data) return;
  e->buffered -= p->len;
  free(p->data);
  p->data = NULL;
}

/* Forwards what side `from` has to the other side, until one of them would block. */
static void pump(engine *e, conn *c, int from) {
  side *src = &c->s[from], *dst = &c->s[1 - from];
  pending *p = &c->p[from];
  frontend *fe = c->fe;
  for (int burst = 0;; burst++) {
    if (p->data) {
      if (!dst->writable) return;
      ssize_t w = send(dst->fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
      if (w < 0) {
        if (io_failed(e, c, &dst->writable) > 0) continue;
        return;
      }
      p->off += (size_t)w;
      if (p->off < p->len) {
        /* A short send means the socket buffer is full; EPOLLOUT comes when it drains. */
        dst->writable = 0;
        return;
      }
      drop_pending(e, p);
    }
    if (src->eof) {
      if (!dst->shut) {
        /* Half-close: the other side sees our FIN and may go on sending. */
        shutdown(dst->fd, SHUT_WR);
        dst->shut = 1;
        if (src->shut) finish(e, c, 0);
      }
      return;
    }
    if (!src->readable || !dst->writable) return;
    if (burst == BURST) {
      queue_ready(e, c);
      return;
    }
    /* With no room in the budget for a leftover, the data is peeked at and only what was sent is taken. */
    int peek = e->buffered + SCRATCH > e->max_buffered;
    ssize_t n = recv(src->fd, e->scratch, SCRATCH, peek ? MSG_PEEK : 0);
    if (n == 0) {
      src->eof = 1;
      continue;
    }
    if (n < 0) {
      if (io_failed(e, c, &src->readable) > 0) continue;
      return;
    }
    c->last_active = e->now;
    ssize_t w;
    do w = send(dst->fd, e->scratch, (size_t)n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno != EAGAIN) {
        finish(e, c, 1);
        return;
      }
      w = 0;
    }
    if (peek && w > 0) {
      /* TCP discards rather than copies with MSG_TRUNC; the bytes are there, so all of them come. */
      ssize_t taken;
      do taken = recv(src->fd, e->scratch, (size_t)w, MSG_TRUNC);
      while (taken < 0 && errno == EINTR);
      if (taken != w) {
        finish(e, c, 1);
        return;
      }
    }
    size_t moved = peek ? (size_t)w : (size_t)n;
    if (from == 0) fe->bytes_in += moved;
    else fe->bytes_out += moved;
    /* A short read emptied the socket and edge-triggered epoll reports whatever arrives next, except a
     * FIN or error that came with the data: that one was reported already, so read on to see it. A peek
     * that left bytes behind did not empty it. */
    if (n < SCRATCH && !src->hup && (!peek || w == n)) src->readable = 0;
    if (w < n) {
      /* A short send means the socket buffer is full; EPOLLOUT comes when it drains. */
      dst->writable = 0;
      if (peek) return;
      p->len = (size_t)(n - w);
      p->off = 0;
      p->data = malloc(p->len);
      if (!p->data) {
        finish(e, c, 1);
        return;
      }
      memcpy(p->data, e->scratch + w, p->len);
      e->buffered += p->len;
      if (e->buffered > TRIM_AFTER) e->trim = 1;
      return;
    }
  }
}

static void dial(engine *e, conn *c);

/* The node refused, timed out or failed: try another while attempts are left. */
static void retry(engine *e, conn *c) {
  unlink_dialling(e, c);
  unlink_backend(c);
  drop_fd(e, c->s[1].fd, 0);
  c->s[1].fd = -1;
  if (c->attempts < CONNECT_ATTEMPTS) dial(e, c);
  else {
    c->fe->rejected[REJ_CONNECT_FAILED]++;
    finish(e, c, 1);
  }
}

static void dial(engine *e, conn *c) {
  frontend *fe = c->fe;
  for (;;) {
    backend *b = pick(fe, c);
    if (!b) {
      fe->rejected[c->attempts == 0 ? REJ_NO_HEALTHY_TARGET : REJ_CONNECT_FAILED]++;
      finish(e, c, 1);
      return;
    }
    c->tried[c->attempts++] = b->serial;
    int fd = socket(b->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      set_nodelay(fd);
      if (connect(fd, &b->addr.sa, b->addrlen) == 0 || errno == EINPROGRESS) {
        side *s = &c->s[1];
        memset(s, 0, sizeof *s);
        s->kind = KIND_SIDE;
        s->c = c;
        s->fd = fd;
        if (add_fd(e, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, s) == 0) {
          c->be = b;
          c->next = b->conns;
          if (b->conns) b->conns->prev = c;
          b->conns = c;
          c->deadline = now_ms() + CONNECT_TIMEOUT_MS;
          c->next_dial = e->dialling;
          if (e->dialling) e->dialling->prev_dial = c;
          e->dialling = c;
          e->timed = 1;
          return;
        }
        s->fd = -1;
      }
      close(fd);
    }
    if (c->attempts >= CONNECT_ATTEMPTS) {
      fe->rejected[REJ_CONNECT_FAILED]++;
      finish(e, c, 1);
      return;
    }
  }
}

static void established(engine *e, conn *c) {
  unlink_dialling(e, c);
  c->state = OPEN;
  c->fe->active++;
  c->fe->nodes[c->be->node].opened++;
  c->last_active = e->now;
  /* Whatever the client sent while the node was dialled was left in its socket; read it now. */
  for (int i = 0; i < 2; i++) c->s[i].readable = c->s[i].writable = 1;
  pump(e, c, 0);
  if (c->state == OPEN) pump(e, c, 1);
}

static void on_side(engine *e, side *s, uint32_t events) {
  conn *c = s->c;
  if (c->state == DEAD || s->fd < 0) return;
  int i = (int)(s - c->s);
  /* Kept from the first report on, including while the node is dialled: a FIN that came with data is
   * reported once. Wrongly set (a stale event), it only costs one more recv. */
  if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) s->hup = 1;
  if (c->state == CONNECTING) {
    if (i == 0) {
      /* The client reset before the node answered: nothing to forward, no node to bother. */
      if (events & (EPOLLERR | EPOLLHUP)) finish(e, c, 1);
      return;
    }
    /* Asked of the socket rather than read from `events`: an event from an earlier attempt's socket
     * may still be in this batch. */
    int err = 0;
    socklen_t len = sizeof err;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) retry(e, c);
    else if (getpeername(s->fd, (struct sockaddr *)&peer, &plen) == 0) established(e, c);
    return;
  }
  if (events & EPOLLERR) {
    /* Asked here because pump() makes no syscall on a side already at EOF with nothing to send. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      finish(e, c, 1);
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) s->readable = 1;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) s->writable = 1;
  pump(e, c, i);
  /* This side may have become writable: the other direction can go on. */
  if (c->state == OPEN) pump(e, c, 1 - i);
}

static void on_accept(engine *e, frontend *fe) {
  while (fe->fd >= 0) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(fe->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* Edge-triggered: the backlog would not be reported again until the next SYN. */
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        fe->accept_later = 1;
        e->timed = 1;
      }
      return;
    }
    int refused = !allowed(fe, &peer)                         ? REJ_SOURCE_RANGE
                  : fe->max_conns && fe->live >= fe->max_conns ? REJ_LISTENER_LIMIT
                  : e->max_conns && e->live >= e->max_conns   ? REJ_GLOBAL_LIMIT
                                                               : -1;
    if (refused >= 0) {
      fe->rejected[refused]++;
      close_fd(fd, 1);
      continue;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) {
      close_fd(fd, 1);
      continue;
    }
    c->fe = fe;
    c->peer = peer;
    c->state = CONNECTING;
    c->s[0] = (side){.kind = KIND_SIDE, .c = c, .fd = fd};
    c->s[1] = (side){.kind = KIND_SIDE, .c = c, .fd = -1};
    set_nodelay(fd);
    if (add_fd(e, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->s[0]) != 0) {
      close_fd(fd, 1);
      free(c);
      continue;
    }
    fe->live++;
    e->live++;
    dial(e, c);
  }
}

/* A cut stream ends with RST, so that a client reading to EOF does not take it for complete. */
static void cut_backend(engine *e, backend *b) {
  while (b->conns) finish(e, b->conns, 1);
}

/* Closes the backend's open connections that moved no byte either way for idle_ms. */
static void close_idle(engine *e, backend *b, int64_t idle_ms) {
  for (conn *c = b->conns, *next; c; c = next) {
    next = c->next;
    /* A FIN, as after any finished exchange; bytes left unsent are lost, so those end in a reset. */
    if (c->state == OPEN && e->now - c->last_active >= idle_ms) finish(e, c, c->p[0].data || c->p[1].data);
  }
}

static void free_frontend(frontend *fe) {
  for (int i = 0; i < fe->ncurrent; i++) free(fe->current[i]);
  while (fe->retired) {
    backend *b = fe->retired;
    fe->retired = b->next_retired;
    free(b);
  }
  for (int i = 0; i < fe->nnodes; i++) free(fe->nodes[i].name);
  free(fe->nodes);
  free(fe->current);
  free(fe->eligible);
  free(fe->candidates);
  free(fe->ranges);
  free(fe);
}

/* Deadlines: dials that take too long, drains that ran out, listeners closed and empty, idle connections. */
static void tick(engine *e, int64_t now) {
  int timed = 0, scan = now >= e->next_idle_scan, watch_idle = 0;
  if (scan) e->next_idle_scan = now + IDLE_SCAN_MS;
  for (conn *c = e->dialling, *next; c; c = next) {
    next = c->next_dial;
    if (c->deadline <= now) retry(e, c);
  }
  for (frontend **link = &e->fes; *link;) {
    frontend *fe = *link;
    if (fe->accept_later) {
      fe->accept_later = 0;
      on_accept(e, fe);
      if (fe->accept_later) timed = 1;
    }
    int cut_all = fe->closing && fe->close_at <= now;
    if (cut_all)
      for (int i = 0; i < fe->ncurrent; i++) cut_backend(e, fe->current[i]);
    if (fe->idle_ms > 0 && fe->live > 0) {
      if (scan) {
        for (int i = 0; i < fe->ncurrent; i++) close_idle(e, fe->current[i], fe->idle_ms);
        for (backend *b = fe->retired; b; b = b->next_retired) close_idle(e, b, fe->idle_ms);
      }
      watch_idle = 1;
    }
    for (backend **bl = &fe->retired; *bl;) {
      backend *b = *bl;
      if (cut_all || b->deadline <= now) cut_backend(e, b);
      if (!b->conns) {
        *bl = b->next_retired;
        free(b);
      } else {
        bl = &b->next_retired;
        timed = 1;
      }
    }
    if (fe->closing && fe->live == 0) {
      *link = fe->next;
      free_frontend(fe);
      continue;
    }
    if (fe->closing) timed = 1;
    link = &fe->next;
  }
  /* Asked last: the accepts above may have started dials. */
  if (e->dialling) timed = 1;
  e->timed = timed;
  e->watch_idle = watch_idle;
  e->next_tick = now + TICK_MS;
}

static void free_dead(engine *e) {
  while (e->dead) {
    conn *c = e->dead;
    e->dead = c->next_dead;
    drop_pending(e, &c->p[0]);
    drop_pending(e, &c->p[1]);
    free(c);
  }
}

static void *run(void *arg) {
  engine *e = arg;
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    pthread_mutex_lock(&e->mu);
    int timeout = e->ready ? 0 : e->timed ? TICK_MS : e->watch_idle ? IDLE_SCAN_MS : -1;
    pthread_mutex_unlock(&e->mu);
    int n = epoll_wait(e->epfd, events, MAX_EVENTS, timeout);
    pthread_mutex_lock(&e->mu);
    e->now = now_ms();
    if (e->stop) {
      pthread_mutex_unlock(&e->mu);
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      int kind = *(int *)events[i].data.ptr;
      if (kind == KIND_SIDE) on_side(e, events[i].data.ptr, events[i].events);
      else if (kind == KIND_LISTENER) on_accept(e, events[i].data.ptr);
      else {
        uint64_t count;
        ssize_t ignored = read(e->wakefd, &count, sizeof count);
        (void)ignored;
      }
    }
    conn *ready = e->ready;
    e->ready = NULL;
    while (ready) {
      conn *c = ready;
      ready = c->next_ready;
      c->ready = 0;
      /* Ended while it waited here: finish() left it to this loop. Ended by the pumps below: finish()
       * saw ready == 0 and listed it as dead itself. */
      if (c->state == DEAD) {
        c->next_dead = e->dead;
        e->dead = c;
        continue;
      }
      pump(e, c, 0);
      if (c->state == OPEN) pump(e, c, 1);
    }
    int64_t now = now_ms();
    if (now >= e->next_tick) tick(e, now);
    free_dead(e);
    if (e->trim && e->buffered == 0) {
      /* Freed buffers would otherwise stay with this thread's malloc arena after the slow readers left. */
      malloc_trim(0);
      e->trim = 0;
    }
    pthread_mutex_unlock(&e->mu);
  }
}

/* ---- JavaScript side ---------------------------------------------------------------------------- */

static frontend *find(engine *e, int id) {
  for (frontend *fe = e->fes; fe; fe = fe->next)
    if (fe->id == id) return fe;
  return NULL;
}

static void destroy_engine(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine *e = data;
  pthread_mutex_lock(&e->mu);
  e->stop = 1;
  pthread_mutex_unlock(&e->mu);
  wake(e);
  pthread_join(e->thread, NULL);
  /* The thread is gone: close whatever is still open and free it all. */
  while (e->fes) {
    frontend *fe = e->fes;
    e->fes = fe->next;
    if (fe->fd >= 0) close(fe->fd);
    for (int i = 0; i < fe->ncurrent; i++) cut_backend(e, fe->current[i]);
    for (backend *b = fe->retired; b; b = b->next_retired) cut_backend(e, b);
    free_frontend(fe);
  }
  for (conn *c = e->ready; c; c = c->next_ready) {
    c->next_dead = e->dead;
    e->dead = c;
  }
  free_dead(e);
  close(e->epfd);
  close(e->wakefd);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

static napi_value throw_error(napi_env env, const char *code, const char *message) {
  napi_value c = NULL, m, err;
  if (code) napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &err);
  napi_throw(env, err);
  return NULL;
}

static engine *get_engine(napi_env env) {
  engine *e = NULL;
  napi_get_instance_data(env, (void **)&e);
  if (e) return e;
  e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->wake_kind = KIND_WAKE;
  e->max_buffered = SIZE_MAX;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  pthread_mutex_init(&e->mu, NULL);
  if (e->epfd < 0 || e->wakefd < 0 || add_fd(e, e->wakefd, EPOLLIN, &e->wake_kind) != 0 || pthread_create(&e->thread, NULL, run, e) != 0) {
    if (e->epfd >= 0) close(e->epfd);
    if (e->wakefd >= 0) close(e->wakefd);
    free(e);
    return NULL;
  }
  napi_set_instance_data(env, e, destroy_engine, NULL);
  return e;
}

/* The engine of this JavaScript environment, started on first use. */
#define ENGINE(e)                \
  engine *e = get_engine(env);   \
  if (!e) return throw_error(env, "ENOMEM", "tcp_engine: cannot start the engine thread");

#define ARGS(n)                                                                \
  size_t argc = n;                                                             \
  napi_value argv[n];                                                          \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) \
    return throw_error(env, NULL, "tcp_engine: expected " #n " arguments");

static int get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len;
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok && len < size - 1;
}

static char *get_string_alloc(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

static int sockaddr_of(const char *host, int port, sockaddr_any *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (port < 0 || port > 65535) return 0;
  struct sockaddr_in *in4 = &ss->in4;
  struct sockaddr_in6 *in6 = &ss->in6;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return 1;
  }
  return 0;
}

/* The errno names a listen can end with, as Node spells them in `code`. */
static const char *errno_name(int err) {
  switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    default: return NULL;
  }
}

/* listen(host, port) -> id. Binds with SO_REUSEPORT next to the other workers; throws with the errno
 * name as `code` (EADDRINUSE, EADDRNOTAVAIL, EACCES, ...). */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  char host[INET6_ADDRSTRLEN + 1];
  int32_t port;
  if (!get_string(env, argv[0], host, sizeof host) || napi_get_value_int32(env, argv[1], &port) != napi_ok)
    return throw_error(env, NULL, "listen(host, port): bad arguments");
  sockaddr_any ss;
  socklen_t len;
  if (!sockaddr_of(host, port, &ss, &len)) return throw_error(env, "EINVAL", "listen: not an IP address and port");
  ENGINE(e);
  int fd = socket(ss.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  const char *step = "socket";
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    step = "bind";
    if (bind(fd, &ss.sa, len) == 0) {
      step = "listen";
      if (listen(fd, 4096) == 0) step = NULL;
    }
  }
  if (step) {
    int err = errno;
    if (fd >= 0) close(fd);
    char message[160];
    const char *code = errno_name(err);
    snprintf(message, sizeof message, "%s %s %s:%d", step, code ? code : strerror(err), host, port);
    return throw_error(env, code, message);
  }
  frontend *fe = calloc(1, sizeof *fe);
  if (!fe) {
    close(fd);
    return throw_error(env, "ENOMEM", "listen: out of memory");
  }
  fe->kind = KIND_LISTENER;
  fe->fd = fd;
  fe->rr = (uint32_t)now_ms() % 1000;
  pthread_mutex_lock(&e->mu);
  fe->id = ++e->next_id;
  fe->next = e->fes;
  e->fes = fe;
  pthread_mutex_unlock(&e->mu);
  napi_value id;
  napi_create_int32(env, fe->id, &id);
  return id;
}

static napi_value get_key(napi_env env, napi_value obj, napi_value key) {
  napi_value v = NULL;
  if (key) napi_get_property(env, obj, key, &v);
  return v;
}

/* The scan starts at hint: backends usually come in the same order every time, so the first compare hits. */
static int node_index(frontend *fe, const char *name, int hint) {
  for (int k = 0; k < fe->nnodes; k++) {
    int i = (hint + k) % fe->nnodes;
    if (strcmp(fe->nodes[i].name, name) == 0) return i;
  }
  /* Doubling: one realloc per new node, times a thousand frontends, fragments the heap. */
  if (fe->nnodes == fe->capnodes) {
    int cap = fe->capnodes ? fe->capnodes * 2 : 8;
    node_count *grown = realloc(fe->nodes, sizeof *grown * (size_t)cap);
    if (!grown) return -1;
    fe->nodes = grown;
    fe->capnodes = cap;
  }
  char *copy = strdup(name);
  if (!copy) return -1;
  fe->nodes[fe->nnodes] = (node_count){.name = copy, .opened = 0};
  return fe->nnodes++;
}

/* A node as nodes() read it: the address without a port, which each frontend adds. */
typedef struct node_entry {
  char *name;
  int healthy;
  sockaddr_any addr;
  socklen_t addrlen;
} node_entry;

typedef struct node_set {
  uint32_t n;
  node_entry *items;
} node_set;

static void free_node_set(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  node_set *set = data;
  for (uint32_t i = 0; set && i < set->n; i++) free(set->items[i].name);
  if (set) free(set->items);
  free(set);
}

/* nodes([{node, address, healthy}]) -> a handle for configure(). A node change gives a thousand frontends
 * one shared list: it is read here once, not once per frontend (100,000 backends read property by property
 * took most of a node round). */
static napi_value js_nodes(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint32_t n = 0;
  if (napi_get_array_length(env, argv[0], &n) != napi_ok) return throw_error(env, NULL, "nodes: expected an array");
  node_set *set = calloc(1, sizeof *set);
  if (set) set->items = calloc(n ? n : 1, sizeof *set->items);
  if (!set || !set->items) {
    free_node_set(env, set, NULL);
    return throw_error(env, "ENOMEM", "nodes: out of memory");
  }
  /* The property names once per call, not once per node: each named lookup internalizes its name. */
  napi_value k_node = NULL, k_address = NULL, k_healthy = NULL;
  napi_create_string_utf8(env, "node", NAPI_AUTO_LENGTH, &k_node);
  napi_create_string_utf8(env, "address", NAPI_AUTO_LENGTH, &k_address);
  napi_create_string_utf8(env, "healthy", NAPI_AUTO_LENGTH, &k_healthy);
  const char *bad = NULL;
  for (uint32_t i = 0; i < n && !bad; i++) {
    napi_value item;
    napi_get_element(env, argv[0], i, &item);
    node_entry *s = &set->items[i];
    set->n = i + 1;
    s->name = get_string_alloc(env, get_key(env, item, k_node));
    char *address = get_string_alloc(env, get_key(env, item, k_address));
    bool healthy = false;
    if (!s->name || !address || napi_get_value_bool(env, get_key(env, item, k_healthy), &healthy) != napi_ok)
      bad = "nodes: a node needs node, address and healthy";
    else if (!sockaddr_of(address, 0, &s->addr, &s->addrlen)) bad = "nodes: a node address is not an IP address";
    free(address);
    s->healthy = healthy;
  }
  napi_value out;
  if (bad || napi_create_external(env, set, free_node_set, NULL, &out) != napi_ok) {
    free_node_set(env, set, NULL);
    return throw_error(env, NULL, bad ? bad : "nodes: cannot create the handle");
  }
  return out;
}

/* configure(id, nodes (a handle from nodes()), port, clientIPAffinity, sourceRanges ["cidr"], drainGraceMs,
 * maxConnections (0: none), idleTimeoutMs (0: none)): the backends are every node on port. Backends that
 * left (or moved) keep their connections for the grace period. */
static napi_value js_configure(napi_env env, napi_callback_info info) {
  ARGS(8);
  ENGINE(e);
  int32_t id, port, grace, max_conns;
  int64_t idle_ms;
  bool affinity;
  uint32_t nr = 0;
  napi_valuetype nodes_type;
  node_set *set = NULL;
  if (napi_get_value_int32(env, argv[0], &id) != napi_ok || napi_typeof(env, argv[1], &nodes_type) != napi_ok ||
      nodes_type != napi_external || napi_get_value_external(env, argv[1], (void **)&set) != napi_ok || !set ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || port < 1 || port > 65535 ||
      napi_get_value_bool(env, argv[3], &affinity) != napi_ok || napi_get_array_length(env, argv[4], &nr) != napi_ok ||
      napi_get_value_int32(env, argv[5], &grace) != napi_ok || napi_get_value_int32(env, argv[6], &max_conns) != napi_ok ||
      napi_get_value_int64(env, argv[7], &idle_ms) != napi_ok || max_conns < 0 || idle_ms < 0)
    return throw_error(env, NULL, "configure: bad arguments");
  uint32_t nb = set->n;

  /* Everything is allocated and parsed before the lock; what the frontend does not take is freed at
   * `done`. */
  range *ranges = calloc(nr ? nr : 1, sizeof *ranges);
  backend **current = calloc(nb ? nb : 1, sizeof *current);
  backend **eligible = calloc(nb ? nb : 1, sizeof *eligible);
  backend **candidates = calloc(nb ? nb : 1, sizeof *candidates);
  const char *bad = NULL, *code = NULL;
  if (!ranges || !current || !eligible || !candidates) {
    bad = "configure: out of memory";
    code = "ENOMEM";
    goto done;
  }
  for (uint32_t i = 0; i < nr && !bad; i++) {
    napi_value item;
    char text[INET6_ADDRSTRLEN + 8];
    napi_get_element(env, argv[4], i, &item);
    char *slash;
    if (!get_string(env, item, text, sizeof text) || !(slash = strchr(text, '/'))) {
      bad = "configure: a source range is not a CIDR";
      break;
    }
    *slash = 0;
    range *r = &ranges[i];
    char *end;
    long prefix = strtol(slash + 1, &end, 10);
    r->prefix = slash[1] && !*end && prefix >= 0 && prefix <= 128 ? (int)prefix : -1;
    if (inet_pton(AF_INET, text, r->addr) == 1 && r->prefix >= 0 && r->prefix <= 32) r->family = AF_INET;
    else if (inet_pton(AF_INET6, text, r->addr) == 1 && r->prefix >= 0 && r->prefix <= 128) r->family = AF_INET6;
    else bad = "configure: a source range is not a CIDR";
  }
  if (bad) goto done;

  pthread_mutex_lock(&e->mu);
  frontend *fe = find(e, id);
  if (!fe) {
    /* Closed and gone already: nothing to configure. */
    pthread_mutex_unlock(&e->mu);
    goto done;
  }
  int64_t deadline = now_ms() + grace;
  int neligible = 0;
  for (uint32_t i = 0; i < nb; i++) {
    const node_entry *s = &set->items[i];
    sockaddr_any addr = s->addr;
    if (addr.sa.sa_family == AF_INET) addr.in4.sin_port = htons((uint16_t)port);
    else addr.in6.sin6_port = htons((uint16_t)port);
    int node = node_index(fe, s->name, (int)i);
    /* Out of memory: the node is left out, as a backend that cannot be allocated below. */
    if (node < 0) continue;
    backend *b = NULL;
    /* The same node at the same address keeps its connections; anything else is a new backend. The scan
     * starts at the same position (as node_index): 1000 frontends of 100 backends are otherwise 10^7 compares. */
    for (int k = 0; k < fe->ncurrent && !b; k++) {
      int j = (int)((i + (uint32_t)k) % (uint32_t)fe->ncurrent);
      backend *old = fe->current[j];
      if (old && old->node == node && old->addrlen == s->addrlen && memcmp(&old->addr, &addr, s->addrlen) == 0) {
        b = old;
        fe->current[j] = NULL;
      }
    }
    if (!b) {
      b = calloc(1, sizeof *b);
      if (!b) continue;
      b->serial = ++e->next_serial;
      b->addr = addr;
      b->addrlen = s->addrlen;
      b->node = node;
    }
    b->healthy = s->healthy;
    current[i] = b;
    if (b->healthy) eligible[neligible++] = b;
  }
  for (int j = 0; j < fe->ncurrent; j++) {
    backend *old = fe->current[j];
    if (!old) continue;
    old->deadline = deadline;
    old->next_retired = fe->retired;
    fe->retired = old;
  }
  /* A backend that could not be allocated is left out rather than leaving a hole. */
  int ncurrent = 0;
  for (uint32_t i = 0; i < nb; i++)
    if (current[i]) current[ncurrent++] = current[i];
  free(fe->current);
  free(fe->eligible);
  free(fe->candidates);
  free(fe->ranges);
  fe->current = current;
  fe->ncurrent = ncurrent;
  fe->eligible = eligible;
  fe->neligible = neligible;
  fe->candidates = candidates;
  fe->affinity = affinity;
  fe->max_conns = max_conns;
  fe->idle_ms = idle_ms;
  fe->ranges = ranges;
  fe->nranges = (int)nr;
  ranges = NULL;
  current = eligible = candidates = NULL;
  /* Connections wait in the backlog until the frontend knows its backends. */
  if (!fe->accepting && fe->fd >= 0 && add_fd(e, fe->fd, EPOLLIN | EPOLLET, fe) == 0) fe->accepting = 1;
  e->next_tick = 0;
  e->timed = 1;
  pthread_mutex_unlock(&e->mu);
  wake(e);
done:
  free(ranges);
  free(current);
  free(eligible);
  free(candidates);
  return bad ? throw_error(env, code, bad) : NULL;
}

/* close(id, graceMs): stops accepting now; connections still open after graceMs are cut. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(2);
  ENGINE(e);
  int32_t id, grace;
  if (napi_get_value_int32(env, argv[0], &id) != napi_ok || napi_get_value_int32(env, argv[1], &grace) != napi_ok)
    return throw_error(env, NULL, "close: bad arguments");
  pthread_mutex_lock(&e->mu);
  frontend *fe = find(e, id);
  if (fe) {
    if (fe->fd >= 0) {
      epoll_ctl(e->epfd, EPOLL_CTL_DEL, fe->fd, NULL);
      close(fe->fd);
      fe->fd = -1;
    }
    int64_t at = now_ms() + grace;
    if (!fe->closing || at < fe->close_at) fe->close_at = at;
    fe->closing = 1;
    e->next_tick = 0;
    e->timed = 1;
  }
  pthread_mutex_unlock(&e->mu);
  wake(e);
  return NULL;
}

/* live(id) -> connections dialling or open. */
static napi_value js_live(napi_env env, napi_callback_info info) {
  ARGS(1);
  ENGINE(e);
  int32_t id;
  if (napi_get_value_int32(env, argv[0], &id) != napi_ok) return throw_error(env, NULL, "live: bad arguments");
  pthread_mutex_lock(&e->mu);
  frontend *fe = find(e, id);
  int live = fe ? fe->live : 0;
  pthread_mutex_unlock(&e->mu);
  napi_value v;
  napi_create_int32(env, live, &v);
  return v;
}

static void set_number(napi_env env, napi_value obj, const char *name, uint64_t value) {
  napi_value v;
  napi_create_double(env, (double)value, &v);
  napi_set_named_property(env, obj, name, v);
}

/* stats(id, perNode) -> {opened, active, bytesIn, bytesOut, rejected: {...}}, zeros once it is gone. opened is
 * {node: n} with perNode, else their sum: what metrics need, without an object per node and frontend. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(2);
  ENGINE(e);
  int32_t id;
  bool per_node;
  if (napi_get_value_int32(env, argv[0], &id) != napi_ok || napi_get_value_bool(env, argv[1], &per_node) != napi_ok)
    return throw_error(env, NULL, "stats: bad arguments");
  /* Copied under the lock and turned into objects after it: building objects can run the garbage
   * collector, or a setter on Object.prototype, neither of which may hold up the engine thread. */
  uint64_t active = 0, bytes_in = 0, bytes_out = 0, opened_sum = 0, rejected_counts[REJ_COUNT] = {0};
  node_count *nodes = NULL;
  int nnodes = 0;
  pthread_mutex_lock(&e->mu);
  frontend *fe = find(e, id);
  if (fe) {
    active = fe->active;
    bytes_in = fe->bytes_in;
    bytes_out = fe->bytes_out;
    memcpy(rejected_counts, fe->rejected, sizeof rejected_counts);
    for (int i = 0; i < fe->nnodes; i++) opened_sum += fe->nodes[i].opened;
    if (per_node) nodes = calloc(fe->nnodes > 0 ? (size_t)fe->nnodes : 1, sizeof *nodes);
    for (int i = 0; nodes && i < fe->nnodes; i++) {
      nodes[i].opened = fe->nodes[i].opened;
      nodes[i].name = strdup(fe->nodes[i].name);
      if (nodes[i].name) nnodes = i + 1;
      else break;
    }
  }
  pthread_mutex_unlock(&e->mu);
  napi_value out, opened, rejected;
  napi_create_object(env, &out);
  if (per_node) napi_create_object(env, &opened);
  else napi_create_double(env, (double)opened_sum, &opened);
  napi_create_object(env, &rejected);
  for (int i = 0; i < nnodes; i++) set_number(env, opened, nodes[i].name, nodes[i].opened);
  for (int i = 0; i < nnodes; i++) free(nodes[i].name);
  free(nodes);
  set_number(env, out, "active", active);
  set_number(env, out, "bytesIn", bytes_in);
  set_number(env, out, "bytesOut", bytes_out);
  for (int i = 0; i < REJ_COUNT; i++) set_number(env, rejected, reject_names[i], rejected_counts[i]);
  napi_set_named_property(env, out, "opened", opened);
  napi_set_named_property(env, out, "rejected", rejected);
  return out;
}

/* limits(maxConnections (0: none), maxBufferedBytes): for the whole engine, all listeners together. */
static napi_value js_limits(napi_env env, napi_callback_info info) {
  ARGS(2);
  ENGINE(e);
  int32_t max_conns;
  int64_t max_buffered;
  if (napi_get_value_int32(env, argv[0], &max_conns) != napi_ok || napi_get_value_int64(env, argv[1], &max_buffered) != napi_ok ||
      max_conns < 0 || max_buffered < 0)
    return throw_error(env, NULL, "limits: bad arguments");
  pthread_mutex_lock(&e->mu);
  e->max_conns = max_conns;
  e->max_buffered = (size_t)max_buffered;
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

/* usage() -> {connections, bufferedBytes}: the whole engine's, now. */
static napi_value js_usage(napi_env env, napi_callback_info info) {
  (void)info;
  ENGINE(e);
  pthread_mutex_lock(&e->mu);
  uint64_t live = (uint64_t)e->live, buffered = e->buffered;
  pthread_mutex_unlock(&e->mu);
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "connections", live);
  set_number(env, out, "bufferedBytes", buffered);
  return out;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nodes", NULL, js_nodes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"configure", NULL, js_configure, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"live", NULL, js_live, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"limits", NULL, js_limits, NULL, NULL, NULL, napi_enumerable, NULL},
      {"usage", NULL, js_usage, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
