/*
 * tunbridge: the bench's "TUN bridge" system. Two TUN devices, each created inside its own
 * network namespace, and two threads copying packets between them one read()/write() at a time.
 * Kernel TCP runs at both ends, so every packet crosses the TUN boundary twice (out of one
 * kernel into this process, back into the other): the cost a userspace stack pays for I/O alone,
 * without any protocol work.
 *
 * Usage: tunbridge --netns-a NAME --dev-a IF --netns-b NAME --dev-b IF [--max-seconds S]
 *                  [--delay-ms N [--queue-bytes B]]
 * Creates the devices (IFF_TUN | IFF_NO_PI), prints "ready", and forwards until killed. The
 * devices vanish with the process. Packet counts go to stderr at exit.
 *
 * --delay-ms N holds every packet N ms (each way) before writing it to the other device: the
 * delay `tunstack up --impair delay=N` gives the stack, for the kernel at both ends (this kernel
 * has no netem). Each direction keeps its held packets in a FIFO ring of --queue-bytes bytes
 * (default 32 MiB: 20 ms at over 10 Gbit/s); a packet that finds the ring full is dropped and
 * counted (queue drops, at exit). The thread waits in ppoll() with a timeout until the oldest
 * packet is due or a new one can be read: no busy loop.
 */
#include "common.h"

#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>

struct path {
  int from, to;
  uint64_t packets, bytes, write_errors;
  /* Delay only: packets dropped because the ring was full, and the most bytes ever held. */
  uint64_t queue_drops, max_held;
};

static uint64_t delay_ns;
static size_t queue_bytes = 32u << 20;

static struct path a_to_b, b_to_a;

static int open_tun_in(const char *netns, const char *dev) {
  char path[256];
  snprintf(path, sizeof path, "/var/run/netns/%s", netns);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) fail(path, errno);
  /* setns applies to the calling thread: done before any other thread exists. */
  if (setns(nsfd, CLONE_NEWNET) != 0) fail("setns", errno);
  close(nsfd);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) fail("/dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) fail("TUNSETIFF", errno);
  return fd;
}

static void *forward(void *arg) {
  struct path *p = arg;
  static __thread char buf[65536];
  for (;;) {
    ssize_t n = read(p->from, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    if (write(p->to, buf, (size_t)n) != n) p->write_errors++;
    p->packets++;
    p->bytes += (uint64_t)n;
  }
}

/*
 * A FIFO ring of held packets, each stored as a record header then its bytes, 8-byte aligned.
 * Every packet waits the same delay, so arrival order is due order. A record never wraps: when
 * the room left at the end is too short, a header with len = WRAP marks it skipped.
 */
struct held {
  uint64_t due;
  uint32_t len;
};
#define WRAP UINT32_MAX
#define RECORD(len) ((sizeof(struct held) + (len) + 7) & ~(size_t)7)

struct ring {
  char *buf;
  size_t size, head, tail, used; /* used counts skipped ends too */
};

/* Room for a record of `len` bytes at the tail; NULL when the ring is full. */
static struct held *ring_reserve(struct ring *r, size_t len) {
  size_t need = RECORD(len);
  if (r->used == 0) r->head = r->tail = 0;
  if (r->tail >= r->head && r->used < r->size) {
    if (r->size - r->tail >= need) return (struct held *)(r->buf + r->tail);
    /* Not enough at the end: skip it, if the start has room. */
    if (r->head < need) return NULL;
    if (r->size - r->tail >= sizeof(struct held)) ((struct held *)(r->buf + r->tail))->len = WRAP;
    r->used += r->size - r->tail;
    r->tail = 0;
    return (struct held *)r->buf;
  }
  if (r->head - r->tail >= need) return (struct held *)(r->buf + r->tail);
  return NULL;
}

static void ring_commit(struct ring *r, size_t len) {
  size_t n = RECORD(len);
  r->tail += n;
  r->used += n;
  if (r->tail == r->size) r->tail = 0;
}

/* The oldest record, or NULL when empty (skipping a wrapped end on the way). */
static struct held *ring_front(struct ring *r) {
  if (r->used == 0) return NULL;
  if (r->size - r->head < sizeof(struct held) || ((struct held *)(r->buf + r->head))->len == WRAP) {
    r->used -= r->size - r->head;
    r->head = 0;
    if (r->used == 0) return NULL;
  }
  return (struct held *)(r->buf + r->head);
}

static void ring_pop(struct ring *r, const struct held *h) {
  size_t n = RECORD(h->len);
  r->head += n;
  r->used -= n;
  if (r->head == r->size) r->head = 0;
}

/* Packets read in one go before the due ones are written again (keeps the writes on time). */
#define READ_BURST 64

static void *forward_delayed(void *arg) {
  struct path *p = arg;
  static __thread char buf[65536];
  struct ring r = {.size = queue_bytes & ~(size_t)7};
  r.buf = malloc(r.size);
  if (!r.buf) fail("malloc", ENOMEM);
  for (;;) {
    uint64_t now = now_ns();
    struct held *h;
    while ((h = ring_front(&r)) != NULL && h->due <= now) {
      if (write(p->to, h + 1, h->len) != (ssize_t)h->len) p->write_errors++;
      p->packets++;
      p->bytes += h->len;
      ring_pop(&r, h);
    }
    struct timespec ts, *timeout = NULL;
    if (h != NULL) {
      uint64_t wait = h->due - now;
      ts.tv_sec = (time_t)(wait / 1000000000u);
      ts.tv_nsec = (long)(wait % 1000000000u);
      timeout = &ts;
    }
    struct pollfd pfd = {p->from, POLLIN, 0};
    int ready = ppoll(&pfd, 1, timeout, NULL);
    if (ready < 0 && errno != EINTR) return NULL;
    if (ready <= 0) continue;
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) return NULL;
    for (int i = 0; i < READ_BURST; i++) {
      ssize_t n = read(p->from, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return NULL;
      }
      struct held *slot = ring_reserve(&r, (size_t)n);
      if (!slot) {
        p->queue_drops++;
        continue;
      }
      slot->due = now_ns() + delay_ns;
      slot->len = (uint32_t)n;
      memcpy(slot + 1, buf, (size_t)n);
      ring_commit(&r, (size_t)n);
      if (r.used > p->max_held) p->max_held = r.used;
    }
  }
}

static void report(int sig) {
  (void)sig;
  fprintf(stderr, "tunbridge: a->b %llu packets %llu bytes (%llu write errors); "
                  "b->a %llu packets %llu bytes (%llu write errors)\n",
          (unsigned long long)a_to_b.packets, (unsigned long long)a_to_b.bytes,
          (unsigned long long)a_to_b.write_errors, (unsigned long long)b_to_a.packets,
          (unsigned long long)b_to_a.bytes, (unsigned long long)b_to_a.write_errors);
  if (delay_ns > 0)
    fprintf(stderr, "tunbridge: delay queues: a->b %llu drops, at most %llu bytes held; "
                    "b->a %llu drops, at most %llu bytes held\n",
            (unsigned long long)a_to_b.queue_drops, (unsigned long long)a_to_b.max_held,
            (unsigned long long)b_to_a.queue_drops, (unsigned long long)b_to_a.max_held);
  _exit(0);
}

int main(int argc, char **argv) {
  const char *ns_a = NULL, *dev_a = NULL, *ns_b = NULL, *dev_b = NULL;
  double max_seconds = 600;
  double delay_ms = 0;
  const struct opt opts[] = {
      {"--netns-a", OPT_STR, &ns_a},
      {"--dev-a", OPT_STR, &dev_a},
      {"--netns-b", OPT_STR, &ns_b},
      {"--dev-b", OPT_STR, &dev_b},
      {"--max-seconds", OPT_DOUBLE, &max_seconds},
      {"--delay-ms", OPT_DOUBLE, &delay_ms},
      {"--queue-bytes", OPT_SIZE, &queue_bytes},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tunbridge --netns-a NS --dev-a IF --netns-b NS --dev-b IF [--max-seconds S] "
             "[--delay-ms N [--queue-bytes B]]");
  if (!ns_a || !dev_a || !ns_b || !dev_b) fail("bad arguments", EINVAL);
  if (!(delay_ms >= 0 && delay_ms <= 10000)) fail("--delay-ms must be in 0..10000", EINVAL);
  if (queue_bytes < 65536 + sizeof(struct held) + 8 || queue_bytes > ((size_t)1 << 32))
    fail("--queue-bytes must be in 64 KiB..4 GiB", EINVAL);
  delay_ns = (uint64_t)(delay_ms * 1e6);
  bound_lifetime(max_seconds);
  int fd_a = open_tun_in(ns_a, dev_a);
  int fd_b = open_tun_in(ns_b, dev_b);
  signal(SIGTERM, report);
  signal(SIGINT, report);
  a_to_b = (struct path){.from = fd_a, .to = fd_b};
  b_to_a = (struct path){.from = fd_b, .to = fd_a};
  void *(*run)(void *) = forward;
  if (delay_ns > 0) {
    /* ppoll says when to read; reads then stop at EAGAIN instead of blocking past a due time. */
    fcntl(fd_a, F_SETFL, fcntl(fd_a, F_GETFL) | O_NONBLOCK);
    fcntl(fd_b, F_SETFL, fcntl(fd_b, F_GETFL) | O_NONBLOCK);
    run = forward_delayed;
  }
  pthread_t t1, t2;
  pthread_create(&t1, NULL, run, &a_to_b);
  pthread_create(&t2, NULL, run, &b_to_a);
  printf("ready\n");
  fflush(stdout);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  return 0;
}
