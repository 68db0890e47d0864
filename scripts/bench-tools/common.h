/*
 * Shared helpers for the bench's kernel-side tools (the .c files beside this one).
 *
 * Every tool is bounded in time: alarm() ends it if it outlives its --max-seconds, and every
 * blocking socket call has a timeout. Results go to stdout as one JSON line; diagnostics go to
 * stderr. Built by scripts/bench.ts with `cc -O2 -pthread`.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double seconds_between(uint64_t from, uint64_t to) {
  return (double)(to - from) / 1e9;
}

/* Print the error as a JSON line on stdout (so the driver can report it) and exit. */
static inline void fail(const char *what, int err) {
  printf("{\"error\":\"%s: %s\"}\n", what, strerror(err));
  fflush(stdout);
  exit(2);
}

/* End the process if it outlives its bound, whatever it is blocked on. */
static inline void bound_lifetime(double seconds) {
  if (seconds <= 0) return;
  unsigned s = (unsigned)seconds + 1;
  alarm(s);
}

/* Allow `n` open descriptors (10 000 idle connections need more than the default 1024). */
static inline void raise_nofile(rlim_t n) {
  struct rlimit rl = {n, n};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Command-line options: `--name value` pairs (or a bare `--name` for a flag), table-driven. */
enum opt_type { OPT_STR, OPT_INT, OPT_LONG, OPT_DOUBLE, OPT_U64, OPT_SIZE, OPT_FLAG };

struct opt {
  const char *name; /* with the leading "--" */
  enum opt_type type;
  void *dst;
};

static inline void parse_opts(int argc, char **argv, const struct opt *opts, size_t n,
                              const char *usage) {
  for (int i = 1; i < argc; i++) {
    const struct opt *o = NULL;
    for (size_t k = 0; k < n && !o; k++)
      if (!strcmp(argv[i], opts[k].name)) o = &opts[k];
    if (!o || (o->type != OPT_FLAG && i + 1 >= argc)) {
      fprintf(stderr, "usage: %s\n", usage);
      exit(64);
    }
    const char *v = o->type == OPT_FLAG ? NULL : argv[++i];
    switch (o->type) {
    case OPT_STR: *(const char **)o->dst = v; break;
    case OPT_INT: *(int *)o->dst = atoi(v); break;
    case OPT_LONG: *(long *)o->dst = atol(v); break;
    case OPT_DOUBLE: *(double *)o->dst = atof(v); break;
    case OPT_U64: *(uint64_t *)o->dst = strtoull(v, NULL, 10); break;
    case OPT_SIZE: *(size_t *)o->dst = (size_t)strtoull(v, NULL, 10); break;
    case OPT_FLAG: *(int *)o->dst = 1; break;
    }
  }
}

#define OPTS_LEN(a) (sizeof(a) / sizeof((a)[0]))

static inline void set_timeouts(int fd, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/*
 * Kernel TCP's congestion control for this socket (TCP_CONGESTION), when `cc` is given: a
 * namespace other than the first may only choose, as its default, what
 * net.ipv4.tcp_allowed_congestion_control lists, but a privileged socket may choose any.
 */
static inline void set_cc(int fd, const char *cc) {
  if (cc && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) != 0)
    fail("setsockopt TCP_CONGESTION", errno);
}

static inline void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/*
 * A socket address of either family: `--addr` may be IPv4 (10.0.0.2) or IPv6 (fd00::2), and
 * every tool connects or listens with the family the address has.
 */
typedef struct {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } u;
  socklen_t len;
} net_addr;

static inline int parse_addr(const char *addr, int port, net_addr *a) {
  memset(a, 0, sizeof *a);
  if (inet_pton(AF_INET, addr, &a->u.in4.sin_addr) == 1) {
    a->u.in4.sin_family = AF_INET;
    a->u.in4.sin_port = htons((uint16_t)port);
    a->len = sizeof a->u.in4;
    return 0;
  }
  if (inet_pton(AF_INET6, addr, &a->u.in6.sin6_addr) == 1) {
    a->u.in6.sin6_family = AF_INET6;
    a->u.in6.sin6_port = htons((uint16_t)port);
    a->len = sizeof a->u.in6;
    return 0;
  }
  return -1;
}

/*
 * Connect with a timeout; returns a blocking socket with send/receive timeouts of `io_ms`, or -1
 * with errno set (ETIMEDOUT when the handshake did not finish in `connect_ms`).
 */
static inline int connect_timeout(const net_addr *a, int connect_ms, int io_ms) {
  int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, &a->u.sa, a->len) != 0) {
    if (errno != EINPROGRESS) goto fail;
    struct pollfd p = {fd, POLLOUT, 0};
    int r = poll(&p, 1, connect_ms);
    if (r == 0) {
      errno = ETIMEDOUT;
      goto fail;
    }
    if (r < 0) goto fail;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      goto fail;
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd, io_ms);
  return fd;
fail: {
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}
}

/* Write all of buf unless the deadline passes; returns bytes written or -1 on a socket error. */
static inline ssize_t write_all(int fd, const void *buf, size_t len, uint64_t deadline) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (now_ns() >= deadline) break;
    } else {
      return -1;
    }
  }
  return (ssize_t)done;
}

/* Read exactly len bytes unless EOF, error or the deadline; returns bytes read or -1 on error. */
static inline ssize_t read_exact(int fd, void *buf, size_t len, uint64_t deadline) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = recv(fd, (char *)buf + done, len - done, 0);
    if (n > 0) {
      done += (size_t)n;
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (now_ns() >= deadline) break;
    } else {
      return -1;
    }
  }
  return (ssize_t)done;
}

static inline int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static inline double percentile_us(const uint64_t *sorted, size_t n, double p) {
  if (n == 0) return 0;
  size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return (double)sorted[rank - 1] / 1000.0;
}

/* Print latency percentiles of `lat` (ns, sorted in place) as JSON fields, without braces. */
static inline void print_latency_fields(uint64_t *lat, size_t n) {
  qsort(lat, n, sizeof *lat, cmp_u64);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)lat[i];
  printf("\"samples\":%zu,\"minUs\":%.2f,\"p50Us\":%.2f,\"p90Us\":%.2f,\"p99Us\":%.2f,"
         "\"p999Us\":%.2f,\"maxUs\":%.2f,\"meanUs\":%.2f",
         n, n ? (double)lat[0] / 1000.0 : 0, percentile_us(lat, n, 50), percentile_us(lat, n, 90),
         percentile_us(lat, n, 99), percentile_us(lat, n, 99.9),
         n ? (double)lat[n - 1] / 1000.0 : 0, n ? sum / (double)n / 1000.0 : 0);
}

#endif
