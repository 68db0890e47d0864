/*
 * tcpbulk: bulk transfer over K parallel TCP flows, bounded in time (and optionally in bytes).
 *
 *   --mode send  write to a discard service (port 9) for T seconds, then shut down the write side
 *                and wait for the server's FIN: the clock stops when the server has read
 *                everything, so bytes still queued in a socket buffer are never counted as moved.
 *   --mode recv  read from a source for T seconds: `--http` sends `GET /bytes/N` first (port 80)
 *                and skips the response header; without it the source is chargen-like (port 19).
 *
 * Usage: tcpbulk --addr A --port P --mode send|recv [--flows K] [--seconds T] [--bytes N]
 *                [--http] [--drain-seconds D]
 * Prints one JSON line: bytes, seconds, bitsPerSecond, per-flow bytes, errors.
 */
#include "common.h"

#include <pthread.h>

#define CHUNK (128 * 1024)
#define MAX_FLOWS 64

struct flow {
  int fd;
  uint64_t bytes;
  uint64_t end;
  int stalled; /* send: the server's FIN did not arrive within the drain bound */
  int error;   /* errno of a failed read/write, 0 if none */
};

static net_addr server;
static int mode_send;
static int use_http;
static double seconds = 5;
static double drain_seconds = 30;
static uint64_t byte_cap = UINT64_MAX;
static uint64_t start;
static pthread_barrier_t ready;
static struct flow flows[MAX_FLOWS];

static void *run_send(struct flow *f) {
  static __thread char buf[CHUNK];
  uint64_t deadline = start + (uint64_t)(seconds * 1e9);
  while (f->bytes < byte_cap && now_ns() < deadline) {
    size_t len = byte_cap - f->bytes < CHUNK ? (size_t)(byte_cap - f->bytes) : CHUNK;
    ssize_t n = write_all(f->fd, buf, len, deadline);
    if (n < 0) {
      f->error = errno;
      break;
    }
    f->bytes += (uint64_t)n;
  }
  /* Wait for the server to have read it all: it closes when it sees our FIN. */
  shutdown(f->fd, SHUT_WR);
  uint64_t drain_deadline = now_ns() + (uint64_t)(drain_seconds * 1e9);
  for (;;) {
    ssize_t n = recv(f->fd, buf, CHUNK, 0);
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      if (!f->error) f->error = errno;
      break;
    }
    if (now_ns() >= drain_deadline) {
      f->stalled = 1;
      break;
    }
  }
  f->end = now_ns();
  return NULL;
}

static void *run_recv(struct flow *f) {
  static __thread char buf[CHUNK];
  uint64_t deadline = start + (uint64_t)(seconds * 1e9);
  size_t header_seen = 0; /* bytes of "\r\n\r\n" matched so far */
  int in_body = !use_http;
  while (f->bytes < byte_cap && now_ns() < deadline) {
    ssize_t n = recv(f->fd, buf, CHUNK, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      f->error = errno;
      break;
    }
    size_t i = 0;
    while (!in_body && i < (size_t)n) {
      char want = "\r\n\r\n"[header_seen];
      header_seen = buf[i] == want ? header_seen + 1 : (buf[i] == '\r' ? 1 : 0);
      i++;
      if (header_seen == 4) in_body = 1;
    }
    f->bytes += (uint64_t)n - i;
  }
  f->end = now_ns();
  return NULL;
}

static void *flow_main(void *arg) {
  struct flow *f = arg;
  if (use_http) {
    char req[128];
    int len = snprintf(req, sizeof req, "GET /bytes/%llu HTTP/1.1\r\nHost: bench\r\n\r\n",
                       byte_cap == UINT64_MAX ? (1ull << 40) : (unsigned long long)byte_cap);
    if (write_all(f->fd, req, (size_t)len, now_ns() + 3000000000ull) != len) f->error = errno;
  }
  pthread_barrier_wait(&ready);
  if (f->error) {
    f->end = now_ns();
    return NULL;
  }
  return mode_send ? run_send(f) : run_recv(f);
}

int main(int argc, char **argv) {
  const char *addr = NULL;
  int port = 0, nflows = 1;
  const char *mode = "send";
  const char *cc = NULL;
  const struct opt opts[] = {
      {"--addr", OPT_STR, &addr},
      {"--port", OPT_INT, &port},
      {"--mode", OPT_STR, &mode},
      {"--flows", OPT_INT, &nflows},
      {"--seconds", OPT_DOUBLE, &seconds},
      {"--drain-seconds", OPT_DOUBLE, &drain_seconds},
      {"--bytes", OPT_U64, &byte_cap},
      {"--http", OPT_FLAG, &use_http},
      {"--cc", OPT_STR, &cc},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tcpbulk --addr A --port P --mode send|recv [--flows K] [--seconds T] "
             "[--bytes N] [--http] [--drain-seconds D] [--cc NAME]");
  mode_send = !strcmp(mode, "send");
  if (!mode_send && strcmp(mode, "recv")) fail("--mode must be send or recv", EINVAL);
  if (!addr || port <= 0 || nflows < 1 || nflows > MAX_FLOWS || parse_addr(addr, port, &server))
    fail("bad arguments", EINVAL);
  bound_lifetime(seconds + drain_seconds + 10);
  signal(SIGPIPE, SIG_IGN);

  for (int i = 0; i < nflows; i++) {
    flows[i].fd = connect_timeout(&server, 3000, 1000);
    if (flows[i].fd < 0) fail("connect", errno);
    set_cc(flows[i].fd, cc);
  }
  char cc_used[32] = "";
  socklen_t cc_len = sizeof cc_used - 1;
  getsockopt(flows[0].fd, IPPROTO_TCP, TCP_CONGESTION, cc_used, &cc_len);
  pthread_barrier_init(&ready, NULL, (unsigned)nflows + 1);
  pthread_t threads[MAX_FLOWS];
  for (int i = 0; i < nflows; i++) pthread_create(&threads[i], NULL, flow_main, &flows[i]);
  start = now_ns();
  pthread_barrier_wait(&ready);
  uint64_t total = 0, end = start;
  int errors = 0, stalled = 0;
  for (int i = 0; i < nflows; i++) {
    pthread_join(threads[i], NULL);
    total += flows[i].bytes;
    if (flows[i].end > end) end = flows[i].end;
    errors += flows[i].error != 0;
    stalled += flows[i].stalled;
    close(flows[i].fd);
  }
  double elapsed = seconds_between(start, end);
  printf("{\"mode\":\"%s\",\"flows\":%d,\"bytes\":%llu,\"seconds\":%.6f,\"bitsPerSecond\":%.0f,"
         "\"errors\":%d,\"stalled\":%d,\"cc\":\"%s\",\"perFlowBytes\":[",
         mode_send ? "send" : "recv", nflows, (unsigned long long)total, elapsed,
         elapsed > 0 ? (double)total * 8 / elapsed : 0, errors, stalled, cc_used);
  for (int i = 0; i < nflows; i++)
    printf("%s%llu", i ? "," : "", (unsigned long long)flows[i].bytes);
  printf("]");
  for (int i = 0; i < nflows; i++)
    if (flows[i].error) {
      printf(",\"firstError\":\"%s\"", strerror(flows[i].error));
      break;
    }
  printf("}\n");
  return 0;
}
