/**
 * Bidirectional streams with a small callback interface, served straight from the HTTP/2
 * stream or through grpc-js with the same handler.
 *
 * A long stream whose every message is small (a process's registry Synchronize: one beat and
 * one ack a second, thousands of streams on a member) pays grpc-js's per-message machinery
 * (a readable and a writable Node stream, interceptors, a decoder object) on every message;
 * on Deno that is about a third of the member's CPU per beat. A handler made with
 * {@link duplexHandler} gets a {@link DuplexCall} to write to and returns a
 * {@link DuplexListener} for what the client does; the server runs it on the fast path
 * (`RpcServer`'s `fast_path` option, with `unary_fast_path.ts`'s hook) and through an adapter
 * over grpc-js's call otherwise (the option off, or a compressed call), so both behave alike.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type * as http2 from "node:http2";
import type { grpc } from "../../deps.ts";
import type { Encodable, MethodSchema, ProtoMessage } from "../proto/mod.ts";
import { RpcError, rpcError, Status, toRpcError } from "./rpc_error.ts";
import {
  type FastPathServe,
  type FastUnaryLimits,
  MAX_TIMER_MS,
  OK_TRAILERS,
  peerOf,
  RESPONSE_HEADERS,
  timeoutMsOf,
} from "./unary_fast_path.ts";
import { FrameError, frameMessage, MessageReader } from "./message_reader.ts";

/** The server's side of one bidirectional call. */
export interface DuplexCall<Res = ProtoMessage> {
  /** The method's path, e.g. `/draft.blueprint.v1.Registry/Synchronize`. */
  readonly method_path: string;
  /** The client's address. */
  readonly peer: string;
  /** True once the call ended (by the handler, the client, or the connection). */
  readonly ended: boolean;
  /**
   * Sends a response: a plain object, or bytes already encoded as the response message.
   * Ignored after the call ended. False when the connection's buffer is full.
   */
  write(response: Encodable<Res> | Uint8Array): boolean;
  /** Ends the call with an OK status. */
  end(): void;
  /** Ends the call with `error`'s status (anything not an {@link RpcError} is INTERNAL). */
  fail(error: unknown): void;
}

/** What a duplex handler hears from the client. */
export interface DuplexListener<Req = ProtoMessage> {
  /** A decoded request message. */
  message(request: Req): void;
  /** The client sent its last message (half-close); the handler still ends the call. */
  end(): void;
  /** The call is gone: cancelled by the client, cut by the connection or by shutdown. */
  cancel(): void;
}

/** A bidirectional handler: called once per call, returns who hears the client. */
export type DuplexHandler<Req = ProtoMessage, Res = ProtoMessage> = (
  call: DuplexCall<Res>,
) => DuplexListener<Req>;

const DUPLEX = Symbol("duplex handler");

/** A {@link DuplexHandler} marked so that `RpcServer.addService` knows its convention. */
export type MarkedDuplexHandler<Req = ProtoMessage, Res = ProtoMessage> =
  & DuplexHandler<Req, Res>
  & { readonly [DUPLEX]: true };

/**
 * Marks `handler` as a {@link DuplexHandler} for `RpcServer.addService` (a bidirectional
 * method's handler is otherwise a grpc-js style one).
 *
 * @example
 * ```ts
 * server.addService(schema, "pkg.Chat", {
 *   Talk: duplexHandler((call) => ({
 *     message: (request) => call.write({ text: request.text }),
 *     end: () => call.end(),
 *     cancel: () => {},
 *   })),
 * });
 * ```
 */
export function duplexHandler<Req = ProtoMessage, Res = ProtoMessage>(
  handler: DuplexHandler<Req, Res>,
): MarkedDuplexHandler<Req, Res> {
  return Object.assign(handler, { [DUPLEX]: true as const });
}

/**
 * Whether `handler` was made with {@link duplexHandler}.
 *
 * @param handler a service handler
 */
export function isDuplexHandler(handler: unknown): handler is MarkedDuplexHandler {
  return typeof handler === "function" && (handler as { [DUPLEX]?: boolean })[DUPLEX] === true;
}

/** Decodes a request within the server's limits, throwing the status to answer. */
export type RequestDecoder = (bytes: Uint8Array) => unknown;

/**
 * How the fast path serves a duplex method.
 *
 * @param method the method
 * @param handler its handler
 * @param decode the server's request decoder (size limit, INVALID_ARGUMENT)
 * @param limits gRPC's message size limits
 */
export function fastDuplexServe(
  method: MethodSchema,
  handler: DuplexHandler<unknown, unknown>,
  decode: RequestDecoder,
  limits: FastUnaryLimits,
): FastPathServe {
  return (stream, headers) => {
    const call = new FastDuplexCall(method, stream, limits);
    call.start(headers, handler, decode);
  };
}

/** One call on the fast path. */
class FastDuplexCall implements DuplexCall<unknown> {
  readonly method_path: string;
  readonly #method: MethodSchema;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #limits: FastUnaryLimits;
  #listener: DuplexListener<unknown> | undefined;
  readonly #reader: MessageReader;
  #ended = false;
  #trailers: http2.OutgoingHttpHeaders = OK_TRAILERS;
  #deadline_timer: ReturnType<typeof setTimeout> | undefined;

  constructor(method: MethodSchema, stream: http2.ServerHttp2Stream, limits: FastUnaryLimits) {
    this.method_path = method.path;
    this.#method = method;
    this.#stream = stream;
    this.#limits = limits;
    this.#reader = new MessageReader(limits.max_receive_message_bytes);
  }

  get peer(): string {
    return peerOf(this.#stream);
  }

  get ended(): boolean {
    return this.#ended;
  }

  start(
    headers: http2.IncomingHttpHeaders,
    handler: DuplexHandler<unknown, unknown>,
    decode: RequestDecoder,
  ): void {
    const stream = this.#stream;
    // A reset stream: nothing left to answer. Deno's `node:http2` emits `end` after
    // `aborted` on a reset, so `aborted` must be heard first or a reset looks like a
    // half-close.
    stream.on("aborted", () => this.#cancel());
    stream.on("error", () => this.#cancel());
    stream.on("close", () => this.#cancel());
    try {
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    } catch {
      return this.#cancel(); // the client went away before the headers
    }
    stream.on("wantTrailers", () => {
      try {
        stream.sendTrailers(this.#trailers);
      } catch {
        // The stream closed meanwhile: the client has gone.
      }
    });
    try {
      this.#listener = handler(this);
    } catch (error) {
      return this.fail(error);
    }
    const timeout = headers["grpc-timeout"];
    if (typeof timeout === "string") this.#startDeadline(timeout);
    stream.on("data", (chunk: Buffer) => this.#onData(chunk, decode));
    stream.on("end", () => {
      if (this.#ended) return;
      if (this.#reader.partial) {
        this.fail(rpcError(Status.INTERNAL, "Received a cut-off message before the half-close"));
        this.#listener?.cancel();
      } else this.#listener?.end();
    });
  }

  write(response: unknown): boolean {
    if (this.#ended) return false;
    let bytes: Uint8Array;
    try {
      bytes = response instanceof Uint8Array
        ? response
        : this.#method.response_codec.encode(response as ProtoMessage);
    } catch (error) {
      this.fail(rpcError(
        Status.INTERNAL,
        `the server built an invalid ${this.#method.response_codec.type_name} for ` +
          `${this.method_path}: ${error instanceof Error ? error.message : String(error)}`,
      ));
      return false;
    }
    if (bytes.length > this.#limits.max_send_message_bytes) {
      this.fail(rpcError(
        Status.RESOURCE_EXHAUSTED,
        `Sent message larger than max (${bytes.length} vs. ${this.#limits.max_send_message_bytes})`,
      ));
      return false;
    }
    const frame = frameMessage(bytes);
    try {
      return this.#stream.write(frame);
    } catch {
      return false; // the stream closed between the check and the write
    }
  }

  end(): void {
    this.#finish(OK_TRAILERS);
  }

  fail(error: unknown): void {
    const rpc = toRpcError(error);
    this.#finish({
      "grpc-status": String(rpc.code),
      "grpc-message": encodeURI(rpc.details),
      ...rpc.metadata.toHttp2Headers(),
    });
  }

  #finish(trailers: http2.OutgoingHttpHeaders): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopDeadline();
    this.#trailers = trailers;
    const stream = this.#stream;
    try {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    } catch {
      // The stream closed meanwhile: the client has gone.
    }
  }

  /** The call is gone without a status of ours: tell the handler once. */
  #cancel(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopDeadline();
    this.#listener?.cancel();
  }

  #onData(chunk: Buffer, decode: RequestDecoder): void {
    if (this.#ended) return;
    try {
      this.#reader.push(chunk, (body) => {
        let request: unknown;
        try {
          request = decode(body);
        } catch (error) {
          this.fail(error);
          return false;
        }
        this.#listener!.message(request);
        return !this.#ended;
      });
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.fail(
        error.kind === "compressed"
          ? rpcError(Status.INTERNAL, "Received a compressed message without a grpc-encoding")
          : rpcError(
            Status.RESOURCE_EXHAUSTED,
            `Received message larger than max (${error.length} vs ${this.#limits.max_receive_message_bytes})`,
          ),
      );
    }
  }

  #startDeadline(header: string): void {
    const timeout_ms = timeoutMsOf(header);
    if (timeout_ms === undefined) {
      this.fail(rpcError(Status.INTERNAL, `Invalid grpc-timeout value "${header}" (e.g. 5S)`));
      this.#listener?.cancel();
      return;
    }
    if (timeout_ms > MAX_TIMER_MS) return; // beyond a timer's reach: practically no deadline
    this.#deadline_timer = setTimeout(() => {
      this.#deadline_timer = undefined;
      if (this.#ended) return;
      this.fail(rpcError(Status.DEADLINE_EXCEEDED, "Deadline exceeded"));
      this.#listener?.cancel(); // the handler stops working for nobody
    }, timeout_ms);
  }

  #stopDeadline(): void {
    if (this.#deadline_timer !== undefined) clearTimeout(this.#deadline_timer);
    this.#deadline_timer = undefined;
  }
}

/**
 * Runs a duplex handler on a grpc-js call (the fast path off, or a call it does not take).
 * grpc-js decodes with the server's deserializer; a request it rejected arrives as a value
 * that `rejected` recognizes and ends the call with its status.
 *
 * @param call grpc-js's call
 * @param handler the duplex handler
 * @param rejected the status of a request that failed to decode, else undefined
 */
export function runOnGrpcCall(
  call: grpc.ServerDuplexStream<unknown, unknown>,
  handler: DuplexHandler<unknown, unknown>,
  rejected: (request: unknown) => RpcError | undefined,
): void {
  let ended = false;
  let listener: DuplexListener<unknown> | undefined;
  const duplex: DuplexCall<unknown> = {
    method_path: call.getPath(),
    get peer() {
      return call.getPeer();
    },
    get ended() {
      return ended;
    },
    write(response) {
      if (ended) return false;
      return call.write(response);
    },
    end() {
      if (ended) return;
      ended = true;
      call.end();
    },
    fail(error) {
      if (ended) return;
      ended = true;
      call.emit("error", toRpcError(error));
    },
  };
  const cancel = () => {
    if (ended) return;
    ended = true;
    listener?.cancel();
  };
  call.on("cancelled", cancel);
  call.on("error", cancel);
  call.on("close", cancel);
  try {
    listener = handler(duplex);
  } catch (error) {
    return duplex.fail(error);
  }
  call.on("data", (request: unknown) => {
    if (ended) return;
    const error = rejected(request);
    if (error) duplex.fail(error);
    else listener!.message(request);
  });
  call.on("end", () => {
    // grpc-js reports a reset as a half-close first and as cancelled on the next tick (Deno's
    // `node:http2` ends the readable side on a reset): wait a turn to tell them apart.
    setImmediate(() => {
      if (!ended && !call.cancelled) listener!.end();
    });
  });
}
