/*
 * tunbridge: the bench's "TUN bridge" system. Two TUN devices, each created inside its own
 * network namespace, and two threads copying packets between them one read()/write() at a time.
 * Kernel TCP runs at both ends, so every packet crosses the TUN boundary twice (out of one
 * kernel into this process, back into the other): the cost a userspace stack pays for I/O alone,
 * without any protocol work.
 *
 * Usage: tunbridge --netns-a NAME --dev-a IF --netns-b NAME --dev-b IF [--max-seconds S]
 * Creates the devices (IFF_TUN | IFF_NO_PI), prints "ready", and forwards until killed. The
 * devices vanish with the process. Packet counts go to stderr at exit.
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
};

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

static void report(int sig) {
  (void)sig;
  fprintf(stderr, "tunbridge: a->b %llu packets %llu bytes (%llu write errors); "
                  "b->a %llu packets %llu bytes (%llu write errors)\n",
          (unsigned long long)a_to_b.packets, (unsigned long long)a_to_b.bytes,
          (unsigned long long)a_to_b.write_errors, (unsigned long long)b_to_a.packets,
          (unsigned long long)b_to_a.bytes, (unsigned long long)b_to_a.write_errors);
  _exit(0);
}

int main(int argc, char **argv) {
  const char *ns_a = NULL, *dev_a = NULL, *ns_b = NULL, *dev_b = NULL;
  double max_seconds = 600;
  const struct opt opts[] = {
      {"--netns-a", OPT_STR, &ns_a},
      {"--dev-a", OPT_STR, &dev_a},
      {"--netns-b", OPT_STR, &ns_b},
      {"--dev-b", OPT_STR, &dev_b},
      {"--max-seconds", OPT_DOUBLE, &max_seconds},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tunbridge --netns-a NS --dev-a IF --netns-b NS --dev-b IF [--max-seconds S]");
  if (!ns_a || !dev_a || !ns_b || !dev_b) fail("bad arguments", EINVAL);
  bound_lifetime(max_seconds);
  int fd_a = open_tun_in(ns_a, dev_a);
  int fd_b = open_tun_in(ns_b, dev_b);
  signal(SIGTERM, report);
  signal(SIGINT, report);
  a_to_b = (struct path){.from = fd_a, .to = fd_b};
  b_to_a = (struct path){.from = fd_b, .to = fd_a};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, forward, &a_to_b);
  pthread_create(&t2, NULL, forward, &b_to_a);
  printf("ready\n");
  fflush(stdout);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  return 0;
}
