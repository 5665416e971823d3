/**
 * Raft peer transport: length-prefixed binary frames over TCP with a hello per connection,
 * bounded per-peer queues, batched writes and reconnects with capped, jittered back-off.
 *
 * @module
 */
export {
  MAX_REQUESTS_IN_FLIGHT,
  type PeerAddress,
  type PeerStats,
  RequestChannel,
  TcpTransport,
  type TcpTransportOptions,
} from "./tcp_transport.ts";
export { backoffDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
export {
  decodeHello,
  encodeFrame,
  encodeHelloFrame,
  encodeMessageFrames,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameKind,
  type Hello,
} from "./frame_codec.ts";
export { OutboundQueue, type OutboundQueueLimits } from "./outbound_queue.ts";
