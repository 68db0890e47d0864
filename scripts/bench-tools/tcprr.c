/*
 * tcprr: request/response latency on one established connection to an echo service (port 7):
 * write `size` bytes, read them back, COUNT times (bounded by --seconds too). TCP_NODELAY is set
 * so that Nagle's algorithm (RFC 896) does not hold the one-byte requests back.
 *
 * Usage: tcprr --addr A [--port 7] [--count N] [--seconds T] [--size 1] [--warmup W]
 * Prints one JSON line with the round trips done and their percentiles in microseconds.
 */
#include "common.h"

int main(int argc, char **argv) {
  const char *addr = NULL;
  int port = 7;
  long count = 10000, warmup = 100;
  size_t size = 1;
  double seconds = 30;
  const struct opt opts[] = {
      {"--addr", OPT_STR, &addr},       {"--port", OPT_INT, &port},
      {"--count", OPT_LONG, &count},    {"--warmup", OPT_LONG, &warmup},
      {"--seconds", OPT_DOUBLE, &seconds}, {"--size", OPT_SIZE, &size},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tcprr --addr A [--port P] [--count N] [--warmup W] [--seconds T] [--size B]");
  net_addr sa;
  if (!addr || count < 1 || size < 1 || size > 65536 || parse_addr(addr, port, &sa))
    fail("bad arguments", EINVAL);
  bound_lifetime(seconds + 10);
  signal(SIGPIPE, SIG_IGN);

  int fd = connect_timeout(&sa, 3000, 1000);
  if (fd < 0) fail("connect", errno);
  set_nodelay(fd);
  char *out = malloc(size), *in = malloc(size);
  memset(out, 'x', size);
  uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)count);
  uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
  long done = 0, timeouts = 0;
  for (long i = -warmup; i < count && now_ns() < deadline; i++) {
    uint64_t t0 = now_ns();
    if (write_all(fd, out, size, deadline) != (ssize_t)size) fail("write", errno ? errno : EPIPE);
    ssize_t n = read_exact(fd, in, size, deadline);
    if (n < 0) fail("read", errno);
    if ((size_t)n != size) {
      timeouts++;
      break;
    }
    if (i >= 0) lat[done++] = now_ns() - t0;
  }
  close(fd);
  printf("{\"roundTrips\":%ld,\"incomplete\":%ld,", done, timeouts);
  print_latency_fields(lat, (size_t)done);
  printf("}\n");
  return 0;
}
