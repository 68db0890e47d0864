/*
 * tun-pps-blast: send small UDP datagrams as fast as the kernel takes them, bounded in count
 * and time. Used by scripts/tun-pps.ts from inside a test namespace to flood the TUN device
 * (the destination is routed to it). sendmmsg() in batches of 64 keeps the sender cheap so that
 * the reader, not the blaster, is what gets measured.
 *
 *   tun-pps-blast DST_IP PORT COUNT PAYLOAD_BYTES MAX_SECONDS
 *
 * Prints "sent N elapsed_s" on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s DST_IP PORT COUNT PAYLOAD_BYTES MAX_SECONDS\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  long count = atol(argv[3]);
  size_t size = (size_t)atol(argv[4]);
  double max_s = atof(argv[5]);
  if (count <= 0 || size > 1400 || max_s <= 0 || max_s > 60) {
    fprintf(stderr, "COUNT > 0, PAYLOAD_BYTES <= 1400, 0 < MAX_SECONDS <= 60\n");
    return 2;
  }

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
    perror("socket/connect");
    return 1;
  }
  static char payload[1400];
  memset(payload, 'x', sizeof payload);
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = size;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  double start = now(), deadline = start + max_s;
  long sent = 0;
  for (unsigned long iter = 1; sent < count; iter++) {
    unsigned n = (unsigned)(count - sent < BATCH ? count - sent : BATCH);
    int r = sendmmsg(fd, msgs, n, 0);
    if (r < 0) {
      /* ENOBUFS: the device queue is full; the datagram is lost, which is what we measure. */
      if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) {
        perror("sendmmsg");
        break;
      }
      r = 0;
    }
    sent += r;
    if ((iter & 15) == 0 && now() > deadline) break; /* bounded in time, however sends go */
  }
  printf("sent %ld %.3f\n", sent, now() - start);
  close(fd);
  return 0;
}
