/**
 * tunstack as a library: what `import … from 'tunstack'` gives.
 *
 *   import { createStack, SimLink, VirtualClock } from 'tunstack';
 *   const stack = createStack({ link, address: '10.0.0.2' });
 *   stack.net.createServer((s) => s.pipe(s)).listen(7);
 *
 * A Stack with its node:net- and node:dgram-shaped APIs, the links it can run on, Node's http on
 * its sockets, the clocks, and the types of their options, statistics and connection rows. The
 * TCP core, the wire codecs and the apps stay inside: nothing here needs them.
 */

// node:dgram-shaped UDP (`stack.dgram`).
export {
  type AddressInfo as DgramAddressInfo,
  type BindOptions as DgramBindOptions,
  DgramApi,
  type RemoteInfo,
  Socket as DgramSocket,
  type SocketEvents as DgramSocketEvents,
  type SocketOptions as DgramSocketOptions,
} from './api/dgram.ts';
// Node's http on the stack's sockets.
export { type HttpService, type ServeHttpOptions, StackAgent, serveHttp } from './api/http.ts';
// The stack and its socket APIs.
export { createStack, type NetStack, withSockets } from './api/index.ts';
// node:net-shaped TCP (`stack.net`).
export {
  type AddressInfo,
  type ConnectOptions,
  type ListenOptions,
  NetApi,
  Server,
  type ServerOptions,
  Socket,
  type SocketConstructorOptions,
} from './api/net.ts';
// Options, statistics and rows users read or pass.
export type { IcmpOptions, IcmpStats } from './icmp/icmp.ts';
export type { ReassemblyOptions } from './ip/reassembly.ts';
// Links: what carries the stack's packets, and the contract a link of your own implements.
export {
  type FaultDirectionStats,
  FaultLink,
  type FaultStats,
  type Impairment,
  parseImpair,
} from './link/fault.ts';
export { HoldLink } from './link/hold.ts';
export * as netns from './link/netns.ts';
export { LINKTYPE_RAW, PcapLink, type PcapOptions } from './link/pcap.ts';
export {
  type Direction as RecordedDirection,
  type RecordedPacket,
  RecorderLink,
  type RecorderOptions,
} from './link/recorder.ts';
export { SimLink, type SimLinkOptions, type SimLinkStats } from './link/sim.ts';
export { TunLink, type TunOpenOptions, type TunStats } from './link/tun.ts';

// Time.
export { type Clock, realClock, type TimerHandle, VirtualClock } from './stack/clock.ts';
export { type Link, type LinkOffload, type LinkReceiver, RxFlag } from './stack/link.ts';
export { Stack, type StackOptions } from './stack/stack.ts';
export type { LinkStats, StackStats, TcpStackStats } from './stack/stats.ts';
export type { TcpConnectionRow, TcpLayerOptions, TcpLayerStats } from './stack/tcp.ts';
export type { CongestionName } from './tcp/congestion/index.ts';
export type { TcpErrorCode } from './tcp/events.ts';
export type { TcpConnectionOptions } from './tcp/options.ts';
export type { TcpState } from './tcp/state.ts';
export type { SynCookieMode } from './tcp/syncookie.ts';
export type { UdpOptions, UdpStats } from './udp/udp.ts';
