/**
 * Unary calls answered straight from the HTTP/2 stream, beside grpc-js.
 *
 * grpc-js builds an interceptor chain, a metadata object, a stream decoder and several
 * closures for every call; on Deno's `node:http2` that is about half of the server's CPU per
 * unary call (measured 372 µs per 300-byte echo through grpc-js against 185 µs for the same
 * exchange on the bare stream). The KV API is unary calls, so this path serves them: it reads
 * the one length-prefixed message, runs the handler and answers with a message and trailers,
 * or a trailers-only status, exactly as gRPC's HTTP/2 protocol describes.
 *
 * It takes only what it serves completely: a unary method with a handler (or a bidirectional
 * one with a duplex handler, served by `duplex_stream.ts` through the same hook),
 * `application/grpc` content, no compression. Anything else (other streams, compressed
 * requests, unknown methods) goes to grpc-js as before, on the same connection, so sessions,
 * keepalive and shutdown stay grpc-js's.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type * as http2 from "node:http2";
import { grpc } from "../../deps.ts";
import { Status, toRpcError } from "./rpc_error.ts";
import { frameMessage, MESSAGE_PREFIX_BYTES } from "./message_reader.ts";

/** Answers one decoded request; the server's handler wrapper, already bound to its method. */
export type FastUnaryAnswer = (
  body: Buffer,
  call: FastUnaryCall,
) => Promise<Uint8Array> | Uint8Array;

/** What the path knows about one call; the server builds its handler context from it. */
export interface FastUnaryCall {
  /** The request headers as HTTP/2 gave them. */
  readonly headers: http2.IncomingHttpHeaders;
  /** The client's address, `host:port`, as grpc-js reports a peer. */
  readonly peer: string;
  /** The call's deadline (`Infinity` when the client set none). */
  readonly deadline: number;
  /** True once the client cancelled, the stream closed or the deadline passed. */
  readonly cancelled: boolean;
}

/** Limits of the fast path, in bytes. */
export interface FastUnaryLimits {
  /** Largest request message accepted; larger ones get RESOURCE_EXHAUSTED, as from grpc-js. */
  readonly max_receive_message_bytes: number;
  /** Largest response message sent; larger ones become RESOURCE_EXHAUSTED. */
  readonly max_send_message_bytes: number;
}

/** The longest delay a timer takes (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The headers of every fast-path response that carries messages. */
export const RESPONSE_HEADERS = Object.freeze({
  ":status": 200,
  "content-type": "application/grpc+proto",
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
});
/** The trailers of an OK status. */
export const OK_TRAILERS = Object.freeze({ "grpc-status": "0", "grpc-message": "OK" });
const DEADLINE_PATTERN = /^(\d{1,8})\s*([HMSmun])$/;
const DEADLINE_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** The grpc-js server internals the path hooks into (grpc-js 1.14.x, pinned in deps.ts). */
type StreamHandler = (
  this: GrpcServerInternals,
  extra_interceptors: unknown,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => void;
interface GrpcServerInternals {
  _channelzHandler?: StreamHandler;
  _streamHandler?: StreamHandler;
  onStreamOpened?: (stream: http2.ServerHttp2Stream) => void;
}

/** Serves one HTTP/2 stream the fast path took (never throws into the HTTP/2 layer). */
export type FastPathServe = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => void;

/**
 * Makes `server` serve the methods `lookup` returns a {@link FastPathServe} for on the fast
 * path; calls with compression or another content type, and methods without one, go to
 * grpc-js. Call before the server binds (grpc-js picks its stream handler when it starts
 * listening).
 *
 * @param server the grpc-js server
 * @param lookup how to serve a method path, or undefined to leave the call to grpc-js
 * @throws Error when the grpc-js release lacks the hooks (a changed pin must be checked)
 */
export function installFastPath(
  server: grpc.Server,
  lookup: (path: string) => FastPathServe | undefined,
): void {
  const internals = server as unknown as GrpcServerInternals;
  for (const name of ["_channelzHandler", "_streamHandler"] as const) {
    const original = internals[name];
    if (typeof original !== "function") {
      throw new Error(`grpc-js has no ${name}: the fast path needs grpc-js 1.14.x`);
    }
    internals[name] = function (extra_interceptors, stream, headers) {
      const serve = eligible(headers) ? lookup(headers[":path"] as string) : undefined;
      if (serve === undefined) return original.call(this, extra_interceptors, stream, headers);
      this.onStreamOpened?.(stream); // grpc-js's idle-connection accounting
      serve(stream, headers);
    };
  }
}

/**
 * How the fast path serves a unary method with `answer`.
 *
 * @param answer the server's handler wrapper for the method
 * @param limits message size limits
 */
export function fastUnaryServe(answer: FastUnaryAnswer, limits: FastUnaryLimits): FastPathServe {
  return (stream, headers) => serveUnary(stream, headers, answer, limits);
}

/**
 * The client's address, `host:port`, as grpc-js reports a peer ("unknown" once it is gone).
 *
 * @param stream the call's HTTP/2 stream
 */
export function peerOf(stream: http2.ServerHttp2Stream): string {
  const socket = stream.session?.socket;
  if (!socket?.remoteAddress) return "unknown";
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

/**
 * The deadline a `grpc-timeout` header sets, in ms from now; undefined when it is malformed.
 *
 * @param header the header's value, e.g. `100m`
 */
export function timeoutMsOf(header: string): number | undefined {
  const match = DEADLINE_PATTERN.exec(header.trim());
  if (match === null) return undefined;
  return Math.trunc(Number(match[1]) * DEADLINE_UNIT_MS[match[2]]);
}

/** Plain gRPC over HTTP/2 without compression: what the fast path serves completely. */
function eligible(headers: http2.IncomingHttpHeaders): boolean {
  const content_type = headers["content-type"];
  if (typeof content_type !== "string" || !content_type.startsWith("application/grpc")) {
    return false;
  }
  const encoding = headers["grpc-encoding"];
  return encoding === undefined || encoding === "identity";
}

/** One unary call: read the request, answer once, never throw into the HTTP/2 layer. */
function serveUnary(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  answer: FastUnaryAnswer,
  limits: FastUnaryLimits,
): void {
  const call = new UnaryCall(stream, headers);
  const chunks: Buffer[] = [];
  let received_bytes = 0;
  const max_frame_bytes = limits.max_receive_message_bytes + MESSAGE_PREFIX_BYTES;
  stream.on("error", () => call.cancel()); // a reset stream: nothing left to answer
  stream.on("close", () => call.cancel());
  stream.on("data", (chunk: Buffer) => {
    if (call.answered) return;
    received_bytes += chunk.length;
    if (received_bytes > max_frame_bytes) {
      const declared = declaredLength(chunks, chunk);
      call.fail(
        Status.RESOURCE_EXHAUSTED,
        `Received message larger than max (${declared} vs ${limits.max_receive_message_bytes})`,
      );
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => {
    if (call.answered) return;
    const body = onlyMessage(Buffer.concat(chunks, received_bytes), limits, call);
    if (body === undefined) return;
    let result: Promise<Uint8Array> | Uint8Array;
    try {
      result = answer(body, call);
    } catch (error) {
      return call.failWith(error);
    }
    if (result instanceof Promise) {
      result.then((bytes) => call.reply(bytes, limits), (error) => call.failWith(error));
    } else call.reply(result, limits);
  });
}

/** The declared length of the first message, from its prefix (for the size error). */
function declaredLength(chunks: Buffer[], next: Buffer): number {
  const head = Buffer.concat([...chunks, next]).subarray(0, MESSAGE_PREFIX_BYTES);
  return head.length === MESSAGE_PREFIX_BYTES ? head.readUInt32BE(1) : 0;
}

/**
 * The single message of a unary request, or undefined after answering the error: none, two,
 * a cut-off one, a compressed one without a negotiated encoding, or one over the limit.
 */
function onlyMessage(
  frame: Buffer,
  limits: FastUnaryLimits,
  call: UnaryCall,
): Buffer | undefined {
  if (frame.length === 0) {
    call.fail(Status.UNIMPLEMENTED, "Received no request message for a unary method");
    return undefined;
  }
  if (frame.length < MESSAGE_PREFIX_BYTES) {
    call.fail(Status.INTERNAL, `Received a cut-off message prefix of ${frame.length} bytes`);
    return undefined;
  }
  const length = frame.readUInt32BE(1);
  if (length > limits.max_receive_message_bytes) {
    call.fail(
      Status.RESOURCE_EXHAUSTED,
      `Received message larger than max (${length} vs ${limits.max_receive_message_bytes})`,
    );
    return undefined;
  }
  const end = MESSAGE_PREFIX_BYTES + length;
  if (frame.length < end) {
    call.fail(Status.INTERNAL, `Received a cut-off message: ${frame.length - 5} of ${length}`);
    return undefined;
  }
  if (frame.length > end) {
    call.fail(Status.UNIMPLEMENTED, "Received a second request message for a unary method");
    return undefined;
  }
  if (frame[0] !== 0) {
    call.fail(Status.INTERNAL, "Received a compressed message without a grpc-encoding");
    return undefined;
  }
  return frame.subarray(MESSAGE_PREFIX_BYTES);
}

/** The state of one fast unary call: answered at most once, cancelled when the stream goes. */
class UnaryCall implements FastUnaryCall {
  answered = false;
  #cancelled = false;
  #deadline = Infinity;
  #deadline_timer: ReturnType<typeof setTimeout> | undefined;
  readonly #stream: http2.ServerHttp2Stream;

  constructor(stream: http2.ServerHttp2Stream, readonly headers: http2.IncomingHttpHeaders) {
    this.#stream = stream;
    const timeout = headers["grpc-timeout"];
    if (typeof timeout === "string") this.#startDeadline(timeout);
  }

  get peer(): string {
    return peerOf(this.#stream);
  }

  get deadline(): number {
    return this.#deadline;
  }

  get cancelled(): boolean {
    if (!this.#cancelled && (this.#stream.destroyed || this.#stream.closed)) this.cancel();
    return this.#cancelled;
  }

  /** The client went away: stop the deadline; any later answer is dropped. */
  cancel(): void {
    this.#cancelled = true;
    this.#settle();
  }

  /** Sends `message` and an OK status (or RESOURCE_EXHAUSTED when it is over the limit). */
  reply(message: Uint8Array, limits: FastUnaryLimits): void {
    if (message.length > limits.max_send_message_bytes) {
      this.fail(
        Status.RESOURCE_EXHAUSTED,
        `Sent message larger than max (${message.length} vs. ${limits.max_send_message_bytes})`,
      );
      return;
    }
    if (!this.#settle() || this.cancelled) return;
    const frame = frameMessage(message);
    const stream = this.#stream;
    try {
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
      stream.end(frame);
    } catch {
      // The stream closed between the check and the write: the client has gone.
    }
  }

  /** Answers a handler's failure with its status (every failure becomes one). */
  failWith(error: unknown): void {
    const rpc = toRpcError(error);
    this.#sendStatus(rpc.code, rpc.details, rpc.metadata);
  }

  /** Answers `code` with `message`. */
  fail(code: number, message: string): void {
    this.#sendStatus(code, message, undefined);
  }

  /** A trailers-only response: the status travels in the only headers sent. */
  #sendStatus(code: number, message: string, metadata: grpc.Metadata | undefined): void {
    if (!this.#settle() || this.cancelled) return;
    const headers: http2.OutgoingHttpHeaders = {
      ":status": 200,
      "content-type": "application/grpc+proto",
      "grpc-status": String(code),
      "grpc-message": encodeURI(message),
      ...(metadata?.toHttp2Headers() ?? {}),
    };
    try {
      this.#stream.respond(headers, { endStream: true });
    } catch {
      // The stream closed between the check and the write: the client has gone.
    }
  }

  /** Marks the call answered; false when it already was. */
  #settle(): boolean {
    if (this.#deadline_timer !== undefined) clearTimeout(this.#deadline_timer);
    this.#deadline_timer = undefined;
    if (this.answered) return false;
    this.answered = true;
    return true;
  }

  #startDeadline(header: string): void {
    const timeout_ms = timeoutMsOf(header);
    if (timeout_ms === undefined) {
      this.fail(Status.INTERNAL, `Invalid grpc-timeout value "${header}" (e.g. 5S, 100m)`);
      return;
    }
    this.#deadline = Date.now() + timeout_ms;
    if (timeout_ms > MAX_TIMER_MS) return; // beyond a timer's reach: practically no deadline
    this.#deadline_timer = setTimeout(() => {
      this.#deadline_timer = undefined;
      this.fail(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
      this.#cancelled = true; // a handler that checks stops working for nobody
    }, timeout_ms);
  }
}
