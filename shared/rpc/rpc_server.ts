/**
 * A gRPC server on `@grpc/grpc-js` whose services come from parsed `.proto` files, with the
 * standard health service and server reflection built in, request size limits, gRPC statuses
 * for every failure, and a shutdown that waits for calls to finish, up to a bound.
 *
 * Permissions: `--allow-net`, `--allow-env` (grpc-js reads its settings from the
 * environment), `--allow-read` for the `.proto` files and `--allow-sys=uid,gid` (see DESIGN.md).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { grpc, ReflectionService } from "../../deps.ts";
import {
  type Encodable,
  HEALTH_SERVICE,
  loadHealthSchema,
  type MethodSchema,
  type ProtoMessage,
  type ProtoSchema,
} from "../proto/mod.ts";
import { HealthStatusTable } from "./health_status.ts";
import { createHealthHandlers, type OpenHealthWatches } from "./health_service.ts";
import {
  checkSize,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_SEND_MESSAGE_BYTES,
  MAX_CONFIGURABLE_REQUEST_BYTES,
  RECEIVE_HEADROOM_BYTES,
  validateByteLimit,
} from "./limits.ts";
import { invalidArgument, RpcError, rpcError, Status, toRpcError } from "./rpc_error.ts";
import {
  type FastPathServe,
  type FastUnaryAnswer,
  type FastUnaryCall,
  type FastUnaryLimits,
  fastUnaryServe,
  installFastPath,
} from "./unary_fast_path.ts";
import { fastDuplexServe, isDuplexHandler, runOnGrpcCall } from "./duplex_stream.ts";

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** The method's path, e.g. `/etcdserverpb.KV/Put`. */
  readonly method_path: string;
  /** The request metadata (headers). */
  readonly metadata: grpc.Metadata;
  /** The peer's address, e.g. `ipv4:127.0.0.1:51234`. */
  readonly peer: string;
  /** The call's deadline (`Infinity` when the client set none). */
  readonly deadline: grpc.Deadline;
  /** True once the client cancelled or the deadline passed. */
  readonly cancelled: boolean;
}

/** Answers one request with one response (return it, or throw an {@link RpcError}). */
export type UnaryHandler<Req = ProtoMessage, Res = ProtoMessage> = (
  request: Req,
  context: CallContext,
) => Promise<Encodable<Res>> | Encodable<Res>;

/**
 * Answers one request with a stream: write responses (plain objects) to `call`; the stream
 * ends when the returned promise settles (a rejection becomes the call's status).
 */
export type ServerStreamHandler<Req = ProtoMessage, Res = ProtoMessage> = (
  request: Req,
  call: grpc.ServerWritableStream<Req, Encodable<Res>>,
) => Promise<void> | void;

/**
 * Reads a stream of (decoded) requests from `call` and answers once; a rejection becomes the
 * call's status.
 */
export type ClientStreamHandler<Req = ProtoMessage, Res = ProtoMessage> = (
  call: grpc.ServerReadableStream<Req, Encodable<Res>>,
) => Promise<Encodable<Res>>;

/**
 * Reads decoded requests from and writes plain-object responses to `call`; the handler ends
 * the call itself (`call.end()`, or `call.emit("error", rpcError(...))`). A rejection of the
 * returned promise becomes the call's status.
 */
export type BidiStreamHandler<Req = ProtoMessage, Res = ProtoMessage> = (
  call: grpc.ServerDuplexStream<Req, Encodable<Res>>,
) => Promise<void> | void;

/** The handlers of one service, by method name as in the `.proto` file. */
// deno-lint-ignore no-explicit-any
export type ServiceHandlers = Record<string, (...args: any[]) => unknown>;

/** Options of {@link RpcServer}. Every field has a default. */
export interface RpcServerOptions {
  /** Largest request a handler sees, in bytes; larger ones get INVALID_ARGUMENT. 1.5 MiB. */
  readonly max_request_bytes?: number;
  /** gRPC's receive limit, in bytes; larger messages get RESOURCE_EXHAUSTED. Request + 512 KiB. */
  readonly max_receive_message_bytes?: number;
  /** gRPC's send limit, in bytes. 16 MiB. */
  readonly max_send_message_bytes?: number;
  /** Ping an idle client connection this often, in ms. 2 hours, as gRPC's default. */
  readonly keepalive_time_ms?: number;
  /** Close a connection whose ping is not answered within this, in ms. 20 s. */
  readonly keepalive_timeout_ms?: number;
  /** Concurrent streams allowed on one connection. 1024. */
  readonly max_concurrent_streams?: number;
  /** How long {@link RpcServer.shutdown} waits for calls before cutting them, in ms. 5 s. */
  readonly shutdown_timeout_ms?: number;
  /**
   * Serve plain unary calls, and bidirectional methods whose handler was made with
   * `duplexHandler`, on the lean path beside grpc-js (see `unary_fast_path.ts` and
   * `duplex_stream.ts`); false sends every call through grpc-js. True.
   */
  readonly fast_path?: boolean;
}

/** Where a server listens. */
export interface ListenAddress {
  /** The host as given to {@link RpcServer.listen}. */
  readonly host: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** `host:port`, ready for a client. */
  readonly address: string;
}

/** The longest {@link RpcServerOptions.shutdown_timeout_ms} accepted. */
export const MAX_SHUTDOWN_TIMEOUT_MS = 10 * 60 * 1000;

/** The default shutdown bound, in ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

/** A request that was refused while being decoded; its handler answers the error instead. */
class RejectedRequest {
  constructor(readonly error: RpcError) {}
}

/**
 * A gRPC server. Add services, then `listen`; `shutdown` when done.
 *
 * @example
 * ```ts
 * const schema = await loadEtcdSchema();
 * const server = new RpcServer();
 * server.addService(schema, "etcdserverpb.KV", {
 *   Put: async (request: PutRequest) => ({ header: { revision: 1n } }),
 * });
 * const { address } = await server.listen("127.0.0.1:0");
 * // ... later
 * await server.shutdown();
 * ```
 */
export class RpcServer {
  /** The health table: set a service's state to change what the health service answers. */
  readonly health = new HealthStatusTable();
  readonly #server: grpc.Server;
  readonly #schemas = new Set<ProtoSchema>();
  readonly #services = new Set<string>();
  readonly #max_request_bytes: number;
  readonly #shutdown_timeout_ms: number;
  /** Open health Watch streams: shutdown ends them so they do not hold it to its bound. */
  readonly #health_watches: OpenHealthWatches = new Set();
  /** Methods served on the fast path, by method path. */
  readonly #fast_serves = new Map<string, { serve: FastPathServe; streaming: boolean }>();
  readonly #limits: FastUnaryLimits;
  #fast_unary_calls = 0;
  #fast_duplex_calls = 0;
  #state: "new" | "listening" | "closed" = "new";

  /**
   * Makes the server; nothing listens until {@link RpcServer.listen}.
   *
   * @param options limits and timings; see {@link RpcServerOptions}
   */
  constructor(options: RpcServerOptions = {}) {
    this.#max_request_bytes = validateByteLimit(
      "max_request_bytes",
      options.max_request_bytes ?? DEFAULT_MAX_REQUEST_BYTES,
      MAX_CONFIGURABLE_REQUEST_BYTES,
    );
    const max_receive = validateByteLimit(
      "max_receive_message_bytes",
      options.max_receive_message_bytes ?? this.#max_request_bytes + RECEIVE_HEADROOM_BYTES,
      MAX_CONFIGURABLE_REQUEST_BYTES + RECEIVE_HEADROOM_BYTES,
    );
    const max_send = validateByteLimit(
      "max_send_message_bytes",
      options.max_send_message_bytes ?? DEFAULT_MAX_SEND_MESSAGE_BYTES,
      MAX_CONFIGURABLE_REQUEST_BYTES * 4,
    );
    this.#shutdown_timeout_ms = validateMs(
      "shutdown_timeout_ms",
      options.shutdown_timeout_ms ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
      MAX_SHUTDOWN_TIMEOUT_MS,
    );
    this.#server = new grpc.Server({
      // Channelz stays on here although no admin API reads it: grpc-js 1.14 force-closes on
      // shutdown only the HTTP/2 sessions it tracks for channelz, so without it a forced shutdown
      // leaves open streams (a process's Synchronize) running against a stopped server.
      "grpc.max_receive_message_length": max_receive,
      "grpc.max_send_message_length": max_send,
      "grpc.keepalive_time_ms": validateMs(
        "keepalive_time_ms",
        options.keepalive_time_ms ?? 2 * 60 * 60 * 1000,
        24 * 60 * 60 * 1000,
      ),
      "grpc.keepalive_timeout_ms": validateMs(
        "keepalive_timeout_ms",
        options.keepalive_timeout_ms ?? 20_000,
        10 * 60 * 1000,
      ),
      "grpc.max_concurrent_streams": validateCount(
        "max_concurrent_streams",
        options.max_concurrent_streams ?? 1024,
        65_536,
      ),
    });
    this.#limits = { max_receive_message_bytes: max_receive, max_send_message_bytes: max_send };
    if (options.fast_path ?? true) {
      installFastPath(this.#server, (path) => {
        const fast = this.#fast_serves.get(path);
        if (fast === undefined) return undefined;
        if (fast.streaming) this.#fast_duplex_calls++;
        else this.#fast_unary_calls++;
        return fast.serve;
      });
    }
  }

  /** Unary calls answered on the fast path so far (the rest went through grpc-js). */
  get fast_unary_calls(): number {
    return this.#fast_unary_calls;
  }

  /** Duplex-handler calls served on the fast path so far (the rest went through grpc-js). */
  get fast_duplex_calls(): number {
    return this.#fast_duplex_calls;
  }

  /** The largest request handlers accept, in bytes. */
  get maxRequestBytes(): number {
    return this.#max_request_bytes;
  }

  /**
   * Serves `service_name` of `schema` with `handlers` (by method name). Methods without a
   * handler answer UNIMPLEMENTED. The service is marked SERVING in {@link RpcServer.health}
   * and listed by reflection. Must be called before {@link RpcServer.listen}.
   *
   * @param schema the loaded `.proto` files that declare the service
   * @param service_name its fully qualified name, e.g. `etcdserverpb.KV`
   * @param handlers the implementation, by method name
   */
  addService(schema: ProtoSchema, service_name: string, handlers: ServiceHandlers): void {
    if (this.#state !== "new") {
      throw new Error(`cannot add ${service_name}: services are added before listen()`);
    }
    this.#register(schema, service_name, handlers);
    this.health.set(service_name, "SERVING");
  }

  #register(schema: ProtoSchema, service_name: string, handlers: ServiceHandlers): void {
    if (this.#services.has(service_name)) throw new Error(`${service_name} is already added`);
    const service = schema.service(service_name);
    const known = new Set(service.methods.map((method) => method.name));
    for (const name of Object.keys(handlers)) {
      if (!known.has(name)) {
        throw new Error(
          `${service_name} has no method ${name} (its methods: ${[...known].join(", ")})`,
        );
      }
    }
    const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of service.methods) {
      definition[method.name] = this.#methodDefinition(method);
      const handler = handlers[method.name];
      if (isDuplexHandler(handler) && !(method.request_stream && method.response_stream)) {
        throw new Error(
          `${method.path} is not bidirectional; a duplexHandler serves only methods that stream both ways`,
        );
      }
      implementation[method.name] = wrapHandler(method, handler);
      if (handler && !method.request_stream && !method.response_stream) {
        const answer = fastAnswer(method, handler, this.#max_request_bytes);
        this.#fast_serves.set(method.path, {
          serve: fastUnaryServe(answer, this.#limits),
          streaming: false,
        });
      } else if (isDuplexHandler(handler) && method.request_stream && method.response_stream) {
        const decode = (bytes: Uint8Array) => decodeRequest(method, bytes, this.#max_request_bytes);
        this.#fast_serves.set(method.path, {
          serve: fastDuplexServe(method, handler, decode, this.#limits),
          streaming: true,
        });
      }
    }
    this.#server.addService(definition, implementation);
    this.#schemas.add(schema);
    this.#services.add(service_name);
  }

  /**
   * Adds the health and reflection services and starts listening.
   *
   * @param address `host:port`; port 0 picks a free port
   * @returns where the server listens
   */
  async listen(address: string): Promise<ListenAddress> {
    if (this.#state !== "new") throw new Error(`listen() was already called (${this.#state})`);
    const match = /^(.*):(\d{1,5})$/.exec(address);
    if (!match) throw new RangeError(`listen address ${JSON.stringify(address)}: need host:port`);
    this.#state = "listening";
    const health_handlers = createHealthHandlers(this.health, this.#health_watches);
    this.#register(await loadHealthSchema(), HEALTH_SERVICE, health_handlers);
    this.#addReflectionService();
    this.health.set("", "SERVING");
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error) reject(new Error(`cannot listen on ${address}: ${error.message}`));
        else resolve(port);
      });
    });
    const host = match[1];
    return { host, port, address: `${host}:${port}` };
  }

  /**
   * Stops the server: marks every service NOT_SERVING, ends health Watch streams, refuses new
   * calls, waits for running calls to finish, and after `timeout_ms` cuts the rest. Long-lived
   * streams of your own (e.g. etcd Watch) hold the wait until the bound: end them first.
   *
   * @param timeout_ms how long to wait for running calls; defaults to the server's option
   * @returns whether calls had to be cut
   */
  async shutdown(timeout_ms: number = this.#shutdown_timeout_ms): Promise<{ forced: boolean }> {
    validateMs("timeout_ms", timeout_ms, MAX_SHUTDOWN_TIMEOUT_MS);
    if (this.#state === "closed") return { forced: false };
    this.#state = "closed";
    this.health.setAll("NOT_SERVING"); // health watchers hear it before their streams end
    for (const end_watch of [...this.#health_watches]) end_watch();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceful = new Promise<boolean>((resolve) => {
      this.#server.tryShutdown(() => resolve(false));
    });
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeout_ms);
    });
    const forced = await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    if (forced) this.#server.forceShutdown();
    return { forced };
  }

  #methodDefinition(method: MethodSchema): grpc.MethodDefinition<unknown, unknown> {
    const max_request_bytes = this.#max_request_bytes;
    const response_codec = method.response_codec;
    return {
      path: method.path,
      requestStream: method.request_stream,
      responseStream: method.response_stream,
      requestSerialize: (value: unknown) =>
        toBuffer(method.request_codec.encode(value as ProtoMessage)),
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decodeRequest(method, bytes, max_request_bytes);
        } catch (error) {
          // grpc-js answers a throwing deserializer with INTERNAL; handing the rejection to
          // the handler wrapper instead lets it answer with the precise status.
          return new RejectedRequest(error as RpcError);
        }
      },
      responseSerialize: (value: unknown) =>
        toBuffer(
          value instanceof Uint8Array ? value : response_codec.encode(value as ProtoMessage),
        ),
      responseDeserialize: (bytes: Buffer) => response_codec.decode(bytes),
      originalName: method.name,
    };
  }

  #addReflectionService(): void {
    const files = new Map<string, Buffer>();
    for (const schema of this.#schemas) {
      for (const file of schema.fileDescriptors()) files.set(file.file_name, toBuffer(file.bytes));
    }
    // @grpc/reflection reads only `fileDescriptorProtos` from each package entry.
    const package_definition = { all: { fileDescriptorProtos: [...files.values()] } };
    const reflection = new ReflectionService(
      package_definition as unknown as ConstructorParameters<typeof ReflectionService>[0],
    );
    reflection.addToServer(this.#server);
  }
}

/**
 * Decodes a request within the size limit; throws INVALID_ARGUMENT naming the method and the
 * message type when the bytes are too many or not that message.
 */
function decodeRequest(method: MethodSchema, bytes: Uint8Array, max_request_bytes: number) {
  try {
    checkSize(`request to ${method.path}`, bytes.length, max_request_bytes);
    return method.request_codec.decode(bytes);
  } catch (error) {
    throw error instanceof RpcError ? error : invalidArgument(
      `request to ${method.path} is not a valid ${method.request_codec.type_name}: ` +
        (error instanceof Error ? error.message : String(error)),
    );
  }
}

/** A unary handler on the fast path: decode, run, encode; every failure is thrown as is. */
function fastAnswer(
  method: MethodSchema,
  // deno-lint-ignore no-explicit-any
  handler: (...args: any[]) => unknown,
  max_request_bytes: number,
): FastUnaryAnswer {
  return (body, call) => {
    const request = decodeRequest(method, body, max_request_bytes);
    const result = handler(request, fastCallContext(method, call));
    if (result instanceof Promise) {
      return result.then((response) => encodeResponse(method, response));
    }
    return encodeResponse(method, result);
  };
}

function fastCallContext(method: MethodSchema, call: FastUnaryCall): CallContext {
  let metadata: grpc.Metadata | undefined;
  return {
    method_path: method.path,
    get metadata() {
      return (metadata ??= grpc.Metadata.fromHttp2Headers(call.headers));
    },
    get peer() {
      return call.peer;
    },
    get deadline() {
      return call.deadline;
    },
    get cancelled() {
      return call.cancelled;
    },
  };
}

/** Adapts a handler to grpc-js's calling convention, turning every failure into a status. */
// deno-lint-ignore no-explicit-any
function wrapHandler(method: MethodSchema, handler: ((...args: any[]) => unknown) | undefined) {
  if (!handler) {
    const error = rpcError(Status.UNIMPLEMENTED, `${method.path} is not offered by this server`);
    if (method.response_stream) {
      return (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit("error", error);
    }
    return (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(error);
  }
  if (!method.request_stream && !method.response_stream) {
    return (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      if (call.request instanceof RejectedRequest) return callback(call.request.error);
      // No promise hops of its own: a synchronous handler answers in the same turn, an async
      // one with a single `then` (this runs once per unary call).
      const answer = (response: unknown) => {
        let encoded: Uint8Array;
        try {
          encoded = encodeResponse(method, response);
        } catch (error) {
          return callback(toRpcError(error));
        }
        callback(null, encoded);
      };
      const fail = (error: unknown) => callback(toRpcError(error));
      let result: unknown;
      try {
        result = handler(call.request, callContext(method, call));
      } catch (error) {
        return fail(error);
      }
      if (result instanceof Promise) result.then(answer, fail);
      else answer(result);
    };
  }
  if (!method.request_stream) {
    return (call: grpc.ServerWritableStream<unknown, unknown>) => {
      if (call.request instanceof RejectedRequest) return call.emit("error", call.request.error);
      Promise.resolve()
        .then(() => handler(call.request, call))
        .then(() => call.end())
        .catch((error) => call.emit("error", toRpcError(error)));
    };
  }
  if (!method.response_stream) {
    return (
      call: grpc.ServerReadableStream<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      let answered = false;
      const answer: grpc.sendUnaryData<unknown> = (error, response) => {
        if (answered) return;
        answered = true;
        callback(error, response);
      };
      rejectBadMessages(call, (error) => answer(error));
      Promise.resolve()
        .then(() => handler(call))
        .then((response) => answer(null, encodeResponse(method, response)))
        .catch((error) => answer(toRpcError(error)));
    };
  }
  if (isDuplexHandler(handler)) {
    return (call: grpc.ServerDuplexStream<unknown, unknown>) =>
      runOnGrpcCall(
        call,
        handler,
        (request) => request instanceof RejectedRequest ? request.error : undefined,
      );
  }
  return (call: grpc.ServerDuplexStream<unknown, unknown>) => {
    rejectBadMessages(call, (error) => call.emit("error", error));
    Promise.resolve()
      .then(() => handler(call))
      .catch((error) => call.emit("error", toRpcError(error)));
  };
}

/**
 * grpc-js pushes each decoded request into the call's readable side; a message that failed to
 * decode ends the call with its status instead of reaching the handler.
 */
function rejectBadMessages(
  call: { push(chunk: unknown): boolean },
  fail: (error: RpcError) => void,
): void {
  const push = call.push.bind(call);
  let failed = false;
  call.push = (chunk: unknown) => {
    if (chunk === null) return push(null); // the end of the stream always passes
    if (!(chunk instanceof RejectedRequest)) return failed ? false : push(chunk);
    if (!failed) fail(chunk.error);
    failed = true;
    return false;
  };
}

function encodeResponse(method: MethodSchema, response: unknown): Uint8Array {
  try {
    return method.response_codec.encode((response ?? {}) as ProtoMessage);
  } catch (error) {
    throw rpcError(
      Status.INTERNAL,
      `the server built an invalid ${method.response_codec.type_name} for ${method.path}: ` +
        (error instanceof Error ? error.message : String(error)),
    );
  }
}

function callContext(
  method: MethodSchema,
  call: grpc.ServerUnaryCall<unknown, unknown>,
): CallContext {
  // Peer and deadline are worked out only when a handler asks (few do).
  return {
    method_path: method.path,
    metadata: call.metadata,
    get peer() {
      return call.getPeer();
    },
    get deadline() {
      return call.getDeadline();
    },
    get cancelled() {
      return call.cancelled;
    },
  };
}

/** A Buffer view of `bytes` (no copy): grpc-js wants Buffers. */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function validateCount(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} is ${value}; allowed: an integer from 1 to ${max}`);
  }
  return value;
}

function validateMs(name: string, value: number, max_ms: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max_ms) {
    throw new RangeError(`${name} is ${value}; allowed: an integer from 0 to ${max_ms} ms`);
  }
  return value;
}
