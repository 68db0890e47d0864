/**
 * TunLink: the Link over a Linux TUN device, through the small C addon in src/link/native/tun.c
 * (built by `npm ci` into build/Release/tun.node; native-notes/README.md explains it; offload.md the offloads).
 *
 * Receive: the addon reads up to `batch` packets per wake-up into one ArrayBuffer allocated here
 * once, fills a (offset, length) table, and calls onRead(count) once per batch. We hand each
 * packet to the receiver as a subarray view (valid only during the call, as LinkReceiver says),
 * then call batchEnd() once.
 *
 * Send: send() copies the packet into a preallocated write buffer and records its offset and
 * length; flush() hands the whole batch to the addon, which write()s each packet in one native
 * call. If the device queue is full (EAGAIN) the unsent rest stays in the buffer and is retried
 * when the fd becomes writable. A flush is also scheduled as a microtask when the first packet of
 * a batch is queued, so a caller that forgets flush() only delays packets, never strands them.
 *
 * Offload (`offload: true`, native-notes/offload.md): the device is opened with IFF_VNET_HDR
 * and TUNSETOFFLOAD (checksum, TSO4, TSO6). Each packet then comes with a virtio_net_hdr (parsed with
 * src/wire/virtio-net.ts from a 12-byte slot per packet in a second shared buffer): the kernel
 * hands us TCP segments of up to 64 KiB with partial checksums, which we pass on with
 * RxFlag.CsumTrusted, and takes super-segments from us (`send(packet, segmentSize)`), which
 * the kernel receives whole. A kernel without IFF_VNET_HDR gives a plain device.
 *
 * Configuration (MTU, host-side address, up) is done with `ip -n NS ...` rather than netlink
 * from C: it runs once per open, is easy to read and debug, and keeps the addon small.
 */
import { createRequire } from 'node:module';
import { type Link, type LinkOffload, type LinkReceiver, RxFlag } from '../stack/link.ts';
import { IPV4_MAX_DATAGRAM } from '../wire/ipv4.ts';
import {
  emitPlainVirtioNetHdr,
  emitTcpV4GsoHdr,
  emitTcpV6GsoHdr,
  VnetFlag,
  vnetFlags,
} from '../wire/virtio-net.ts';
import * as netns from './netns.ts';

/** The addon's exports (src/link/native/tun.c). */
export interface TunAddon {
  open(
    name: string,
    netnsPath: string | null,
    offload?: boolean,
  ): { handle: TunHandle; name: string; vnetHdr: boolean; offloads: number };
  /** `rxHdrs`: 12 bytes per packet of a batch for the virtio_net_hdr (vnet devices), else null. */
  start(
    handle: TunHandle,
    rxBuf: ArrayBuffer,
    rxTable: Uint32Array,
    slot: number,
    batch: number,
    onRead: (count: number) => void,
    onWritable: () => void,
    rxHdrs: Uint8Array | null,
  ): void;
  /** `hdrs`: packet i goes out behind the virtio_net_hdr at hdrs[12 * i] (vnet devices). */
  writeBatch(
    handle: TunHandle,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    first: number,
    count: number,
    hdrs: Uint8Array | null,
  ): number;
  wantWritable(handle: TunHandle, on: boolean): void;
  stats(handle: TunHandle): NativeTunStats;
  close(handle: TunHandle): void;
}

/** An opaque native handle. */
export type TunHandle = { readonly __tunHandle: unique symbol };

/** Counters kept by the addon. */
export interface NativeTunStats {
  rxPackets: number;
  rxBytes: number;
  rxBatches: number;
  rxErrors: number;
  /** Packets larger than the MTU we were opened with: dropped by the addon. */
  rxTruncated: number;
  /** Packets read with a GSO type (offload: TCP segments larger than the MTU). */
  rxGso: number;
  txPackets: number;
  txBytes: number;
  /** writeBatch() calls: txPackets / txCalls is the achieved write batch size. */
  txCalls: number;
  txErrors: number;
  txEagain: number;
  /** Super-segments written (offload): each stands for several MTU-sized segments. */
  txGso: number;
}

export interface TunStats extends NativeTunStats {
  /** Packets dropped by send() because the write buffer was full while the device was blocked. */
  txDropped: number;
  /** Packets dropped by send() because they were larger than the MTU. */
  txOversize: number;
  /** Received packets passed on with RxFlag.CsumTrusted (partial or verified checksum). */
  rxCsumTrusted: number;
}

/** TUNSETOFFLOAD flags (linux/if_tun.h). */
export const TunOffloadFlag = { Csum: 0x01, Tso4: 0x02, Tso6: 0x04, Uso4: 0x20 } as const;

/** Bytes of header slot per packet in the shared header buffers (tun.c VNET_SLOT). */
const VNET_SLOT = 12;
/** Receive slot on an offloading device: a whole 64 KiB GSO packet, 4-byte aligned, + 4. */
const GSO_RX_SLOT = 65_536 + 4;
/** How many such slots the receive buffer holds: at most this many 64 KiB reads per batch. */
const GSO_RX_SLOTS = 16;
/** Write buffer room for super-segments on a TSO device. */
const GSO_TX_BYTES = 8 * 65_536;

let addon: TunAddon | undefined;

/** Load build/Release/tun.node once, with a helpful message if it was never built. */
export function loadAddon(): TunAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    addon = require('../../build/Release/tun.node') as TunAddon;
  } catch (err) {
    throw Object.assign(
      new Error(
        `the TUN addon is not built (${(err as Error).message}); run \`npm ci\` or \`npm run install\``,
      ),
      { code: 'ERR_TUN_ADDON_MISSING', cause: err },
    );
  }
  return addon;
}

export interface TunOpenOptions {
  /** Interface name, at most 15 bytes; `tun%d` lets the kernel choose. Default 'tun0'. */
  name?: string;
  /** Open the device inside this named network namespace (see netns.ts). */
  netns?: string;
  /** Device MTU, set with `ip link set mtu`. Default 1500. */
  mtu?: number;
  /** Packets per read batch and per write batch. Default 64. */
  batch?: number;
  /** Kernel-side address on the device, e.g. '10.0.0.1/24' (needs netns). */
  hostAddress?: string;
  /**
   * Kernel-side IPv6 address on the device, e.g. 'fd00::1/64' (needs netns): IPv6 is enabled on
   * the device, without duplicate address detection (nothing on a TUN link could answer it).
   * Absent: IPv6 is disabled on the device, so the kernel sends an IPv4 stack nothing of it.
   */
  hostAddress6?: string;
  /**
   * The device's transmit queue (txqueuelen): packets the kernel holds for us while we are busy
   * (needs netns). Default TUN_TX_QUEUE_LEN; the kernel's default for a TUN device is 500.
   */
  txQueueLen?: number;
  /**
   * Ask for IFF_VNET_HDR and TUNSETOFFLOAD (checksum offload, TSO4, TSO6): 64 KiB TCP segments both
   * ways. Falls back to a plain device when the kernel has no vnet headers; `link.offloads`
   * says what was granted. Default false.
   */
  offload?: boolean;
  /**
   * Allow opening (and configuring) the device in the current, usually root, namespace. Off by
   * default: tunstack keeps its packets inside namespaces it owns.
   */
  allowRootNamespace?: boolean;
}

/**
 * The default txqueuelen of our device: 1 000 packets (an Ethernet or veth device's default)
 * where the kernel's TUN default is 500. The queue absorbs the moments the stack is not reading
 * (a GC pause, another process on the CPU); every packet past it, ping and SYN alike, is dropped
 * by the kernel before the stack sees it (`ip -s link`: TX dropped). At a flood of 80 000
 * packets/s, 500 packets are 6 ms of such a moment, 1 000 are 12 ms. A longer queue would hold
 * more but delay every packet behind it when the stack reads more slowly than the flood arrives
 * (4 096 made a ping wait 200 ms under a SYN flood here), so the bound stays short.
 */
export const TUN_TX_QUEUE_LEN = 1000;

const align4 = (n: number): number => (n + 3) & ~3;

export class TunLink implements Link {
  readonly mtu: number;
  /** The interface name the kernel gave us. */
  readonly name: string;
  readonly netns: string | undefined;
  readonly batch: number;
  /**
   * What the stack may use: TSO when the kernel took TUN_F_TSO4 (and over IPv6 when it took
   * TUN_F_TSO6 too), else absent.
   */
  readonly offload: LinkOffload | undefined;
  /** The device has virtio_net_hdr framing (asked for offload and the kernel has it). */
  readonly vnetHdr: boolean;
  /** TUNSETOFFLOAD flags the kernel accepted (TunOffloadFlag bits), 0 without offload. */
  readonly offloads: number;

  readonly #addon: TunAddon;
  readonly #handle: TunHandle;
  #rx: LinkReceiver | undefined;
  #closed = false;

  // Receive side: one buffer and one table, shared with the addon.
  readonly #rxBuf: ArrayBuffer;
  readonly #rxBytes: Uint8Array;
  readonly #rxTable: Uint32Array;
  readonly #rxSlot: number;
  /** vnet: the header of packet i of a batch at 12 * i; null on a plain device. */
  readonly #rxHdrs: Uint8Array | null;
  #rxCsumTrusted = 0;

  // Send side: packets [#txFirst, #txCount) wait in #txBuf at #txOffsets/#txLengths.
  readonly #txBuf: Uint8Array;
  readonly #txOffsets: Uint32Array;
  readonly #txLengths: Uint32Array;
  readonly #txHdrs: Uint8Array | null;
  #txFirst = 0;
  #txCount = 0;
  #txEnd = 0;
  #blocked = false;
  #flushScheduled = false;
  #txDropped = 0;
  #txOversize = 0;

  private constructor(
    addon: TunAddon,
    handle: TunHandle,
    name: string,
    ns: string | undefined,
    mtu: number,
    batch: number,
    vnetHdr = false,
    offloads = 0,
  ) {
    this.#addon = addon;
    this.#handle = handle;
    this.name = name;
    this.netns = ns;
    this.mtu = mtu;
    this.batch = batch;
    this.vnetHdr = vnetHdr;
    this.offloads = vnetHdr ? offloads : 0;
    const tso = (this.offloads & TunOffloadFlag.Tso4) !== 0;
    const tso6 = tso && (this.offloads & TunOffloadFlag.Tso6) !== 0;
    this.offload = tso ? { tso: true, tso6, maxSegment: IPV4_MAX_DATAGRAM } : undefined;
    // A read that fills the slot means the packet was larger than we can take (the addon drops
    // it): the MTU on a plain device, a whole GSO packet on a vnet one.
    this.#rxSlot = vnetHdr ? GSO_RX_SLOT : align4(mtu) + 4;
    const rxBytes = batch * (align4(mtu) + 4);
    this.#rxBuf = new ArrayBuffer(
      vnetHdr ? Math.max(rxBytes, GSO_RX_SLOTS * GSO_RX_SLOT) : batch * this.#rxSlot,
    );
    this.#rxBytes = new Uint8Array(this.#rxBuf);
    this.#rxTable = new Uint32Array(2 * batch);
    this.#rxHdrs = vnetHdr ? new Uint8Array(batch * VNET_SLOT) : null;
    this.#txBuf = new Uint8Array(
      tso ? Math.max(batch * align4(mtu), GSO_TX_BYTES) : batch * align4(mtu),
    );
    this.#txOffsets = new Uint32Array(batch);
    this.#txLengths = new Uint32Array(batch);
    this.#txHdrs = vnetHdr ? new Uint8Array(batch * VNET_SLOT) : null;
  }

  /** Open (create) the TUN device, configure it, and return the link. */
  static async open(opts: TunOpenOptions = {}): Promise<TunLink> {
    const name = opts.name ?? 'tun0';
    const mtu = opts.mtu ?? 1500;
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw Object.assign(new RangeError(`mtu must be 68..65535, got ${mtu}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    if (!Number.isInteger(batch) || batch < 1 || batch > 4096) {
      throw Object.assign(new RangeError(`batch must be 1..4096, got ${batch}`), {
        code: 'ERR_OUT_OF_RANGE',
      });
    }
    if (opts.netns === undefined && !opts.allowRootNamespace) {
      throw Object.assign(
        new Error('TunLink.open: no netns given; pass allowRootNamespace: true to use this one'),
        { code: 'ERR_TUN_ROOT_NAMESPACE' },
      );
    }
    if (
      (opts.hostAddress !== undefined || opts.hostAddress6 !== undefined) &&
      opts.netns === undefined
    ) {
      throw Object.assign(new Error('TunLink.open: hostAddress needs netns'), {
        code: 'ERR_TUN_ROOT_NAMESPACE',
      });
    }

    const tun = loadAddon();
    const path = opts.netns === undefined ? null : netns.netnsPath(opts.netns);
    const opened = tun.open(name, path, opts.offload ?? false);
    const link = new TunLink(
      tun,
      opened.handle,
      opened.name,
      opts.netns,
      mtu,
      batch,
      opened.vnetHdr,
      opened.offloads,
    );
    try {
      await link.#configure(
        opts.hostAddress,
        opts.txQueueLen ?? TUN_TX_QUEUE_LEN,
        opts.hostAddress6,
      );
      link.#start();
    } catch (err) {
      await link.close(); // closing the fd also removes the interface
      throw err;
    }
    return link;
  }

  /**
   * A started link over an already opened handle of `addon`, with no configuration. For tests
   * that drive the batching logic with a scripted addon (test/unit/link/tun.test.ts).
   */
  static fromHandle(
    addon: TunAddon,
    handle: TunHandle,
    opts: { name: string; mtu: number; batch: number; vnetHdr?: boolean; offloads?: number },
  ): TunLink {
    const link = new TunLink(
      addon,
      handle,
      opts.name,
      undefined,
      opts.mtu,
      opts.batch,
      opts.vnetHdr,
      opts.offloads,
    );
    link.#start();
    return link;
  }

  #start(): void {
    this.#addon.start(
      this.#handle,
      this.#rxBuf,
      this.#rxTable,
      this.#rxSlot,
      this.batch,
      this.#onRead,
      this.#onWritable,
      this.#rxHdrs,
    );
  }

  async #configure(
    hostAddress: string | undefined,
    txQueueLen: number,
    hostAddress6?: string,
  ): Promise<void> {
    const dev = this.name;
    if (this.netns === undefined) {
      await netns.runChecked(['ip', 'link', 'set', 'dev', dev, 'mtu', String(this.mtu), 'up']);
      return;
    }
    // An IPv4-only stack: keep the kernel from sending router solicitations and MLD reports to
    // it. A dual-stack one: IPv6 on, and no duplicate address detection (accept_dad=0 and
    // nodad), which would hold the address "tentative" for a second for nothing.
    if (hostAddress6 === undefined) {
      await netns.exec(this.netns, ['sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
    } else {
      await netns.exec(this.netns, [
        'sysctl',
        '-qw',
        `net.ipv6.conf.${dev}.disable_ipv6=0`,
        `net.ipv6.conf.${dev}.accept_dad=0`,
      ]);
    }
    await netns.ip(this.netns, [
      'link',
      'set',
      'dev',
      dev,
      'mtu',
      String(this.mtu),
      'txqueuelen',
      String(txQueueLen),
    ]);
    if (hostAddress !== undefined) {
      await netns.ip(this.netns, ['addr', 'add', hostAddress, 'dev', dev]);
    }
    if (hostAddress6 !== undefined) {
      await netns.ip(this.netns, ['-6', 'addr', 'add', hostAddress6, 'dev', dev, 'nodad']);
    }
    await netns.ip(this.netns, ['link', 'set', 'dev', dev, 'up']);
  }

  attach(rx: LinkReceiver): void {
    if (this.#rx) throw new Error('TunLink.attach: already attached');
    this.#rx = rx;
  }

  /** Called by the addon once per batch of `count` packets. */
  readonly #onRead = (count: number): void => {
    const rx = this.#rx;
    // Nobody listening yet, or closed: the packets are dropped, as on an unplugged cable.
    if (!rx || this.#closed) return;
    const table = this.#rxTable;
    const bytes = this.#rxBytes;
    const hdrs = this.#rxHdrs;
    for (let i = 0; i < count; i++) {
      const off = table[2 * i];
      const packet = bytes.subarray(off, off + table[2 * i + 1]);
      if (hdrs === null) rx.packet(packet);
      else rx.packet(packet, this.#rxFlags(hdrs, i * VNET_SLOT));
      if (this.#closed) return;
    }
    rx.batchEnd?.();
  };

  /**
   * The RxFlag bits for a packet from its virtio_net_hdr. The kernel marks what it made on this
   * host and left unsummed (NEEDS_CSUM) or already verified (DATA_VALID): the stack must not
   * verify those. A TCPV4 GSO packet is one large TCP segment, which the stack takes as is.
   * (USO, many UDP datagrams in one, is not asked for: TUN_F_USO4 stays off, see offload.md.)
   */
  #rxFlags(hdrs: Uint8Array, at: number): number {
    if ((vnetFlags(hdrs, at) & (VnetFlag.NeedsCsum | VnetFlag.DataValid)) === 0) return 0;
    this.#rxCsumTrusted++;
    return RxFlag.CsumTrusted;
  }

  readonly #onWritable = (): void => {
    this.#blocked = false;
    this.flush();
  };

  readonly #scheduledFlush = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  send(packet: Uint8Array, segmentSize = 0): void {
    if (this.#closed) return;
    const len = packet.length;
    const gso = segmentSize > 0 && this.offload !== undefined;
    if (len === 0 || len > (gso ? IPV4_MAX_DATAGRAM : this.mtu)) {
      this.#txOversize++;
      return;
    }
    if (this.#txCount === this.batch || this.#txEnd + len > this.#txBuf.length) {
      this.flush();
      if (this.#txCount === this.batch || this.#txEnd + len > this.#txBuf.length) {
        this.#compact();
        if (this.#txCount === this.batch || this.#txEnd + len > this.#txBuf.length) {
          this.#txDropped++; // the device is backed up and our bounded buffer is full
          return;
        }
      }
    }
    const i = this.#txCount++;
    this.#txOffsets[i] = this.#txEnd;
    this.#txLengths[i] = len;
    this.#txBuf.set(packet, this.#txEnd);
    this.#txEnd = align4(this.#txEnd + len);
    const hdrs = this.#txHdrs;
    if (hdrs !== null) {
      if (!gso) emitPlainVirtioNetHdr(hdrs, i * VNET_SLOT);
      else if (packet[0] >>> 4 === 6) emitTcpV6GsoHdr(hdrs, i * VNET_SLOT, packet, segmentSize);
      else emitTcpV4GsoHdr(hdrs, i * VNET_SLOT, packet, segmentSize);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#scheduledFlush);
    }
  }

  flush(): void {
    if (this.#closed || this.#blocked) return;
    const pending = this.#txCount - this.#txFirst;
    if (pending === 0) return;
    const n = this.#addon.writeBatch(
      this.#handle,
      this.#txBuf,
      this.#txOffsets,
      this.#txLengths,
      this.#txFirst,
      pending,
      this.#txHdrs,
    );
    if (n === pending) {
      this.#txFirst = this.#txCount = this.#txEnd = 0;
      return;
    }
    // EAGAIN: keep the rest and retry when the kernel has room.
    this.#txFirst += n;
    this.#blocked = true;
    this.#addon.wantWritable(this.#handle, true);
  }

  /** Move the packets still waiting to the front of the write buffer. */
  #compact(): void {
    const first = this.#txFirst;
    if (first === 0) return;
    const start = this.#txOffsets[first];
    this.#txBuf.copyWithin(0, start, this.#txEnd);
    for (let i = first; i < this.#txCount; i++) {
      this.#txOffsets[i - first] = this.#txOffsets[i] - start;
      this.#txLengths[i - first] = this.#txLengths[i];
    }
    this.#txHdrs?.copyWithin(0, first * VNET_SLOT, this.#txCount * VNET_SLOT);
    this.#txCount -= first;
    this.#txEnd -= start;
    this.#txFirst = 0;
  }

  get stats(): TunStats {
    return {
      ...this.#addon.stats(this.#handle),
      txDropped: this.#txDropped,
      txOversize: this.#txOversize,
      rxCsumTrusted: this.#rxCsumTrusted,
    };
  }

  /** Stop reading, drop unsent packets, and close the fd (which removes the interface). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.close(this.#handle);
  }
}
