/**
 * Draft's registry protocol (`draft.blueprint.v1.Registry`): its file, service name, loader,
 * enums and the TypeScript shapes of its messages as {@link MessageCodec} decodes them (field
 * names as in the `.proto` file, `int64`/`uint64` as `bigint`, enums as numbers).
 *
 * @module
 */
import type { MessageCodec } from "../message_codec.ts";
import { ProtoSchema } from "../proto_schema.ts";
import type { ProtoTextReader } from "../proto_files.ts";

/** The registry's file, relative to `shared/proto/`. */
export const REGISTRY_PROTO_FILES: readonly string[] = ["draft/blueprint/v1/registry.proto"];

/** The registry service's fully qualified name. */
export const REGISTRY_SERVICE = "draft.blueprint.v1.Registry";

/** The member-to-member service (batched lease renewals). */
export const REGISTRY_PEER_SERVICE = "draft.blueprint.v1.RegistryPeer";

/** `RunningState`, the numbers on the wire. */
export const RunningState = {
  UNSPECIFIED: 0,
  STARTING: 1,
  RUNNING: 2,
  DRAINING: 3,
  STOPPED: 4,
} as const;
/** A `RunningState` number. */
export type RunningStateValue = typeof RunningState[keyof typeof RunningState];

/** `HealthState`, the numbers on the wire; UNKNOWN means "lost" and only Blueprint sets it. */
export const HealthState = {
  UNSPECIFIED: 0,
  HEALTHY: 1,
  DEGRADED: 2,
  UNHEALTHY: 3,
  UNKNOWN: 4,
} as const;
/** A `HealthState` number. */
export type HealthStateValue = typeof HealthState[keyof typeof HealthState];

/** `RegistryEvent.Type`. */
export const RegistryEventType = { PUT: 0, DELETE: 1 } as const;

let registry_schema: Promise<ProtoSchema> | undefined;

/**
 * Loads the registry protocol once per process, relative to this module (disk or HTTP).
 *
 * @param read_text how to read a file; only for tests (a custom reader bypasses the cache)
 * @example
 * ```ts
 * const schema = await loadRegistrySchema();
 * const codecs = registryCodecs(schema);
 * ```
 */
export function loadRegistrySchema(read_text?: ProtoTextReader): Promise<ProtoSchema> {
  const base_url = new URL("../", import.meta.url);
  if (read_text) return ProtoSchema.load(REGISTRY_PROTO_FILES, { base_url, read_text });
  registry_schema ??= ProtoSchema.load(REGISTRY_PROTO_FILES, { base_url }).catch((error) => {
    registry_schema = undefined; // let a later call retry, e.g. after a network error
    throw error;
  });
  return registry_schema;
}

/** `Label`: one metadata entry. */
export interface Label {
  /** The key, 1..128 bytes. */
  key?: string;
  /** The value, at most 1024 bytes. */
  value?: string;
}

/** `InitializeRequest`. */
export interface InitializeRequest {
  /** 1..128 chars of `[A-Za-z0-9._-]`. */
  name?: string;
  /** The cluster's join token. */
  nonce?: string;
  /** Labels. */
  metadata?: Label[];
  /** `host:port` where the process serves; may be empty. */
  advertise_address?: string;
  /** Liveness TTL in ms; 0 = server default. */
  ttl_ms?: number;
}

/** `ClusterMember`. */
export interface ClusterMember {
  /** Hex member id. */
  id?: string;
  /** Member name. */
  name?: string;
  /** Client URLs. */
  client_urls?: string[];
  /** True for the current leader. */
  is_leader?: boolean;
  /** True for a non-voting learner. */
  is_learner?: boolean;
}

/** `CoreService`. */
export interface CoreService {
  /** `fuse`, `catalyst`. */
  kind?: string;
  /** The registered process. */
  process_id?: string;
  /** Its advertise address. */
  address?: string;
  /** Its running state. */
  running_state?: number;
  /** Its health state. */
  health_state?: number;
}

/** `ClusterDetails`. */
export interface ClusterDetails {
  /** Hex cluster id. */
  cluster_id?: string;
  /** Members with client URLs. */
  members?: ClusterMember[];
  /** Hex leader id; empty while none. */
  leader_id?: string;
  /** The leader's first client URL. */
  leader_address?: string;
  /** Registered core services. */
  core_services?: CoreService[];
  /** KV revision read at. */
  revision?: bigint;
}

/** `ProcessRecord`. */
export interface ProcessRecord {
  /** Process id. */
  process_id?: string;
  /** Process name. */
  name?: string;
  /** {@link RunningState}. */
  running_state?: number;
  /** {@link HealthState}. */
  health_state?: number;
  /** Advertised address. */
  advertise_address?: string;
  /** Labels. */
  metadata?: Label[];
  /** Liveness TTL in ms. */
  ttl_ms?: number;
  /** Unix ms of registration. */
  registered_at_ms?: bigint;
  /** Unix ms of the last change. */
  updated_at_ms?: bigint;
  /** Unix ms when marked lost; 0 while alive. */
  lost_at_ms?: bigint;
  /** KV create revision. */
  create_revision?: bigint;
  /** KV mod revision. */
  mod_revision?: bigint;
}

/** `InitializeResponse`. */
export interface InitializeResponse {
  /** The new process id. */
  process_id?: string;
  /** The signed token. */
  token?: string;
  /** Granted TTL in ms. */
  ttl_ms?: number;
  /** Cluster details. */
  cluster?: ClusterDetails;
  /** The created record. */
  process?: ProcessRecord;
}

/** `SyncMessage`. */
export interface SyncMessage {
  /** The token (required on the first message of a stream). */
  token?: string;
  /** {@link RunningState}. */
  running_state?: number;
  /** {@link HealthState}: HEALTHY, DEGRADED or UNHEALTHY. */
  health_state?: number;
  /** Advertised address. */
  advertise_address?: string;
  /** New metadata, applied when `replace_metadata`. */
  metadata?: Label[];
  /** Replace the stored metadata with `metadata`. */
  replace_metadata?: boolean;
  /** Echoed in the ack. */
  sequence?: bigint;
}

/** `SyncAck`. */
export interface SyncAck {
  /** The message's sequence. */
  sequence?: bigint;
  /** The process id. */
  process_id?: string;
  /** True when this message was a Raft write. */
  changed?: boolean;
  /** Cluster details. */
  cluster?: ClusterDetails;
  /** TTL in ms. */
  ttl_ms?: number;
}

/** `FinalizeRequest`. */
export interface FinalizeRequest {
  /** The token. */
  token?: string;
}

/** `FinalizeResponse`. */
export interface FinalizeResponse {
  /** Revision of the delete. */
  revision?: bigint;
}

/** `QueryRequest`. */
export interface QueryRequest {
  /** Exact name; empty = any. */
  name?: string;
  /** Any of these running states; empty = any. */
  running_states?: number[];
  /** Any of these health states; empty = any. */
  health_states?: number[];
  /** metadata[key] == value for every entry. */
  labels?: Label[];
  /** 0 = no limit (server caps). */
  limit?: number;
}

/** `QueryResponse`. */
export interface QueryResponse {
  /** Matching records by process id. */
  processes?: ProcessRecord[];
  /** Revision read at. */
  revision?: bigint;
  /** True when the limit cut the answer short. */
  more?: boolean;
}

/** `GetRequest`. */
export interface GetRequest {
  /** Process id. */
  process_id?: string;
}

/** `GetResponse`. */
export interface GetResponse {
  /** The record. */
  process?: ProcessRecord;
  /** Revision read at. */
  revision?: bigint;
}

/** `WatchRequest`. */
export interface RegistryWatchRequest {
  /** 0 = from now; else changes at revisions >= this. */
  start_revision?: bigint;
}

/** `RegistryEvent`. */
export interface RegistryEvent {
  /** {@link RegistryEventType}. */
  type?: number;
  /** Process id. */
  process_id?: string;
  /** Record after the change; absent on DELETE. */
  process?: ProcessRecord;
  /** Revision of the change. */
  revision?: bigint;
}

/** `WatchResponse`. */
export interface RegistryWatchResponse {
  /** Events in revision order. */
  events?: RegistryEvent[];
  /** Revision reached. */
  revision?: bigint;
  /** First message. */
  created?: boolean;
  /** start_revision was compacted; the stream ends. */
  compacted?: boolean;
  /** The compaction revision when compacted. */
  compact_revision?: bigint;
}

/** The typed codecs of the registry's messages. */
export interface RegistryCodecs {
  /** `ProcessRecord` (also the stored form of a record). */
  readonly ProcessRecord: MessageCodec<ProcessRecord>;
  /** `InitializeRequest`. */
  readonly InitializeRequest: MessageCodec<InitializeRequest>;
  /** `InitializeResponse`. */
  readonly InitializeResponse: MessageCodec<InitializeResponse>;
  /** `SyncMessage`. */
  readonly SyncMessage: MessageCodec<SyncMessage>;
  /** `SyncAck`. */
  readonly SyncAck: MessageCodec<SyncAck>;
  /** `QueryRequest`. */
  readonly QueryRequest: MessageCodec<QueryRequest>;
  /** `QueryResponse`. */
  readonly QueryResponse: MessageCodec<QueryResponse>;
  /** `WatchResponse`. */
  readonly WatchResponse: MessageCodec<RegistryWatchResponse>;
}

/**
 * The typed codecs of the registry messages.
 *
 * @example
 * ```ts
 * const codecs = registryCodecs(await loadRegistrySchema());
 * const bytes = codecs.ProcessRecord.encode({ process_id: "p1", name: "web" });
 * ```
 */
export function registryCodecs(schema: ProtoSchema): RegistryCodecs {
  const pb = "draft.blueprint.v1.";
  return {
    ProcessRecord: schema.codec(`${pb}ProcessRecord`),
    InitializeRequest: schema.codec(`${pb}InitializeRequest`),
    InitializeResponse: schema.codec(`${pb}InitializeResponse`),
    SyncMessage: schema.codec(`${pb}SyncMessage`),
    SyncAck: schema.codec(`${pb}SyncAck`),
    QueryRequest: schema.codec(`${pb}QueryRequest`),
    QueryResponse: schema.codec(`${pb}QueryResponse`),
    WatchResponse: schema.codec(`${pb}WatchResponse`),
  };
}
