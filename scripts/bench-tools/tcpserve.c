/*
 * tcpserve: the kernel-side server of the bench's kernel and bridge systems. One thread, epoll,
 * non-blocking sockets; it speaks exactly what the bench asks of tunstack:
 *
 *   echo    TCP 7   RFC 862: send back what arrives; close when the peer closes
 *   discard TCP 9   RFC 863: read and drop; close when the peer closes
 *   chargen TCP 19  RFC 864 in spirit: send bytes until the peer goes away (the pattern is not
 *                   the RFC's 72-character lines, only the stream matters here)
 *   http    TCP 80  `GET /bytes/N` -> 200, Content-Length N, N bytes, then close
 *
 * Usage: tcpserve [--addr A] [--max-seconds 600] [--cc NAME]
 * Without --addr it listens on :: for IPv4 and IPv6 clients alike (0.0.0.0 without IPv6).
 * --cc sets kernel TCP's congestion control (TCP_CONGESTION) on every socket.
 * Prints "ready" on stdout once all four listen.
 */
#include "common.h"

#include <sys/epoll.h>

enum kind { LISTEN_ECHO, LISTEN_DISCARD, LISTEN_CHARGEN, LISTEN_HTTP, ECHO, DISCARD, SOURCE, HTTP_REQ };

#define MAX_FDS 65536
#define CHUNK (256 * 1024)
#define REQ_MAX 1024

struct conn {
  enum kind kind;
  uint64_t remaining; /* SOURCE: bytes left to send (UINT64_MAX for chargen) */
  char *pending;      /* ECHO: bytes the peer has not taken yet; HTTP_REQ: request so far */
  size_t pending_len;
  size_t pending_off;
};

static struct conn *conns[MAX_FDS];
static char scratch[CHUNK];
static char pattern[CHUNK];
static int epfd;
static const char *cc;

static void watch(int fd, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  epoll_ctl(epfd, op, fd, &ev);
}

static void drop(int fd) {
  struct conn *c = conns[fd];
  if (c) free(c->pending);
  free(c);
  conns[fd] = NULL;
  epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

/*
 * Listen on `addr`, or (no --addr) on `::` for both families (IPV6_V6ONLY off: IPv4 clients
 * arrive as ::ffff:a.b.c.d), or on 0.0.0.0 where the kernel has no IPv6 (ipv6.disable=1).
 */
static int listen_on(const char *addr, int port, enum kind kind) {
  net_addr sa;
  if (parse_addr(addr ? addr : "::", port, &sa) != 0) fail("bad --addr", EINVAL);
  int fd = socket(sa.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && !addr && errno == EAFNOSUPPORT) {
    parse_addr("0.0.0.0", port, &sa);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) fail("socket", errno);
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa.u.sa.sa_family == AF_INET6 && !addr)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  set_cc(fd, cc);
  if (bind(fd, &sa.u.sa, sa.len) != 0) fail("bind", errno);
  if (listen(fd, 4096) != 0) fail("listen", errno);
  conns[fd] = calloc(1, sizeof(struct conn));
  conns[fd]->kind = kind;
  watch(fd, EPOLLIN, EPOLL_CTL_ADD);
  return fd;
}

static void accept_all(int lfd) {
  enum kind kind = conns[lfd]->kind;
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (fd >= MAX_FDS) {
      close(fd);
      continue;
    }
    struct conn *c = calloc(1, sizeof *c);
    c->kind = kind == LISTEN_ECHO      ? ECHO
              : kind == LISTEN_DISCARD ? DISCARD
              : kind == LISTEN_CHARGEN ? SOURCE
                                       : HTTP_REQ;
    if (c->kind == ECHO) set_nodelay(fd);
    set_cc(fd, cc); /* inherited from the listener already; said again to be sure */
    c->remaining = c->kind == SOURCE ? UINT64_MAX : 0;
    conns[fd] = c;
    watch(fd, c->kind == SOURCE ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_ADD);
  }
}

/* Send what a SOURCE connection still owes until the socket is full; drop it when done. */
static void pump_source(int fd, struct conn *c) {
  while (c->remaining > 0) {
    size_t len = c->remaining < CHUNK ? (size_t)c->remaining : CHUNK;
    ssize_t n = send(fd, pattern, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN) drop(fd);
      return;
    }
    if (c->remaining != UINT64_MAX) c->remaining -= (uint64_t)n;
  }
  shutdown(fd, SHUT_WR);
  drop(fd);
}

/* Flush an ECHO connection's pending bytes; returns 0 when all are gone. */
static int flush_echo(int fd, struct conn *c) {
  while (c->pending_off < c->pending_len) {
    ssize_t n = send(fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 1 : -1;
    c->pending_off += (size_t)n;
  }
  c->pending_off = c->pending_len = 0;
  return 0;
}

static void on_echo_readable(int fd, struct conn *c) {
  for (;;) {
    ssize_t n = recv(fd, scratch, CHUNK, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      drop(fd);
      return;
    }
    if (n < 0) return;
    ssize_t w = send(fd, scratch, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
      drop(fd);
      return;
    }
    if (w < 0) w = 0;
    if (w < n) {
      /* The peer is not reading: keep the rest and stop reading until it drains. */
      c->pending = realloc(c->pending, (size_t)(n - w));
      memcpy(c->pending, scratch + w, (size_t)(n - w));
      c->pending_len = (size_t)(n - w);
      c->pending_off = 0;
      watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
      return;
    }
  }
}

static void on_discard_readable(int fd) {
  for (;;) {
    ssize_t n = recv(fd, scratch, CHUNK, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      drop(fd);
      return;
    }
    if (n < 0) return;
  }
}

static void on_http_readable(int fd, struct conn *c) {
  if (!c->pending) c->pending = malloc(REQ_MAX + 1);
  ssize_t n = recv(fd, c->pending + c->pending_len, REQ_MAX - c->pending_len, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN)) {
    drop(fd);
    return;
  }
  if (n < 0) return;
  c->pending_len += (size_t)n;
  c->pending[c->pending_len] = 0;
  if (!strstr(c->pending, "\r\n\r\n")) {
    if (c->pending_len == REQ_MAX) drop(fd);
    return;
  }
  unsigned long long len = 0;
  char header[256];
  int hl;
  if (sscanf(c->pending, "GET /bytes/%llu ", &len) == 1) {
    hl = snprintf(header, sizeof header,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  "Content-Length: %llu\r\nConnection: close\r\n\r\n",
                  len);
  } else {
    len = 0;
    hl = snprintf(header, sizeof header,
                  "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  }
  free(c->pending);
  c->pending = NULL;
  c->pending_len = 0;
  send(fd, header, (size_t)hl, MSG_NOSIGNAL); /* fits in an empty socket buffer */
  c->kind = SOURCE;
  c->remaining = len;
  watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  pump_source(fd, c);
}

int main(int argc, char **argv) {
  const char *addr = NULL; /* both families */
  double max_seconds = 600;
  const struct opt opts[] = {
      {"--addr", OPT_STR, &addr},
      {"--max-seconds", OPT_DOUBLE, &max_seconds},
      {"--cc", OPT_STR, &cc},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts), "tcpserve [--addr A] [--max-seconds S] [--cc NAME]");
  bound_lifetime(max_seconds);
  raise_nofile(MAX_FDS);
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < CHUNK; i++) pattern[i] = (char)('!' + i % 94);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  listen_on(addr, 7, LISTEN_ECHO);
  listen_on(addr, 9, LISTEN_DISCARD);
  listen_on(addr, 19, LISTEN_CHARGEN);
  listen_on(addr, 80, LISTEN_HTTP);
  printf("ready\n");
  fflush(stdout);

  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(epfd, events, 256, -1);
    if (n < 0 && errno != EINTR) fail("epoll_wait", errno);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      struct conn *c = conns[fd];
      if (!c) continue;
      switch (c->kind) {
      case LISTEN_ECHO:
      case LISTEN_DISCARD:
      case LISTEN_CHARGEN:
      case LISTEN_HTTP:
        accept_all(fd);
        break;
      case ECHO:
        if (c->pending_len > 0) {
          int r = flush_echo(fd, c);
          if (r < 0) drop(fd);
          else if (r == 0) watch(fd, EPOLLIN, EPOLL_CTL_MOD);
        } else {
          on_echo_readable(fd, c);
        }
        break;
      case DISCARD:
        on_discard_readable(fd);
        break;
      case HTTP_REQ:
        on_http_readable(fd, c);
        break;
      case SOURCE:
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          drop(fd);
        } else if (events[i].events & EPOLLIN) {
          /* The client sends nothing after its request: EOF or data means it is done. */
          ssize_t r = recv(fd, scratch, CHUNK, 0);
          if (r >= 0 || errno != EAGAIN) drop(fd);
          else pump_source(fd, c);
        } else {
          pump_source(fd, c);
        }
        break;
      }
    }
  }
}
