/**
 * Bidirectional gRPC streams straight on `node:http2`, without grpc-js's client call stack.
 *
 * grpc-js passes every message of a client stream through a resolving, a retrying, a
 * load-balancing and a subchannel call, each with its own listeners and buffers; on Deno that
 * is about 80 µs of CPU per message and ack, against about 40 µs for the same exchange
 * written on the HTTP/2 stream (measured with 1,250 streams on one connection). A Draft process
 * keeps one Synchronize stream open for its whole life, and a host running many of them pays
 * that per beat, so the registry's process client uses this channel for its stream.
 *
 * What it does is gRPC's HTTP/2 protocol for one long stream: a POST with `te: trailers`,
 * length-prefixed messages both ways, the status from the trailers (or from the headers of a
 * trailers-only answer), `draft-*` details from either. It adds a connection per address
 * (made on first use, made again after it drops), keepalive pings that drop a connection
 * whose ping goes unanswered, and limits on message sizes. It does not compress, retry, or
 * set deadlines: a stream lives until either side ends it.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import type { Encodable, MethodSchema, ProtoMessage } from "../proto/mod.ts";
import { DEFAULT_MAX_SEND_MESSAGE_BYTES, validateByteLimit, validateDurationMs } from "./limits.ts";
import { DETAILS_METADATA_PREFIX, MAX_DETAILS, RpcError, Status } from "./rpc_error.ts";
import { FrameError, frameMessage, MessageReader } from "./message_reader.ts";

/** Options of {@link DirectStreamChannel}. Every field has a default. */
export interface DirectStreamOptions {
  /** Ping the server this often while connected, in ms. 30 s. */
  readonly keepalive_time_ms?: number;
  /** Drop the connection when a ping is not answered within this, in ms. 10 s. */
  readonly keepalive_timeout_ms?: number;
  /** Largest message accepted from the server, in bytes. 16 MiB. */
  readonly max_receive_message_bytes?: number;
  /** Largest message sent, in bytes. 16 MiB (the server enforces its own, smaller, limit). */
  readonly max_send_message_bytes?: number;
  /** Give up a connection attempt that has not connected within this, in ms. 20 s. */
  readonly connect_timeout_ms?: number;
}

/** Where a {@link DirectStream}'s messages and its end go. */
export interface DirectStreamHandlers<Res> {
  /**
   * Decodes a message from the server (a decoder that caches what repeats, say); the method's
   * response codec when absent. What it throws ends the stream with INTERNAL.
   */
  decode?(bytes: Uint8Array): Res;
  /** A decoded message from the server. */
  on_message(message: Res): void;
  /**
   * The stream ended: `undefined` for an OK status, else the status as an {@link RpcError}
   * (UNAVAILABLE when the connection failed or dropped). Called once, never after
   * {@link DirectStream.cancel}.
   */
  on_end(error: RpcError | undefined): void;
}

/** The client's side of one stream. */
export interface DirectStream<Req> {
  /**
   * Sends a message; false when the connection's buffer is full (the message is still sent).
   *
   * @throws ProtoEncodeError naming the field when `message` does not encode, RpcError
   *   RESOURCE_EXHAUSTED when it is over the send limit; nothing is sent then
   */
  write(message: Encodable<Req>): boolean;
  /** Half-closes: no more messages from the client; the server's status still comes. */
  end(): void;
  /** Resets the stream (the server sees CANCELLED); no handler is called after this. */
  cancel(): void;
}

/** The longest keepalive or connect setting accepted, in ms (one day). */
const MAX_SETTING_MS = 24 * 60 * 60 * 1000;
/** The largest message limit accepted, in bytes (gRPC's length prefix is 32 bits). */
const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/**
 * Bidirectional streams to one server address over one HTTP/2 connection.
 *
 * @example
 * ```ts
 * const channel = new DirectStreamChannel("127.0.0.1:2221");
 * const stream = channel.bidiStream<SyncMessage, SyncAck>(synchronize, {
 *   on_message: (ack) => console.log(ack.cluster),
 *   on_end: (error) => console.log("ended", error?.message),
 * });
 * stream.write({ token, running_state: 2 });
 * // ... later
 * channel.close();
 * ```
 */
export class DirectStreamChannel {
  /** The server address, `host:port`. */
  readonly address: string;
  readonly #keepalive_time_ms: number;
  readonly #keepalive_timeout_ms: number;
  readonly #max_receive_bytes: number;
  readonly #max_send_bytes: number;
  readonly #connect_timeout_ms: number;
  /** The connection new streams go on. */
  #session: http2.ClientHttp2Session | undefined;
  /** Every connection not yet closed, with its timers: one told to go away still has streams. */
  readonly #live = new Map<http2.ClientHttp2Session, SessionTimers>();
  #closed = false;
  #connections = 0;

  /**
   * Makes the channel; it connects on the first stream.
   *
   * @param address the server's `host:port`
   * @param options keepalive and limits; see {@link DirectStreamOptions}
   */
  constructor(address: string, options: DirectStreamOptions = {}) {
    if (!/^.+:\d{1,5}$/.test(address)) {
      throw new RangeError(`server address ${JSON.stringify(address)}: need host:port`);
    }
    this.address = address;
    const { keepalive_time_ms = 30_000, keepalive_timeout_ms = 10_000 } = options;
    this.#keepalive_time_ms = validateDurationMs(
      "keepalive_time_ms",
      keepalive_time_ms,
      MAX_SETTING_MS,
    );
    this.#keepalive_timeout_ms = validateDurationMs(
      "keepalive_timeout_ms",
      keepalive_timeout_ms,
      MAX_SETTING_MS,
    );
    this.#connect_timeout_ms = validateDurationMs(
      "connect_timeout_ms",
      options.connect_timeout_ms ?? 20_000,
      MAX_SETTING_MS,
    );
    this.#max_receive_bytes = validateByteLimit(
      "max_receive_message_bytes",
      options.max_receive_message_bytes ?? DEFAULT_MAX_SEND_MESSAGE_BYTES,
      MAX_MESSAGE_BYTES,
    );
    this.#max_send_bytes = validateByteLimit(
      "max_send_message_bytes",
      options.max_send_message_bytes ?? DEFAULT_MAX_SEND_MESSAGE_BYTES,
      MAX_MESSAGE_BYTES,
    );
  }

  /** Connections made so far (a dropped connection is made again on the next stream). */
  get connections(): number {
    return this.#connections;
  }

  /**
   * Starts a bidirectional call of `method`.
   *
   * @param method the method, from a {@link ServiceSchema}; both sides must stream
   * @param handlers where decoded messages and the end go
   * @param metadata request headers; keys in lower case
   * @throws TypeError when `method` is not bidirectional or `metadata` holds a header HTTP/2
   *   does not allow (the connection and its other streams are unaffected), Error after
   *   {@link close}
   */
  bidiStream<Req = ProtoMessage, Res = ProtoMessage>(
    method: MethodSchema,
    handlers: DirectStreamHandlers<Res>,
    metadata: Readonly<Record<string, string>> = {},
  ): DirectStream<Req> {
    if (!method.request_stream || !method.response_stream) {
      throw new TypeError(`${method.path} is not a bidirectional stream`);
    }
    if (this.#closed) throw new Error(`the channel to ${this.address} is closed`);
    const headers: http2.OutgoingHttpHeaders = {
      ...metadata,
      ":method": "POST",
      ":path": method.path,
      "content-type": "application/grpc",
      "te": "trailers",
      "grpc-accept-encoding": "identity",
    };
    const call = new DirectCall<Req, Res>(method, handlers, this.address, {
      max_receive_bytes: this.#max_receive_bytes,
      max_send_bytes: this.#max_send_bytes,
    });
    call.attach(this.#request(headers));
    return call;
  }

  /** Closes every connection; open streams end with UNAVAILABLE, new ones are refused. */
  close(): void {
    this.#closed = true;
    for (const session of [...this.#live.keys()]) this.#drop(session, "the channel was closed");
  }

  /**
   * A stream on the current connection, on a new one when there is none or the current one
   * no longer takes streams. Other failures (a header HTTP/2 refuses) are the caller's.
   */
  #request(headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    const session = this.#session;
    if (session !== undefined && !session.closed && !session.destroyed) {
      try {
        return session.request(headers);
      } catch (error) {
        if (!SESSION_GONE_CODES.has((error as { code?: string }).code ?? "")) throw error;
        this.#forget(session); // told to go away: its streams finish, new ones go elsewhere
      }
    }
    return this.#connect().request(headers);
  }

  #connect(): http2.ClientHttp2Session {
    const session = http2.connect(`http://${this.address}`, { settings: { enablePush: false } });
    this.#session = session;
    this.#connections++;
    // A connection attempt that hangs (a dropped SYN) would hold every new stream until the
    // system gives up, minutes later.
    const timers: SessionTimers = {
      connect: setTimeout(
        () => this.#drop(session, `not connected within ${this.#connect_timeout_ms} ms`),
        this.#connect_timeout_ms,
      ),
      keepalive: undefined,
    };
    this.#live.set(session, timers);
    // The streams report the failure; the session's own error event needs a listener.
    session.on("error", () => {});
    session.on("close", () => this.#closed_session(session));
    session.on("goaway", () => this.#forget(session));
    session.once("connect", () => {
      clearTimeout(timers.connect);
      timers.keepalive = this.#startKeepalive(session);
    });
    return session;
  }

  /** Pings `session` every keepalive interval; drops it when a ping goes unanswered. */
  #startKeepalive(session: http2.ClientHttp2Session): ReturnType<typeof setInterval> {
    return setInterval(() => {
      let answered = false;
      const timeout = setTimeout(() => {
        if (!answered) {
          this.#drop(
            session,
            `a keepalive ping went unanswered for ${this.#keepalive_timeout_ms} ms`,
          );
        }
      }, this.#keepalive_timeout_ms);
      try {
        session.ping((error) => {
          answered = true;
          clearTimeout(timeout);
          if (error) this.#drop(session, `a keepalive ping failed: ${error.message}`);
        });
      } catch (error) {
        clearTimeout(timeout);
        this.#drop(session, `a keepalive ping failed: ${(error as Error).message}`);
      }
    }, this.#keepalive_time_ms);
  }

  /** New streams go on another connection; the streams on this one end by themselves. */
  #forget(session: http2.ClientHttp2Session): void {
    if (this.#session === session) this.#session = undefined;
  }

  /** The connection is gone: forget it and stop its timers. */
  #closed_session(session: http2.ClientHttp2Session): void {
    this.#forget(session);
    const timers = this.#live.get(session);
    if (timers === undefined) return;
    clearTimeout(timers.connect);
    clearInterval(timers.keepalive);
    this.#live.delete(session);
  }

  /** Destroys the connection: its streams close and end with UNAVAILABLE, saying `why`. */
  #drop(session: http2.ClientHttp2Session, why: string): void {
    this.#closed_session(session);
    // The error reaches each stream's error event: without it Deno ends them as if the server
    // had finished.
    if (!session.destroyed) session.destroy(new Error(why));
  }
}

/** The timers of one connection. */
interface SessionTimers {
  readonly connect: ReturnType<typeof setTimeout>;
  keepalive: ReturnType<typeof setInterval> | undefined;
}

/** Errors of `request()` that mean the connection takes no new streams. */
const SESSION_GONE_CODES = new Set([
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_OUT_OF_STREAMS",
]);

/** Limits one call enforces. */
interface CallLimits {
  readonly max_receive_bytes: number;
  readonly max_send_bytes: number;
}

/** One stream: frames out, frames in, one end. */
class DirectCall<Req, Res> implements DirectStream<Req> {
  readonly #method: MethodSchema;
  readonly #handlers: DirectStreamHandlers<Res>;
  readonly #address: string;
  readonly #limits: CallLimits;
  #stream: http2.ClientHttp2Stream | undefined;
  readonly #reader: MessageReader;
  #status: RpcError | null | undefined; // null: OK; undefined: not yet known
  #transport_error: string | undefined;
  /** The server ended its side (END_STREAM), with or without a status. */
  #server_ended = false;
  /** The client failed the call (a bad message): nothing more is read. */
  #failed = false;
  #ended = false;

  constructor(
    method: MethodSchema,
    handlers: DirectStreamHandlers<Res>,
    address: string,
    limits: CallLimits,
  ) {
    this.#method = method;
    this.#handlers = handlers;
    this.#address = address;
    this.#limits = limits;
    this.#reader = new MessageReader(limits.max_receive_bytes);
  }

  attach(stream: http2.ClientHttp2Stream): void {
    this.#stream = stream;
    // Deno may deliver data before the response headers: each event stands on its own.
    stream.on("response", (headers) => this.#onHeaders(headers));
    stream.on("trailers", (trailers) => this.#onTrailers(trailers));
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("end", () => {
      this.#server_ended = true;
      // The server is done; close our side too or the stream never closes.
      if (!stream.writableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    stream.on("error", (error: Error) => {
      this.#transport_error ??= error.message;
    });
    stream.on("close", () => this.#finish(stream.rstCode));
  }

  write(message: Encodable<Req>): boolean {
    const bytes = this.#method.request_codec.encode(message as Encodable<ProtoMessage>);
    if (bytes.length > this.#limits.max_send_bytes) {
      throw new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `${this.#method.path} message of ${bytes.length} bytes is over the send limit of ` +
          `${this.#limits.max_send_bytes}`,
      );
    }
    const stream = this.#stream!;
    if (this.#ended || stream.writableEnded || stream.destroyed) return false;
    const frame = frameMessage(bytes);
    return stream.write(frame);
  }

  end(): void {
    const stream = this.#stream!;
    if (!stream.writableEnded && !stream.destroyed) stream.end();
  }

  cancel(): void {
    this.#ended = true;
    const stream = this.#stream!;
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  #onHeaders(headers: http2.IncomingHttpHeaders): void {
    const http_status = Number(headers[":status"]);
    if (headers["grpc-status"] !== undefined) return this.#onTrailers(headers); // trailers-only
    if (http_status !== 200) {
      this.#fail(
        httpStatusToGrpc(http_status),
        `${this.#address} answered HTTP ${http_status} to ${this.#method.path}`,
      );
      return;
    }
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") {
      this.#fail(Status.INTERNAL, `${this.#address} chose the encoding "${encoding}"`);
    }
  }

  #onTrailers(trailers: http2.IncomingHttpHeaders): void {
    if (this.#status !== undefined) return;
    const code = Number(trailers["grpc-status"]);
    if (!Number.isInteger(code) || code < 0 || code > 16) {
      this.#status = new RpcError(
        Status.UNKNOWN,
        `${this.#address} ended ${this.#method.path} with no valid grpc-status`,
      );
      return;
    }
    if (code === Status.OK) {
      this.#status = null;
      return;
    }
    this.#status = new RpcError(code, statusMessage(trailers), detailsOf(trailers));
  }

  #onData(chunk: Buffer): void {
    if (this.#ended || this.#failed) return;
    try {
      this.#reader.push(chunk, (body) => this.#onMessage(body));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      if (error.kind === "compressed") {
        this.#fail(Status.INTERNAL, `${this.#address} sent a compressed message`);
      } else {
        this.#fail(
          Status.RESOURCE_EXHAUSTED,
          `${this.#address} sent a message of ${error.length} bytes on ${this.#method.path}; ` +
            `the limit is ${this.#limits.max_receive_bytes}`,
        );
      }
    }
  }

  /** Decodes and hands on one message; false when the call ended meanwhile. */
  #onMessage(body: Buffer): boolean {
    let message: Res;
    try {
      message = this.#handlers.decode
        ? this.#handlers.decode(body)
        : this.#method.response_codec.decode(body) as Res;
    } catch (error) {
      this.#fail(
        Status.INTERNAL,
        `${this.#address} sent a ${this.#method.path} response that does not decode: ` +
          (error instanceof Error ? error.message : String(error)),
      );
      return false;
    }
    this.#handlers.on_message(message);
    return !this.#ended && !this.#failed;
  }

  /** Ends the call with a client-side status and resets the stream. */
  #fail(code: number, message: string): void {
    this.#failed = true;
    if (this.#status === undefined) this.#status = new RpcError(code, message);
    const stream = this.#stream!;
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  #finish(rst_code: number | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#handlers.on_end(this.#endStatus(rst_code) ?? undefined);
  }

  /** The call's status: the server's, or what the way the stream closed says. */
  #endStatus(rst_code: number | undefined): RpcError | null {
    const where = `${this.#method.path} to ${this.#address}`;
    if (this.#status === null && this.#reader.partial) {
      return new RpcError(Status.INTERNAL, `${where} ended inside a message`);
    }
    if (this.#status !== undefined) return this.#status;
    // The server ended its side cleanly (no reset, no failed connection; Deno also ends the
    // readable side of a stream whose connection is dropped) without saying how it went.
    if (this.#server_ended && !rst_code && this.#transport_error === undefined) {
      return new RpcError(Status.INTERNAL, `${where} ended without a grpc-status`);
    }
    const why = this.#transport_error ??
      (rst_code ? `the stream was reset (HTTP/2 code ${rst_code})` : "the connection closed");
    // A reset or a lost connection: the server may be back later. (Deno closes the streams of
    // a dropped connection with INTERNAL_ERROR too, so that code cannot tell the server's own.)
    const code = rst_code === http2.constants.NGHTTP2_CANCEL
      ? Status.CANCELLED
      : Status.UNAVAILABLE;
    return new RpcError(code, `${where} ended: ${why}`);
  }
}

/** The gRPC status of an HTTP status that is not 200, as gRPC's HTTP mapping says. */
function httpStatusToGrpc(http_status: number): number {
  switch (http_status) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

function statusMessage(trailers: http2.IncomingHttpHeaders): string {
  const raw = trailers["grpc-message"];
  if (typeof raw !== "string") return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The `draft-*` details of a status, as {@link RpcError} carries them. */
function detailsOf(trailers: http2.IncomingHttpHeaders): Record<string, string> {
  const details: Record<string, string> = {};
  let count = 0;
  for (const [key, value] of Object.entries(trailers)) {
    if (!key.startsWith(DETAILS_METADATA_PREFIX) || typeof value !== "string") continue;
    if (++count > MAX_DETAILS) break;
    details[key.slice(DETAILS_METADATA_PREFIX.length)] = value;
  }
  return details;
}
