/*
 * tcpidle: hold COUNT idle connections to a discard service (port 9) open at once, and measure
 * how another connection to the echo service (port 7) answers meanwhile.
 *
 * Connections are opened non-blocking, at most --in-flight handshakes at a time, bounded by
 * --seconds. Once they are all open (or the bound passed), tcpidle runs --rr-count one-byte round
 * trips on a fresh echo connection, prints one JSON line, then holds everything until a line (or
 * EOF) arrives on stdin or --hold-seconds pass, so the driver can read the server's memory while
 * the connections are open. Then it closes them all and exits.
 *
 * Usage: tcpidle --addr A [--port 9] [--count N] [--seconds T] [--in-flight F]
 *                [--rr-port 7] [--rr-count R] [--rr-warmup W] [--rr-seconds S] [--hold-seconds H]
 */
#include "common.h"

#include <sys/epoll.h>

int main(int argc, char **argv) {
  const char *addr = NULL;
  int port = 9, rr_port = 7, in_flight_max = 256;
  long count = 10000, rr_count = 1000, rr_warmup = 100;
  double seconds = 60, rr_seconds = 10, hold_seconds = 60;
  const struct opt opts[] = {
      {"--addr", OPT_STR, &addr},
      {"--port", OPT_INT, &port},
      {"--count", OPT_LONG, &count},
      {"--seconds", OPT_DOUBLE, &seconds},
      {"--in-flight", OPT_INT, &in_flight_max},
      {"--rr-port", OPT_INT, &rr_port},
      {"--rr-count", OPT_LONG, &rr_count},
      {"--rr-warmup", OPT_LONG, &rr_warmup},
      {"--rr-seconds", OPT_DOUBLE, &rr_seconds},
      {"--hold-seconds", OPT_DOUBLE, &hold_seconds},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tcpidle --addr A [--port P] [--count N] [--seconds T] [--in-flight F] "
             "[--rr-port P] [--rr-count R] [--rr-warmup W] [--rr-seconds S] [--hold-seconds H]");
  net_addr idle_sa, rr_sa;
  if (!addr || count < 1 || count > 60000 || rr_count < 1 || rr_warmup < 0 || in_flight_max < 1 ||
      parse_addr(addr, port, &idle_sa) || parse_addr(addr, rr_port, &rr_sa))
    fail("bad arguments", EINVAL);
  bound_lifetime(seconds + rr_seconds + hold_seconds + 10);
  raise_nofile((rlim_t)count + 64);
  signal(SIGPIPE, SIG_IGN);

  int *fds = malloc(sizeof(int) * (size_t)count);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  long started = 0, opened = 0, failed = 0, in_flight = 0;
  int first_error = 0;
  uint64_t start = now_ns();
  uint64_t deadline = start + (uint64_t)(seconds * 1e9);
  struct epoll_event events[256];
  while ((started < count || in_flight > 0) && now_ns() < deadline) {
    while (started < count && in_flight < in_flight_max) {
      int fd = socket(idle_sa.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) fail("socket", errno);
      if (connect(fd, &idle_sa.u.sa, idle_sa.len) != 0 && errno != EINPROGRESS) {
        if (!first_error) first_error = errno;
        close(fd);
        failed++;
        started++;
        continue;
      }
      struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
      epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
      started++;
      in_flight++;
    }
    int n = epoll_wait(epfd, events, 256, 100);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
      in_flight--;
      if (err) {
        if (!first_error) first_error = err;
        close(fd);
        failed++;
      } else {
        fds[opened++] = fd;
      }
    }
  }
  double open_seconds = seconds_between(start, now_ns());

  /* Responsiveness of another connection while the idle ones are held. */
  uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)rr_count);
  long done = 0;
  const char *rr_error = NULL;
  int fd = connect_timeout(&rr_sa, 3000, 1000);
  if (fd < 0) {
    rr_error = strerror(errno);
  } else {
    set_nodelay(fd);
    uint64_t rr_deadline = now_ns() + (uint64_t)(rr_seconds * 1e9);
    char b = 'x';
    /* Untimed round trips first, as tcprr's --warmup: the first thousand or so round trips of a
     * JIT-compiled server (tunstack) run while its optimising compiler works on the data path. */
    for (long i = -rr_warmup; i < rr_count && now_ns() < rr_deadline; i++) {
      uint64_t t0 = now_ns();
      if (write_all(fd, &b, 1, rr_deadline) != 1 || read_exact(fd, &b, 1, rr_deadline) != 1) {
        rr_error = "echo did not answer";
        break;
      }
      if (i >= 0) lat[done++] = now_ns() - t0;
    }
    close(fd);
  }
  printf("{\"requested\":%ld,\"opened\":%ld,\"failed\":%ld,\"unfinished\":%ld,\"openSeconds\":%.6f,",
         count, opened, failed, in_flight, open_seconds);
  if (first_error) printf("\"firstError\":\"%s\",", strerror(first_error));
  if (rr_error) printf("\"rrError\":\"%s\",", rr_error);
  printf("\"rr\":{");
  print_latency_fields(lat, (size_t)done);
  printf("}}\n");
  fflush(stdout);

  /* Hold until the driver has read the server's memory. */
  struct pollfd p = {STDIN_FILENO, POLLIN, 0};
  poll(&p, 1, (int)(hold_seconds * 1000));
  for (long i = 0; i < opened; i++) close(fds[i]);
  return 0;
}
