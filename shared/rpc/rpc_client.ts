/**
 * A gRPC client channel for services described by parsed `.proto` files: one HTTP/2
 * connection (reconnected by grpc-js when it drops), a deadline on every call, keepalive
 * pings, and errors as {@link RpcError}s with their `draft-*` details recovered.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { grpc } from "../../deps.ts";
import type { Encodable, MethodSchema, ProtoMessage } from "../proto/mod.ts";
import { DEFAULT_MAX_SEND_MESSAGE_BYTES, validateDurationMs } from "./limits.ts";
import { fromServiceError, RpcError, Status } from "./rpc_error.ts";
import { quietEndOfFinishedStreams } from "./http2_stream_patch.ts";

// Every unary call would otherwise build and drop an error when it ends (see the module).
quietEndOfFinishedStreams();

/** Options of {@link RpcChannel}. Every field has a default. */
export interface RpcChannelOptions {
  /** The deadline of a call that sets none, in ms. 10 s. */
  readonly default_deadline_ms?: number;
  /** Ping the server when the connection is idle this long, in ms. 30 s. */
  readonly keepalive_time_ms?: number;
  /** Drop the connection when a ping is not answered within this, in ms. 10 s. */
  readonly keepalive_timeout_ms?: number;
  /** Largest response accepted, in bytes. 16 MiB. */
  readonly max_receive_message_bytes?: number;
  /** Largest request sent, in bytes. 16 MiB (the server enforces its own, smaller, limit). */
  readonly max_send_message_bytes?: number;
}

/** Per-call options. */
export interface CallOptions {
  /** The call's deadline, in ms from now; defaults to the channel's. */
  readonly deadline_ms?: number;
  /** Request metadata (headers); keys in lower case. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The longest deadline accepted, in ms (one day). */
export const MAX_DEADLINE_MS = 24 * 60 * 60 * 1000;

/** The default deadline of a call, in ms. */
export const DEFAULT_DEADLINE_MS = 10_000;

/**
 * A client connection to one server address.
 *
 * @example
 * ```ts
 * const schema = await loadEtcdSchema();
 * const kv = schema.service("etcdserverpb.KV");
 * const channel = new RpcChannel("127.0.0.1:2379");
 * const put = kv.methods.find((m) => m.name === "Put")!;
 * const response = await channel.unary<PutRequest, PutResponse>(put, { key, value });
 * channel.close();
 * ```
 */
export class RpcChannel {
  /** The server address, `host:port`. */
  readonly address: string;
  readonly #client: grpc.Client;
  readonly #default_deadline_ms: number;

  /**
   * Makes the channel; it connects on the first call (or {@link RpcChannel.waitForReady}).
   *
   * @param address the server's `host:port`
   * @param options deadlines, keepalive and limits; see {@link RpcChannelOptions}
   */
  constructor(address: string, options: RpcChannelOptions = {}) {
    if (!/^.+:\d{1,5}$/.test(address)) {
      throw new RangeError(`server address ${JSON.stringify(address)}: need host:port`);
    }
    this.address = address;
    this.#default_deadline_ms = checkMs(
      "default_deadline_ms",
      options.default_deadline_ms ?? DEFAULT_DEADLINE_MS,
    );
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      // Channelz tracks every call (timestamps per message) for an admin API we do not use.
      "grpc.enable_channelz": 0,
      "grpc.keepalive_time_ms": checkMs("keepalive_time_ms", options.keepalive_time_ms ?? 30_000),
      "grpc.keepalive_timeout_ms": checkMs(
        "keepalive_timeout_ms",
        options.keepalive_timeout_ms ?? 10_000,
      ),
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_receive_message_length": options.max_receive_message_bytes ??
        DEFAULT_MAX_SEND_MESSAGE_BYTES,
      "grpc.max_send_message_length": options.max_send_message_bytes ??
        DEFAULT_MAX_SEND_MESSAGE_BYTES,
    });
  }

  /**
   * Connects (if not yet connected) and resolves when the channel is ready; rejects with
   * UNAVAILABLE naming the address when it is not ready within `timeout_ms`.
   *
   * @param timeout_ms how long to try
   */
  waitForReady(timeout_ms: number): Promise<void> {
    checkMs("timeout_ms", timeout_ms);
    return new Promise((resolve, reject) => {
      this.#client.waitForReady(Date.now() + timeout_ms, (error) => {
        if (!error) return resolve();
        reject(
          new RpcError(
            Status.UNAVAILABLE,
            `${this.address} not ready within ${timeout_ms} ms: ${error.message}`,
          ),
        );
      });
    });
  }

  /**
   * Makes a unary call; rejects with an {@link RpcError} (UNAVAILABLE, DEADLINE_EXCEEDED, or
   * what the server answered), or with a ProtoEncodeError naming the wrong request field
   * before anything is sent.
   *
   * @param method the method, from a {@link ServiceSchema}
   * @param request the request as a plain object
   * @param options deadline and metadata
   */
  unary<Req = ProtoMessage, Res = ProtoMessage>(
    method: MethodSchema,
    request: Encodable<Req>,
    options: CallOptions = {},
  ): Promise<Res> {
    let bytes: Buffer;
    try {
      expectShape(method, false, false);
      bytes = toBuffer(method.request_codec.encode(request as Encodable<ProtoMessage>));
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest<Buffer, Res>(
        method.path,
        identity,
        (response) => method.response_codec.decode(response) as Res,
        bytes,
        toMetadata(options.metadata),
        { deadline: this.#deadline(options) },
        (error, response) => {
          if (error) reject(fromServiceError(error));
          else resolve(response!);
        },
      );
    });
  }

  /**
   * Starts a server-streaming call; read decoded responses from the returned stream (its
   * `error` event carries a grpc-js ServiceError; {@link fromServiceError} converts it).
   *
   * @param method the method, from a {@link ServiceSchema}
   * @param request the request as a plain object
   * @param options deadline and metadata (the deadline bounds the whole stream)
   */
  serverStream<Req = ProtoMessage, Res = ProtoMessage>(
    method: MethodSchema,
    request: Encodable<Req>,
    options: CallOptions = {},
  ): grpc.ClientReadableStream<Res> {
    expectShape(method, false, true);
    return this.#client.makeServerStreamRequest<Encodable<Req>, Res>(
      method.path,
      (value) => toBuffer(method.request_codec.encode(value as Encodable<ProtoMessage>)),
      (bytes) => method.response_codec.decode(bytes) as Res,
      request,
      toMetadata(options.metadata),
      { deadline: this.#deadline(options) },
    );
  }

  /**
   * Starts a bidirectional call: write plain-object requests, read decoded responses. Without
   * `deadline_ms` the stream has no deadline (streams such as Watch live long).
   *
   * @param method the method, from a {@link ServiceSchema}
   * @param options deadline and metadata
   */
  bidiStream<Req = ProtoMessage, Res = ProtoMessage>(
    method: MethodSchema,
    options: CallOptions = {},
  ): grpc.ClientDuplexStream<Encodable<Req>, Res> {
    expectShape(method, true, true);
    return this.#client.makeBidiStreamRequest<Encodable<Req>, Res>(
      method.path,
      (value) => toBuffer(method.request_codec.encode(value as Encodable<ProtoMessage>)),
      (bytes) => method.response_codec.decode(bytes) as Res,
      toMetadata(options.metadata),
      options.deadline_ms === undefined ? {} : { deadline: this.#deadline(options) },
    );
  }

  /** Closes the channel and its connection; calls still running fail with CANCELLED. */
  close(): void {
    this.#client.close();
  }

  /** The underlying grpc-js client, for what this class does not cover. */
  get client(): grpc.Client {
    return this.#client;
  }

  #deadline(options: CallOptions): number {
    return Date.now() + checkMs("deadline_ms", options.deadline_ms ?? this.#default_deadline_ms);
  }
}

function expectShape(method: MethodSchema, request_stream: boolean, response_stream: boolean) {
  if (method.request_stream !== request_stream || method.response_stream !== response_stream) {
    const kind = (method.request_stream ? "stream " : "") + "request, " +
      (method.response_stream ? "stream " : "") + "response";
    throw new TypeError(`${method.path} has ${kind}; use the matching RpcChannel call`);
  }
}

function identity(bytes: Buffer): Buffer {
  return bytes;
}

function toMetadata(entries: Readonly<Record<string, string>> | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries ?? {})) metadata.set(key, value);
  return metadata;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkMs(name: string, value: number): number {
  return validateDurationMs(name, value, MAX_DEADLINE_MS);
}
