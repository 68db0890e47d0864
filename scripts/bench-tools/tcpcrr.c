/*
 * tcpcrr: new connections per second. Each transaction: connect, send a small request to the
 * echo service, read the echo, close. PARALLEL threads each do their share of COUNT, bounded by
 * --seconds. The client closes first, so TIME_WAIT (RFC 9293 §3.6) lands on the client side;
 * the bench widens the client namespace's port range and sets tcp_tw_reuse.
 *
 * Usage: tcpcrr --addr A [--port 7] [--count N] [--parallel P] [--seconds T] [--size 32]
 * Prints one JSON line: transactions, seconds, perSecond, errors and latency percentiles.
 */
#include "common.h"

#include <pthread.h>

#define MAX_THREADS 32

static net_addr server;
static size_t size = 32;
static uint64_t deadline;

struct worker {
  long share;
  long done;
  long errors;
  int first_error;
  uint64_t *lat;
};

static void *work(void *arg) {
  struct worker *w = arg;
  char out[4096], in[4096];
  memset(out, 'r', sizeof out);
  for (long i = 0; i < w->share && now_ns() < deadline; i++) {
    uint64_t t0 = now_ns();
    int fd = connect_timeout(&server, 3000, 1000);
    if (fd < 0) goto error;
    set_nodelay(fd);
    if (write_all(fd, out, size, deadline) != (ssize_t)size) goto error_close;
    if (read_exact(fd, in, size, deadline) != (ssize_t)size) goto error_close;
    close(fd);
    w->lat[w->done++] = now_ns() - t0;
    continue;
  error_close:
    close(fd);
  error:
    if (!w->first_error) w->first_error = errno ? errno : EPIPE;
    w->errors++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *addr = NULL;
  int port = 7, parallel = 1;
  long count = 1000;
  double seconds = 30;
  const struct opt opts[] = {
      {"--addr", OPT_STR, &addr},          {"--port", OPT_INT, &port},
      {"--count", OPT_LONG, &count},       {"--parallel", OPT_INT, &parallel},
      {"--seconds", OPT_DOUBLE, &seconds}, {"--size", OPT_SIZE, &size},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tcpcrr --addr A [--port P] [--count N] [--parallel P] [--seconds T] [--size B]");
  if (!addr || count < 1 || parallel < 1 || parallel > MAX_THREADS || size < 1 || size > 4096 ||
      parse_addr(addr, port, &server))
    fail("bad arguments", EINVAL);
  bound_lifetime(seconds + 10);
  signal(SIGPIPE, SIG_IGN);

  struct worker workers[MAX_THREADS] = {0};
  pthread_t threads[MAX_THREADS];
  uint64_t start = now_ns();
  deadline = start + (uint64_t)(seconds * 1e9);
  for (int i = 0; i < parallel; i++) {
    workers[i].share = count / parallel + (i < count % parallel);
    workers[i].lat = malloc(sizeof(uint64_t) * (size_t)(workers[i].share + 1));
    pthread_create(&threads[i], NULL, work, &workers[i]);
  }
  long done = 0, errors = 0;
  int first_error = 0;
  for (int i = 0; i < parallel; i++) {
    pthread_join(threads[i], NULL);
    done += workers[i].done;
    errors += workers[i].errors;
    if (!first_error) first_error = workers[i].first_error;
  }
  double elapsed = seconds_between(start, now_ns());
  uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)(done + 1));
  for (long i = 0, k = 0; i < parallel; i++)
    for (long j = 0; j < workers[i].done; j++) lat[k++] = workers[i].lat[j];
  printf("{\"transactions\":%ld,\"errors\":%ld,\"seconds\":%.6f,\"perSecond\":%.1f,", done, errors,
         elapsed, elapsed > 0 ? (double)done / elapsed : 0);
  if (first_error) printf("\"firstError\":\"%s\",", strerror(first_error));
  print_latency_fields(lat, (size_t)done);
  printf("}\n");
  return 0;
}
