/*
 * tun.node: a small Node-API addon that opens a Linux TUN device and moves packets in batches.
 *
 * Design (native-notes/README.md tells the long story):
 *
 *   open(name, netnsPath|null, offload)   -> { handle, name, vnetHdr, offloads } (throws Node-style errors)
 *   start(handle, rxBuf, rxTable, slot, batch, onRead, onWritable, rxHdrs|null)
 *   writeBatch(handle, buf, offsets, lengths, first, count, hdrs|null) -> packets consumed
 *   wantWritable(handle, bool)
 *   stats(handle)                          -> counters
 *   close(handle)
 *
 * Receive: one uv_poll watches the fd. On each readable wake-up we read() packets until EAGAIN
 * or the batch limit, packed one after another into ONE ArrayBuffer that JS allocated once and
 * handed to us (rxBuf); rxTable (a Uint32Array, also shared) gets (offset, length) pairs. Then
 * we call JS ONCE with the count, and JS makes subarray views. One JS call per batch, zero
 * allocations per packet.
 *
 * Send: writeBatch() does one write() per packet (a TUN fd carries one packet per write; there
 * is no writev/sendmmsg that would split them) inside a single native call, and stops at
 * EAGAIN, returning how many packets it consumed so that JS can keep the rest and ask for a
 * writable wake-up with wantWritable(handle, true).
 *
 * The fd is opened with IFF_TUN | IFF_NO_PI (bare IP packets, no 4-byte packet-info header),
 * O_NONBLOCK (the event loop must never block in read/write) and O_CLOEXEC (a child started by
 * `ip netns exec` must not inherit the device).
 *
 * Offload (native-notes/offload.md): with `offload`, the device is opened with IFF_VNET_HDR and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), so every packet read or written is
 * preceded by a 10-byte struct virtio_net_hdr and may be a TCP segment of up to 64 KiB. The
 * header is kept apart from the packet with readv()/writev(): it goes to (or comes from) its own
 * 12-byte slot per packet in a second shared buffer (rxHdrs / hdrs), so packets stay 4-byte
 * aligned and the C side never parses the header (src/wire/virtio-net.ts does, in TypeScript).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

/* sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
 * (The 12-byte variant adds num_buffers, which only mergeable receive buffers use: not us.)
 * Each packet's header has a slot of VNET_SLOT bytes in the shared header buffer. */
#define VNET_HDR_LEN 10
#define VNET_SLOT 12
/* Byte 1 of the header: gso_type; GSO_NONE is 0. */
#define VNET_GSO_TYPE 1

/* The largest packet an offloading device hands over: 64 KiB of GSO segment (gso_max_size). */
#define MAX_SLOT (65536 + 64)

/* ------------------------------------------------------------------------------------------ */
/* Error helpers                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Throw an Error shaped like Node's own system errors:
 *   Error: EPERM: operation not permitted, ioctl(TUNSETIFF) 'tun0'
 *   { code: 'EPERM', errno: -1, syscall: 'ioctl(TUNSETIFF)', path: 'tun0' }
 * errno is negative, as in Node's fs/net errors (libuv convention). */
static void throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  const char *code = uv_err_name(-err);
  char msg[512];
  if (path != NULL)
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, uv_strerror(-err), syscall, path);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", code, uv_strerror(-err), syscall);

  napi_value js_code, js_msg, error, js_errno, js_syscall;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg);
  napi_create_error(env, js_code, js_msg, &error);
  napi_create_int32(env, -err, &js_errno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall);
  napi_set_named_property(env, error, "errno", js_errno);
  napi_set_named_property(env, error, "syscall", js_syscall);
  if (path != NULL) {
    napi_value js_path;
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &js_path);
    napi_set_named_property(env, error, "path", js_path);
  }
  napi_throw(env, error);
}

/* A programming error on the JS side (wrong argument types): a TypeError with a code. */
static void throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

#define NAPI_CALL(env, call)                                                                       \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      bool pending = false;                                                                        \
      napi_is_exception_pending((env), &pending);                                                  \
      if (!pending) napi_throw_error((env), "ERR_NAPI", "Node-API call failed: " #call);          \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

/* ------------------------------------------------------------------------------------------ */
/* The device                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  double rx_packets, rx_bytes, rx_batches, rx_errors, rx_truncated, rx_gso;
  double tx_packets, tx_bytes, tx_calls, tx_errors, tx_eagain, tx_gso;
} tun_stats;

typedef struct {
  int fd;
  int closed;       /* close() was called: no callback into JS from now on */
  int started;      /* start() was called: poll is initialised and must be uv_close()d */
  int want_write;   /* JS has packets waiting for the fd to become writable */
  int events;       /* the uv_poll event mask currently armed */
  int owners;       /* 1 for the JS handle, +1 for the poll handle while libuv holds it */
  uv_poll_t poll;
  napi_env env;
  napi_async_context async_ctx;
  napi_ref on_read, on_writable, rx_buf_ref, rx_table_ref, rx_hdrs_ref, resource;
  int vnet;           /* opened with IFF_VNET_HDR: every packet has a virtio_net_hdr in front */
  unsigned offloads;  /* the TUN_F_* flags TUNSETOFFLOAD accepted */
  uint8_t *rx_hdrs;   /* vnet: VNET_SLOT bytes per packet of a batch */
  uint8_t *rx_buf;
  size_t rx_cap;
  uint32_t *rx_table; /* 2 * batch entries: offset, length */
  uint32_t batch;
  uint32_t slot;      /* the largest packet we accept: stop a batch when less room is left */
  tun_stats st;
  char name[IFNAMSIZ];
} tun_dev;

/* What open() asked for and what the kernel granted. */
typedef struct {
  int want_offload; /* in: try IFF_VNET_HDR + TUNSETOFFLOAD */
  int vnet;         /* out: opened with IFF_VNET_HDR */
  unsigned offloads; /* out: TUN_F_* accepted by TUNSETOFFLOAD (0: none) */
} tun_offload;

/* Ask for checksum and segmentation offload: CSUM | TSO4 | TSO6, then CSUM | TSO4, then CSUM
 * alone. Returns what was accepted; 0 when nothing was (the vnet header still works, every
 * packet plain). TSO6 gives IPv6 TCP the same 64 KiB segments both ways as IPv4's (without it
 * the kernel cuts its IPv6 segments to the MTU before the device, in software).
 * Not asked: USO (UDP segmentation, Linux 6.2+). The kernel takes it only as USO4 | USO6
 * together (tun_set_offload answers EINVAL to USO4 alone, measured on 6.18), and with it a
 * kernel socket using UDP_SEGMENT would hand us one packet holding many datagrams, which the
 * stack would have to cut apart; our UDP sends one datagram per packet and gains nothing. */
static unsigned set_offload(int fd) {
  static const unsigned tries[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM | TUN_F_TSO4,
                                   TUN_F_CSUM};
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) return tries[i];
  }
  return 0;
}

/* Open /dev/net/tun and attach it to interface `name` (TUNSETIFF). Returns fd or -errno;
 * *failed_syscall names the step that failed. With off->want_offload, and when the kernel
 * lists IFF_VNET_HDR in TUNGETFEATURES, the device gets virtio_net_hdr framing and offloads. */
static int tun_alloc(const char *name, char *actual, tun_offload *off,
                     const char **failed_syscall) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *failed_syscall = "open('/dev/net/tun')";
    return -errno;
  }
  off->vnet = 0;
  off->offloads = 0;
  unsigned features = 0;
  if (off->want_offload && ioctl(fd, TUNGETFEATURES, &features) == 0 &&
      (features & IFF_VNET_HDR))
    off->vnet = 1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* IFF_TUN: layer 3 (IP) packets, no Ethernet header. IFF_NO_PI: no struct tun_pi prefix. */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (off->vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    *failed_syscall = "ioctl(TUNSETIFF)";
    return -err;
  }
  memcpy(actual, ifr.ifr_name, IFNAMSIZ);
  actual[IFNAMSIZ - 1] = '\0';
  if (off->vnet) {
    /* 10 is the default, set anyway so that the framing never depends on one. */
    int hdr_len = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
      int err = errno;
      close(fd);
      *failed_syscall = "ioctl(TUNSETVNETHDRSZ)";
      return -err;
    }
    off->offloads = set_offload(fd);
  }
  return fd;
}

/* Open the TUN device inside the network namespace bound at `ns_path` (e.g.
 * /var/run/netns/tsk-1). setns() changes the namespace of the calling THREAD only, so we save
 * this thread's namespace first and always return to it. A /dev/net/tun fd belongs to the
 * namespace that was current when it was opened (tun_chr_open takes current's net ns) and
 * TUNSETIFF creates the interface there; after we go home the fd keeps working. */
static int tun_alloc_in_netns(const char *ns_path, const char *name, char *actual,
                              tun_offload *off, const char **failed_syscall) {
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    *failed_syscall = "open('/proc/thread-self/ns/net')";
    return -errno;
  }
  int target = open(ns_path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(home);
    *failed_syscall = "open(netns)";
    return -err;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int err = errno;
    close(target);
    close(home);
    *failed_syscall = "setns(netns)";
    return -err;
  }
  int fd = tun_alloc(name, actual, off, failed_syscall);
  /* Go home whatever happened. If we cannot, this thread (Node's main thread) would keep
   * talking to the wrong network: stopping the process is the only safe answer. */
  if (setns(home, CLONE_NEWNET) < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "setns back to the original network namespace failed: %s",
             strerror(errno));
    napi_fatal_error("tun.c", NAPI_AUTO_LENGTH, msg, NAPI_AUTO_LENGTH);
  }
  close(target);
  close(home);
  return fd;
}

/* The struct has two owners: the JS handle (the external's finalizer) and, once started, the
 * libuv poll handle (until its close callback). Whoever lets go last frees it. */
static void release_owner(tun_dev *t) {
  if (--t->owners == 0) free(t);
}

static void on_poll_closed(uv_handle_t *handle) {
  release_owner(handle->data);
}

/* Stop everything and release the fd. Safe to call twice.
 *
 * Order matters: uv_close() the poll BEFORE close(fd). Stopping or closing a uv_poll_t calls
 * epoll_ctl(EPOLL_CTL_DEL) on its fd number; if we closed the fd first and a later open reused
 * the number, a deferred uv_close would silently unregister the NEW device from epoll (a hang
 * we hit in the tests when a finalizer ran between two tests). */
static void tun_shutdown(tun_dev *t) {
  if (t->closed) return;
  t->closed = 1;
  if (t->started) uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  if (t->fd >= 0) {
    close(t->fd);
    t->fd = -1;
  }
}

static void release_refs(tun_dev *t) {
  napi_env env = t->env;
  napi_ref *refs[] = {&t->on_read, &t->on_writable, &t->rx_buf_ref, &t->rx_table_ref,
                      &t->rx_hdrs_ref, &t->resource};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i] != NULL) {
      napi_delete_reference(env, *refs[i]);
      *refs[i] = NULL;
    }
  }
  if (t->async_ctx != NULL) {
    napi_async_destroy(env, t->async_ctx);
    t->async_ctx = NULL;
  }
  t->rx_buf = NULL;
  t->rx_table = NULL;
  t->rx_hdrs = NULL;
}

/* Called when the JS handle is garbage collected (or the environment is torn down). */
static void tun_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tun_dev *t = data;
  /* start() keeps a strong reference to the handle, so a started device is only finalised
   * after close() (or at environment teardown, where deleting references is not allowed). */
  tun_shutdown(t);
  release_owner(t);
}

/* Call a JS function from a libuv callback. napi_make_callback (not napi_call_function) so
 * that process.nextTick and promise jobs queued by the callback run before we return to the
 * loop, exactly as after a Node socket's 'data' event. An exception becomes uncaught. */
static void call_js(tun_dev *t, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = t->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback wants an object as `this` */
  napi_status s = napi_make_callback(env, t->async_ctx, recv, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_poll(uv_poll_t *handle, int status, int events);

/* Watch for writable too while JS has packets waiting, and only then (a TUN fd is almost always
 * writable: watching it all the time would wake us on every turn of the loop). uv_poll_start
 * replaces the callback as well as the events, so pass it again. */
static void rearm(tun_dev *t) {
  int events = UV_READABLE | (t->want_write ? UV_WRITABLE : 0);
  if (events != t->events) {
    t->events = events;
    int r = uv_poll_start(&t->poll, events, on_poll);
    if (r < 0) t->st.rx_errors++;
  }
}

static void read_batch(tun_dev *t) {
  size_t off = 0;
  uint32_t n = 0;
  /* Read until EAGAIN, the batch limit, or too little room left for a full-size packet. The
   * poll is level-triggered, so whatever we leave in the queue wakes us again next turn of the
   * loop, after timers and other I/O have had their chance. */
  while (n < t->batch && t->rx_cap - off >= t->slot) {
    ssize_t r;
    if (t->vnet) {
      /* The header to its slot, the packet to the aligned packet buffer: one readv. */
      struct iovec iov[2] = {{t->rx_hdrs + (size_t)n * VNET_SLOT, VNET_HDR_LEN},
                             {t->rx_buf + off, t->slot}};
      r = readv(t->fd, iov, 2);
      if (r > 0 && r < VNET_HDR_LEN) {
        t->st.rx_errors++; /* cannot happen: the kernel always writes the whole header */
        continue;
      }
      if (r > 0) r -= VNET_HDR_LEN;
    } else {
      r = read(t->fd, t->rx_buf + off, t->slot);
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) t->st.rx_errors++;
      break;
    }
    if (r == 0) break;
    if ((size_t)r >= t->slot) {
      /* Larger than the MTU we were opened with (someone raised the device MTU). The kernel
       * copied only `slot` bytes but returns the packet's full length: drop it, count it, and
       * never let the length reach the table or the offset. */
      t->st.rx_truncated++;
      continue;
    }
    t->rx_table[2 * n] = (uint32_t)off;
    t->rx_table[2 * n + 1] = (uint32_t)r;
    if (t->vnet && t->rx_hdrs[(size_t)n * VNET_SLOT + VNET_GSO_TYPE] != 0) t->st.rx_gso++;
    n++;
    /* Keep every packet 4-byte aligned so JS may view it through wider typed arrays. */
    off += ((size_t)r + 3) & ~(size_t)3;
    t->st.rx_packets++;
    t->st.rx_bytes += (double)r;
  }
  if (n == 0) return;
  t->st.rx_batches++;

  napi_handle_scope scope;
  napi_open_handle_scope(t->env, &scope);
  napi_value argv[1];
  napi_create_uint32(t->env, n, &argv[0]);
  call_js(t, t->on_read, 1, argv);
  napi_close_handle_scope(t->env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  tun_dev *t = handle->data;
  if (t->closed) return;
  if (status < 0) {
    t->st.rx_errors++;
    return;
  }
  if (events & UV_READABLE) read_batch(t);
  if (t->closed) return; /* JS may have closed us from inside onRead */
  if ((events & UV_WRITABLE) && t->want_write) {
    t->want_write = 0;
    rearm(t);
    napi_handle_scope scope;
    napi_open_handle_scope(t->env, &scope);
    call_js(t, t->on_writable, 0, NULL);
    napi_close_handle_scope(t->env, scope);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* JS entry points                                                                              */
/* ------------------------------------------------------------------------------------------ */

static tun_dev *get_dev(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    throw_type(env, "expected a TUN handle");
    return NULL;
  }
  return data;
}

/* True when v is neither undefined nor null (an optional argument was given). */
static bool argc_has_typed(napi_env env, napi_value v) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  return type != napi_undefined && type != napi_null;
}

/* The prologue of every call on an open device: fetch `n` arguments (Node-API fills missing
 * ones with undefined), insist on at least `n`, and unwrap the handle in argv[0]. */
static tun_dev *device_call(napi_env env, napi_callback_info info, size_t n, napi_value *argv,
                            const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "ERR_NAPI", "napi_get_cb_info failed");
    return NULL;
  }
  if (argc < n) {
    throw_type(env, usage);
    return NULL;
  }
  return get_dev(env, argv[0]);
}

/* open(name: string, netnsPath: string | null, offload?: boolean)
 *   -> { handle, name, vnetHdr: boolean, offloads: number (TUN_F_* accepted) } */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    throw_type(env, "open(name, netnsPath) needs a name");
    return NULL;
  }
  char name[IFNAMSIZ + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    throw_type(env, "name must be a string");
    return NULL;
  }
  if (len == 0 || len >= IFNAMSIZ) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "interface name must be 1 to 15 bytes");
    return NULL;
  }
  char ns_path[4096];
  int has_ns = 0;
  if (argc >= 2) {
    napi_valuetype type;
    NAPI_CALL(env, napi_typeof(env, argv[1], &type));
    if (type == napi_string) {
      if (napi_get_value_string_utf8(env, argv[1], ns_path, sizeof ns_path, &len) != napi_ok ||
          len == 0 || len >= sizeof ns_path - 1) {
        throw_type(env, "netnsPath must be a non-empty path");
        return NULL;
      }
      has_ns = 1;
    } else if (type != napi_null && type != napi_undefined) {
      throw_type(env, "netnsPath must be a string or null");
      return NULL;
    }
  }

  tun_offload off = {0, 0, 0};
  if (argc >= 3) {
    napi_valuetype type;
    NAPI_CALL(env, napi_typeof(env, argv[2], &type));
    if (type == napi_boolean) {
      bool want = false;
      NAPI_CALL(env, napi_get_value_bool(env, argv[2], &want));
      off.want_offload = want;
    } else if (type != napi_undefined) {
      throw_type(env, "offload must be a boolean");
      return NULL;
    }
  }

  char actual[IFNAMSIZ];
  const char *failed = "open";
  int fd = has_ns ? tun_alloc_in_netns(ns_path, name, actual, &off, &failed)
                  : tun_alloc(name, actual, &off, &failed);
  if (fd < 0) {
    const char *path = strcmp(failed, "ioctl(TUNSETIFF)") == 0 ? name
                       : strcmp(failed, "open(netns)") == 0 || strcmp(failed, "setns(netns)") == 0
                           ? ns_path
                           : NULL;
    throw_errno(env, -fd, failed, path);
    return NULL;
  }

  tun_dev *t = calloc(1, sizeof *t);
  if (t == NULL) {
    close(fd);
    throw_errno(env, ENOMEM, "calloc", NULL);
    return NULL;
  }
  t->fd = fd;
  t->env = env;
  t->owners = 1;
  t->vnet = off.vnet;
  t->offloads = off.offloads;
  memcpy(t->name, actual, IFNAMSIZ);

  napi_value result, handle, js_name, js_vnet, js_offloads;
  if (napi_create_external(env, t, tun_finalize, NULL, &handle) != napi_ok) {
    close(fd);
    free(t);
    napi_throw_error(env, "ERR_NAPI", "napi_create_external failed");
    return NULL;
  }
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &js_name));
  NAPI_CALL(env, napi_set_named_property(env, result, "handle", handle));
  NAPI_CALL(env, napi_set_named_property(env, result, "name", js_name));
  NAPI_CALL(env, napi_get_boolean(env, off.vnet != 0, &js_vnet));
  NAPI_CALL(env, napi_set_named_property(env, result, "vnetHdr", js_vnet));
  NAPI_CALL(env, napi_create_uint32(env, off.offloads, &js_offloads));
  NAPI_CALL(env, napi_set_named_property(env, result, "offloads", js_offloads));
  return result;
}

/* start(handle, rxBuf: ArrayBuffer, rxTable: Uint32Array, slot, batch, onRead, onWritable,
 *       rxHdrs: Uint8Array | null)
 * rxHdrs (needed when the device was opened with a vnet header): VNET_SLOT (12) bytes per packet
 * of a batch; packet i's virtio_net_hdr lands at rxHdrs[12 * i]. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  tun_dev *t = device_call(env, info, 8, argv,
                           "start(handle, rxBuf, rxTable, slot, batch, onRead, onWritable, rxHdrs)");
  if (t == NULL) return NULL;
  if (t->closed || t->started) {
    napi_throw_error(env, "ERR_INVALID_STATE", t->closed ? "device is closed" : "already started");
    return NULL;
  }

  void *buf = NULL;
  size_t buf_len = 0;
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[1], &is_ab);
  if (!is_ab || napi_get_arraybuffer_info(env, argv[1], &buf, &buf_len) != napi_ok) {
    throw_type(env, "rxBuf must be an ArrayBuffer");
    return NULL;
  }
  bool is_ta = false;
  napi_typedarray_type ta_type;
  size_t ta_len = 0;
  void *ta_data = NULL;
  napi_is_typedarray(env, argv[2], &is_ta);
  if (!is_ta ||
      napi_get_typedarray_info(env, argv[2], &ta_type, &ta_len, &ta_data, NULL, NULL) != napi_ok ||
      ta_type != napi_uint32_array) {
    throw_type(env, "rxTable must be a Uint32Array");
    return NULL;
  }
  uint32_t slot = 0, batch = 0;
  if (napi_get_value_uint32(env, argv[3], &slot) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &batch) != napi_ok || slot < 68 || slot > MAX_SLOT ||
      batch < 1 || batch > 4096) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "slot must be 68..65600, batch 1..4096");
    return NULL;
  }
  if (ta_len < 2 * (size_t)batch || buf_len < slot) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "rxTable or rxBuf too small for the batch");
    return NULL;
  }
  napi_valuetype t5, t6;
  napi_typeof(env, argv[5], &t5);
  napi_typeof(env, argv[6], &t6);
  if (t5 != napi_function || t6 != napi_function) {
    throw_type(env, "onRead and onWritable must be functions");
    return NULL;
  }
  void *hdrs = NULL;
  size_t hdrs_len = 0;
  if (t->vnet) {
    if (napi_get_typedarray_info(env, argv[7], &ta_type, &hdrs_len, &hdrs, NULL, NULL) != napi_ok ||
        ta_type != napi_uint8_array) {
      throw_type(env, "rxHdrs must be a Uint8Array (the device has vnet headers)");
      return NULL;
    }
    if (hdrs_len < (size_t)batch * VNET_SLOT) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "rxHdrs too small for the batch");
      return NULL;
    }
  }

  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &t->poll, t->fd);
  if (r < 0) {
    throw_errno(env, -r, "uv_poll_init", NULL);
    return NULL;
  }
  t->poll.data = t;
  t->started = 1;
  t->owners++;

  napi_value resource_name;
  NAPI_CALL(env, napi_create_string_utf8(env, "TunLink", NAPI_AUTO_LENGTH, &resource_name));
  NAPI_CALL(env, napi_async_init(env, NULL, resource_name, &t->async_ctx));
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &t->rx_buf_ref));
  NAPI_CALL(env, napi_create_reference(env, argv[2], 1, &t->rx_table_ref));
  if (t->vnet) NAPI_CALL(env, napi_create_reference(env, argv[7], 1, &t->rx_hdrs_ref));
  t->rx_hdrs = hdrs;
  NAPI_CALL(env, napi_create_reference(env, argv[5], 1, &t->on_read));
  NAPI_CALL(env, napi_create_reference(env, argv[6], 1, &t->on_writable));
  /* Like a libuv handle, a started device keeps itself alive until close(). */
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &t->resource));
  t->rx_buf = buf;
  t->rx_cap = buf_len;
  t->rx_table = ta_data;
  t->slot = slot;
  t->batch = batch;
  t->events = UV_READABLE;
  r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
  if (r < 0) {
    throw_errno(env, -r, "uv_poll_start", NULL);
    return NULL;
  }
  return NULL;
}

/* writeBatch(handle, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, first, count,
 *            hdrs: Uint8Array | null)
 * -> number of packets consumed (written, or dropped on a hard error and counted). Stops early
 * at EAGAIN: the caller keeps packets [first + result, first + count) for later.
 * On a vnet device packet i is written behind the virtio_net_hdr at hdrs[12 * i] (one writev);
 * without hdrs, behind an all-zero header (no offload asked for that packet). */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  tun_dev *t =
      device_call(env, info, 7, argv, "writeBatch(handle, buf, offsets, lengths, first, count, hdrs)");
  if (t == NULL) return NULL;

  napi_typedarray_type type;
  size_t buf_len = 0, off_len = 0, len_len = 0;
  void *buf = NULL, *offs = NULL, *lens = NULL;
  if (napi_get_typedarray_info(env, argv[1], &type, &buf_len, &buf, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    throw_type(env, "buf must be a Uint8Array");
    return NULL;
  }
  if (napi_get_typedarray_info(env, argv[2], &type, &off_len, &offs, NULL, NULL) != napi_ok ||
      type != napi_uint32_array ||
      napi_get_typedarray_info(env, argv[3], &type, &len_len, &lens, NULL, NULL) != napi_ok ||
      type != napi_uint32_array) {
    throw_type(env, "offsets and lengths must be Uint32Arrays");
    return NULL;
  }
  uint32_t first = 0, count = 0;
  if (napi_get_value_uint32(env, argv[4], &first) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &count) != napi_ok ||
      (size_t)first + count > off_len || (size_t)first + count > len_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "first + count exceeds the tables");
    return NULL;
  }

  const uint8_t *hdrs = NULL;
  size_t hdrs_len = 0;
  if (t->vnet && argc_has_typed(env, argv[6])) {
    void *h = NULL;
    if (napi_get_typedarray_info(env, argv[6], &type, &hdrs_len, &h, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
      throw_type(env, "hdrs must be a Uint8Array or null");
      return NULL;
    }
    if (hdrs_len < ((size_t)first + count) * VNET_SLOT) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "hdrs too small for first + count");
      return NULL;
    }
    hdrs = h;
  }
  static const uint8_t zero_hdr[VNET_HDR_LEN] = {0};

  napi_value result;
  if (t->closed) {
    /* Nothing can be sent any more: consume everything so JS does not retry forever. */
    t->st.tx_errors += count;
    napi_create_uint32(env, count, &result);
    return result;
  }
  t->st.tx_calls++;
  uint32_t i = 0;
  const uint8_t *bytes = buf;
  const uint32_t *o = offs, *l = lens;
  for (; i < count; i++) {
    uint32_t off = o[first + i], len = l[first + i];
    if ((size_t)off + len > buf_len || len == 0) {
      t->st.tx_errors++; /* a bad table entry: drop that packet, never read out of bounds */
      continue;
    }
    ssize_t w;
    if (t->vnet) {
      const uint8_t *h = hdrs != NULL ? hdrs + (size_t)(first + i) * VNET_SLOT : zero_hdr;
      struct iovec iov[2] = {{(void *)h, VNET_HDR_LEN}, {(void *)(bytes + off), len}};
      do {
        w = writev(t->fd, iov, 2);
      } while (w < 0 && errno == EINTR);
      if (w >= VNET_HDR_LEN) {
        w -= VNET_HDR_LEN;
        if (h[VNET_GSO_TYPE] != 0) t->st.tx_gso++;
      }
    } else {
      do {
        w = write(t->fd, bytes + off, len);
      } while (w < 0 && errno == EINTR);
    }
    if (w < 0) {
      if (errno == EAGAIN) {
        t->st.tx_eagain++;
        break;
      }
      t->st.tx_errors++; /* e.g. EINVAL for a malformed packet, EIO if the link is down */
      continue;
    }
    t->st.tx_packets++;
    t->st.tx_bytes += (double)w;
  }
  napi_create_uint32(env, i, &result);
  return result;
}

/* wantWritable(handle, on: boolean): ask for one onWritable() call when the fd can take more. */
static napi_value js_want_writable(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tun_dev *t = device_call(env, info, 2, argv, "wantWritable(handle, on: boolean)");
  if (t == NULL) return NULL;
  bool on = false;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    throw_type(env, "wantWritable(handle, on: boolean)");
    return NULL;
  }
  if (t->closed || !t->started) return NULL;
  t->want_write = on ? 1 : 0;
  rearm(t);
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tun_dev *t = device_call(env, info, 1, argv, "stats(handle)");
  if (t == NULL) return NULL;
  napi_value o, v;
  NAPI_CALL(env, napi_create_object(env, &o));
#define STAT(field, key)                                                                           \
  napi_create_double(env, t->st.field, &v);                                                        \
  napi_set_named_property(env, o, key, v)
  STAT(rx_packets, "rxPackets");
  STAT(rx_bytes, "rxBytes");
  STAT(rx_batches, "rxBatches");
  STAT(rx_errors, "rxErrors");
  STAT(rx_truncated, "rxTruncated");
  STAT(rx_gso, "rxGso");
  STAT(tx_packets, "txPackets");
  STAT(tx_bytes, "txBytes");
  STAT(tx_calls, "txCalls");
  STAT(tx_errors, "txErrors");
  STAT(tx_eagain, "txEagain");
  STAT(tx_gso, "txGso");
#undef STAT
  return o;
}

/* close(handle): stop polling and close the fd. No JS callback runs after this returns. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tun_dev *t = device_call(env, info, 1, argv, "close(handle)");
  if (t == NULL) return NULL;
  if (t->closed) return NULL;
  tun_shutdown(t);
  /* Drop the self-reference and callbacks; the struct is freed once both the poll's close
   * callback and the finalizer (when JS lets go of the handle) have run. */
  release_refs(t);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"wantWritable", NULL, js_want_writable, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
