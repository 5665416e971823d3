/**
 * Raft peer transport: length-prefixed binary frames over TCP with a hello per connection,
 * bounded per-peer queues, batched writes and reconnects with capped, jittered back-off.
 *
 * @module
 */
export {
  type PeerAddress,
  type PeerStats,
  TcpTransport,
  type TcpTransportOptions,
} from "./tcp_transport.ts";
export { backoffDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
export {
  decodeHello,
  encodeHelloFrame,
  encodeMessageFrames,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameKind,
  type Hello,
} from "./frame_codec.ts";
export { OutboundQueue, type OutboundQueueLimits } from "./outbound_queue.ts";
