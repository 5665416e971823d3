/**
 * The process client's wire: Blueprint's `draft.blueprint.v1.Registry` gRPC service, one
 * channel per member endpoint.
 *
 * @module
 */
import { MAX_ENDPOINTS } from "../client/mod.ts";
import {
  type FinalizeRequest,
  type InitializeRequest as WireInitializeRequest,
  type InitializeResponse,
  loadRegistrySchema,
  REGISTRY_SERVICE,
  type SyncAck,
  type SyncMessage,
} from "../../shared/proto/draft/mod.ts";
import {
  type MessageCodec,
  methodOf,
  type MethodSchema,
  type ServiceSchema,
} from "../../shared/proto/mod.ts";
import { DirectStreamChannel, RpcChannel } from "../../shared/rpc/mod.ts";
import type {
  ClusterDetails,
  InitializeRequest,
  InitializeResult,
  ProcessIdentity,
  ProcessReport,
  ProcessTransport,
  SyncStream,
  SyncStreamHandlers,
} from "./types.ts";
import { ConcurrencyLimit } from "./concurrency_limit.ts";
import { AckDecoder } from "./ack_decoder.ts";
import { clusterFromWire, healthToWire, labelsToWire, runningStateToWire } from "./wire_mapping.ts";

/** The deadline of Finalize, in ms. */
export const UNARY_DEADLINE_MS = 5_000;
/**
 * The deadline of Initialize, in ms: two Raft writes that queue behind a join storm. A retry
 * after a deadline may register the process twice (the first record is then lost after its
 * TTL), and adds the work it gives up on to the members' queue, so this is generous.
 */
export const INITIALIZE_DEADLINE_MS = 15_000;
/** How often an idle connection to a member is pinged, in ms. */
export const KEEPALIVE_TIME_MS = 30_000;
/**
 * How long a ping may go unanswered before the connection is dropped, in ms. Long on purpose:
 * a dropped connection ends every stream on it at once (all the processes sharing this
 * transport), so a member that is only slow must not be taken for dead. With 5,000 processes
 * on 2 busy cores, pings went unanswered for 5 s and even 20 s (the ack waits behind a backlog
 * of frames, or behind the client's own busy event loop), and each drop made hundreds of
 * processes reconnect and re-join together ("Session closed"). A dead member is still noticed
 * per stream, by its ack timeout (half the TTL), and a call to it by its deadline.
 */
export const KEEPALIVE_TIMEOUT_MS = 60_000;
/**
 * Initialize calls one transport has in flight at once. Each is two Raft writes on the
 * members; a fleet sharing one transport that joins at once queues here instead.
 */
export const MAX_INITIALIZE_IN_FLIGHT = 16;
/** Initialize calls that may wait for a slot; more are refused at once. */
export const MAX_INITIALIZE_WAITING = 100_000;

/**
 * Channels to registry members, reused per endpoint (at most {@link MAX_ENDPOINTS}).
 *
 * @example
 * ```ts
 * const channels = await RegistryChannels.create();
 * const query = channels.method("Query");
 * await channels.channel("127.0.0.1:2221").unary(query, {});
 * channels.close();
 * ```
 */
export class RegistryChannels {
  readonly #service: ServiceSchema;
  readonly #channels = new Map<string, RpcChannel>();
  readonly #stream_channels = new Map<string, DirectStreamChannel>();

  private constructor(service: ServiceSchema) {
    this.#service = service;
  }

  /** Loads the registry protocol and makes an empty set of channels. */
  static async create(): Promise<RegistryChannels> {
    return new RegistryChannels((await loadRegistrySchema()).service(REGISTRY_SERVICE));
  }

  /**
   * A registry method by name (`Initialize`, `Synchronize`, `Query`, ...).
   *
   * @param name the method name as in the `.proto` file
   */
  method(name: string): MethodSchema {
    return methodOf(this.#service, name);
  }

  /**
   * The channel to `endpoint`, made on first use.
   *
   * @param endpoint a member's `host:port`
   */
  channel(endpoint: string): RpcChannel {
    return channelFor(this.#channels, endpoint, () =>
      new RpcChannel(endpoint, {
        keepalive_time_ms: KEEPALIVE_TIME_MS,
        keepalive_timeout_ms: KEEPALIVE_TIMEOUT_MS,
      }));
  }

  /**
   * The stream channel to `endpoint`, made on first use: Synchronize streams go on a
   * connection of their own, written straight on HTTP/2 (a beat and its ack cost the process
   * about half the CPU they cost through grpc-js's client).
   *
   * @param endpoint a member's `host:port`
   */
  streamChannel(endpoint: string): DirectStreamChannel {
    return channelFor(this.#stream_channels, endpoint, () =>
      new DirectStreamChannel(endpoint, {
        keepalive_time_ms: KEEPALIVE_TIME_MS,
        keepalive_timeout_ms: KEEPALIVE_TIMEOUT_MS,
      }));
  }

  /** Closes every channel. */
  close(): void {
    for (const channel of this.#channels.values()) channel.close();
    for (const channel of this.#stream_channels.values()) channel.close();
    this.#channels.clear();
    this.#stream_channels.clear();
  }
}

/** The channel of `endpoint` in `channels`, made on first use (at most {@link MAX_ENDPOINTS}). */
function channelFor<C>(channels: Map<string, C>, endpoint: string, make: () => C): C {
  let channel = channels.get(endpoint);
  if (channel === undefined) {
    if (channels.size >= MAX_ENDPOINTS) {
      throw new RangeError(
        `already ${MAX_ENDPOINTS} registry endpoints in use; cannot add ${endpoint}`,
      );
    }
    channel = make();
    channels.set(endpoint, channel);
  }
  return channel;
}

/**
 * {@link ProcessTransport} over gRPC to Blueprint's Registry service.
 *
 * @example
 * ```ts
 * const transport = await RegistryTransport.create();
 * const me = await DraftProcess.join({ entrypoints, name: "web", nonce, transport });
 * ```
 */
export class RegistryTransport implements ProcessTransport {
  readonly #channels: RegistryChannels;
  readonly #joins = new ConcurrencyLimit(MAX_INITIALIZE_IN_FLIGHT, MAX_INITIALIZE_WAITING);

  private constructor(channels: RegistryChannels) {
    this.#channels = channels;
  }

  /** Loads the registry protocol. */
  static async create(): Promise<RegistryTransport> {
    return new RegistryTransport(await RegistryChannels.create());
  }

  /**
   * Initialize at `endpoint`, at most {@link MAX_INITIALIZE_IN_FLIGHT} at once per transport
   * (the deadline starts when the call is sent, not while it waits for a slot).
   *
   * @param endpoint a member's `host:port`
   * @param request who joins, with what secret
   */
  async initialize(endpoint: string, request: InitializeRequest): Promise<InitializeResult> {
    const channel = this.#channels.channel(endpoint);
    const response = await this.#joins.run(() =>
      channel.unary<WireInitializeRequest, InitializeResponse>(
        this.#channels.method("Initialize"),
        {
          name: request.name,
          nonce: request.nonce,
          metadata: labelsToWire(request.metadata),
          advertise_address: request.advertise_address,
          ttl_ms: request.ttl_ms,
        },
        { deadline_ms: INITIALIZE_DEADLINE_MS },
      )
    );
    if (!response.process_id || !response.token) {
      throw new Error(`${endpoint} answered Initialize without a process id or token`);
    }
    return {
      identity: { process_id: response.process_id, token: response.token },
      cluster: clusterFromWire(response.cluster),
      ttl_ms: response.ttl_ms ?? 0,
    };
  }

  /**
   * Opens a Synchronize stream at `endpoint`; the token goes on its first message.
   *
   * @param endpoint a member's `host:port`
   * @param identity the process's identity
   * @param handlers where acks and the end go
   */
  synchronize(
    endpoint: string,
    identity: ProcessIdentity,
    handlers: SyncStreamHandlers,
  ): SyncStream {
    let ended = false;
    let sequence = 0n;
    const method = this.#channels.method("Synchronize");
    const acks = new AckDecoder(method.response_codec as MessageCodec<SyncAck>);
    const call = this.#channels.streamChannel(endpoint).bidiStream<SyncMessage, ClusterDetails>(
      method,
      {
        decode: (bytes) => acks.decode(bytes),
        on_message(cluster) {
          if (!ended) handlers.on_ack(cluster);
        },
        on_end(error) {
          if (ended) return;
          ended = true;
          handlers.on_end(error);
        },
      },
    );
    return {
      send(report: ProcessReport) {
        if (ended) throw new Error(`the Synchronize stream to ${endpoint} has ended`);
        sequence++;
        call.write({
          token: sequence === 1n ? identity.token : "",
          running_state: runningStateToWire(report.running_state),
          health_state: healthToWire(report.health),
          advertise_address: report.advertise_address,
          sequence,
        });
      },
      close() {
        ended = true;
        call.cancel();
      },
    };
  }

  /**
   * Finalize at `endpoint`.
   *
   * @param endpoint a member's `host:port`
   * @param identity the process's identity
   */
  async finalize(endpoint: string, identity: ProcessIdentity): Promise<void> {
    await this.#channels.channel(endpoint).unary<FinalizeRequest>(
      this.#channels.method("Finalize"),
      { token: identity.token },
      { deadline_ms: UNARY_DEADLINE_MS },
    );
  }

  /** Closes the channels. */
  close(): void {
    this.#channels.close();
  }
}
