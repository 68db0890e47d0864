/*
 * tcploss: the bench's random loss, each way, on one device of one namespace, such that neither
 * end can tell a drop from a loss on the wire (this kernel has no netem).
 *
 * nftables could drop incoming packets this way, but not outgoing ones: a segment of the local
 * TCP sender's that the output hook drops makes its transmit fail, and the sender keeps the
 * segment unsent and sends it again at once, with no retransmission and no loss response. So
 * both directions are done here, by two BPF programs on the device's tcx hooks (Linux 6.6+),
 * hand-assembled so that no BPF compiler is needed:
 *
 *   ingress: drop `percent` % of the IPv4 TCP packets (TCX_DROP: lost before the stack sees them)
 *   egress:  the same, by a redirect to ifindex 0, which no device has: the packet is freed while
 *            the sender's transmit reports success (TCX_DROP there would report NET_XMIT_DROP)
 *
 * Every other packet (ARP on a veth, ICMP, UDP) passes. The programs stay attached while this
 * process lives (the links go with their descriptors).
 *
 * Usage: tcploss --netns NS --dev IF --percent P [--max-seconds S]
 * Prints "ready" once attached; on SIGTERM or SIGINT prints one JSON line of counters
 * ({"egressTcp":…,"egressDropped":…,"ingressTcp":…,"ingressDropped":…}) and exits.
 */
#include "common.h"

#include <linux/bpf.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* The uapi headers here predate tcx (Linux 6.6): its attach types and verdicts. */
#define ATTACH_TCX_INGRESS 46
#define ATTACH_TCX_EGRESS 47
#define TCX_PASS 0
#define TCX_DROP 2

#define HELPER_MAP_LOOKUP_ELEM 1
#define HELPER_GET_PRANDOM_U32 7
#define HELPER_REDIRECT 23

/* Counters in the map: per direction, TCP packets seen and dropped. */
enum { EGRESS_SEEN, EGRESS_DROPPED, INGRESS_SEEN, INGRESS_DROPPED, COUNTERS };

#define MAX_INSNS 64

struct prog {
  struct bpf_insn insn[MAX_INSNS];
  int n;
  /* Instructions that jump to the final "pass". */
  int to_pass[8];
  int n_to_pass;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  if (p->n >= MAX_INSNS) fail("program too long", E2BIG);
  p->insn[p->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* if (dst <op> imm) goto pass */
static void jump_to_pass(struct prog *p, uint8_t op, uint8_t dst, int32_t imm) {
  p->to_pass[p->n_to_pass++] = p->n;
  emit(p, BPF_JMP | op | BPF_K, dst, 0, 0, imm);
}

static void load_map_fd(struct prog *p, uint8_t dst, int fd) {
  emit(p, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
  emit(p, 0, 0, 0, 0, 0);
}

/* counters[index] += 1 (atomically: the hook runs on any CPU) */
static void count(struct prog *p, int map_fd, int index) {
  emit(p, BPF_ST | BPF_W | BPF_MEM, BPF_REG_10, 0, -4, index);
  emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
  emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4);
  load_map_fd(p, BPF_REG_1, map_fd);
  emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, HELPER_MAP_LOOKUP_ELEM);
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0);
  emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1);
  emit(p, BPF_STX | BPF_DW | BPF_ATOMIC, BPF_REG_0, BPF_REG_1, 0, BPF_ADD);
}

/*
 * The program for one direction. `l3` is where the IPv4 header starts in the packet as the hook
 * sees it: 14 on an Ethernet device (veth), 0 on a TUN device.
 */
static void build(struct prog *p, int egress, int l3, uint32_t threshold, int map_fd) {
  int seen = egress ? EGRESS_SEEN : INGRESS_SEEN;
  memset(p, 0, sizeof *p);
  emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0); /* r6 = ctx (for LD_ABS) */
  emit(p, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_0, BPF_REG_6, offsetof(struct __sk_buff, protocol), 0);
  jump_to_pass(p, BPF_JNE, BPF_REG_0, (int32_t)htons(0x0800)); /* IPv4 only */
  emit(p, BPF_LD | BPF_B | BPF_ABS, 0, 0, 0, l3 + 9);              /* r0 = IP protocol */
  jump_to_pass(p, BPF_JNE, BPF_REG_0, IPPROTO_TCP);
  count(p, map_fd, seen);
  emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, HELPER_GET_PRANDOM_U32);
  jump_to_pass(p, BPF_JGE, BPF_REG_0, (int32_t)threshold); /* threshold < 2^31: unsigned */
  count(p, map_fd, seen + 1);
  if (egress) {
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 0); /* ifindex 0: no such device */
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, 0);
    emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, HELPER_REDIRECT);
  } else {
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TCX_DROP);
  }
  emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  int pass = p->n;
  emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TCX_PASS);
  emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (int i = 0; i < p->n_to_pass; i++) p->insn[p->to_pass[i]].off = (int16_t)(pass - p->to_pass[i] - 1);
}

static long bpf(int cmd, union bpf_attr *attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

static char verifier_log[65536];

static int load(const struct prog *p) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  a.insns = (uint64_t)(uintptr_t)p->insn;
  a.insn_cnt = (uint32_t)p->n;
  a.license = (uint64_t)(uintptr_t) "GPL";
  a.log_buf = (uint64_t)(uintptr_t)verifier_log;
  a.log_size = sizeof verifier_log;
  a.log_level = 1;
  int fd = (int)bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) {
    int err = errno;
    fprintf(stderr, "tcploss: verifier: %s\n", verifier_log);
    fail("BPF_PROG_LOAD", err);
  }
  return fd;
}

static int attach(int prog_fd, int ifindex, int attach_type) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.link_create.prog_fd = (uint32_t)prog_fd;
  a.link_create.target_fd = (uint32_t)ifindex; /* target_ifindex for tcx */
  a.link_create.attach_type = (uint32_t)attach_type;
  int fd = (int)bpf(BPF_LINK_CREATE, &a);
  if (fd < 0) fail("BPF_LINK_CREATE (tcx, Linux 6.6+)", errno);
  return fd;
}

static uint64_t counter(int map_fd, uint32_t key) {
  uint64_t value = 0;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)map_fd;
  a.key = (uint64_t)(uintptr_t)&key;
  a.value = (uint64_t)(uintptr_t)&value;
  bpf(BPF_MAP_LOOKUP_ELEM, &a);
  return value;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  const char *ns = NULL, *dev = NULL;
  double percent = -1, max_seconds = 600;
  const struct opt opts[] = {
      {"--netns", OPT_STR, &ns},
      {"--dev", OPT_STR, &dev},
      {"--percent", OPT_DOUBLE, &percent},
      {"--max-seconds", OPT_DOUBLE, &max_seconds},
  };
  parse_opts(argc, argv, opts, OPTS_LEN(opts),
             "tcploss --netns NS --dev IF --percent P [--max-seconds S]");
  if (!ns || !dev) fail("bad arguments", EINVAL);
  /* Below 50 %, so that the threshold is a positive 32-bit immediate. */
  if (!(percent >= 0 && percent < 50)) fail("--percent must be in [0, 50)", EINVAL);
  bound_lifetime(max_seconds);

  char path[256];
  snprintf(path, sizeof path, "/var/run/netns/%s", ns);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) fail(path, errno);
  if (setns(nsfd, CLONE_NEWNET) != 0) fail("setns", errno);
  close(nsfd);
  int ifindex = (int)if_nametoindex(dev);
  if (ifindex == 0) fail(dev, errno);
  /* Where the IP header starts: after the Ethernet header on a veth, at once on a TUN device. */
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || ioctl(sock, SIOCGIFHWADDR, &ifr) != 0) fail("SIOCGIFHWADDR", errno);
  close(sock);
  int l3 = ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER ? 14 : 0;

  union bpf_attr m;
  memset(&m, 0, sizeof m);
  m.map_type = BPF_MAP_TYPE_ARRAY;
  m.key_size = 4;
  m.value_size = 8;
  m.max_entries = COUNTERS;
  int map_fd = (int)bpf(BPF_MAP_CREATE, &m);
  if (map_fd < 0) fail("BPF_MAP_CREATE", errno);

  uint32_t threshold = (uint32_t)(percent / 100.0 * 4294967296.0);
  static struct prog in, out;
  build(&in, 0, l3, threshold, map_fd);
  build(&out, 1, l3, threshold, map_fd);
  int in_fd = load(&in), out_fd = load(&out);
  attach(in_fd, ifindex, ATTACH_TCX_INGRESS);
  attach(out_fd, ifindex, ATTACH_TCX_EGRESS);

  /* Blocked until sigsuspend, so that a signal between the check and the wait is not missed. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &old);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("ready\n");
  fflush(stdout);
  while (!stop) sigsuspend(&old);
  printf("{\"egressTcp\":%llu,\"egressDropped\":%llu,\"ingressTcp\":%llu,\"ingressDropped\":%llu}\n",
         (unsigned long long)counter(map_fd, EGRESS_SEEN),
         (unsigned long long)counter(map_fd, EGRESS_DROPPED),
         (unsigned long long)counter(map_fd, INGRESS_SEEN),
         (unsigned long long)counter(map_fd, INGRESS_DROPPED));
  fflush(stdout);
  return 0;
}
