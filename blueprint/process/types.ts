/**
 * The shapes a Draft process and the registry exchange, independent of the wire.
 *
 * @module
 */

/** Whether a process is ready for its kind of traffic, as the seed names the states. */
export type RunningState = "starting" | "running" | "draining" | "stopped";

/** How well a process works, as it reports itself. */
export type HealthState = "healthy" | "degraded" | "unhealthy";

/** Every running state, in lifecycle order. */
export const RUNNING_STATES: readonly RunningState[] = [
  "starting",
  "running",
  "draining",
  "stopped",
];

/** Every health state, best first. */
export const HEALTH_STATES: readonly HealthState[] = ["healthy", "degraded", "unhealthy"];

/** The identity the registry gives a process at Initialize; kept across reconnects. */
export interface ProcessIdentity {
  /** The unique process id the cluster assigned. */
  readonly process_id: string;
  /** The cluster-signed token that proves the identity on every later call. */
  readonly token: string;
}

/** One cluster member as an ack describes it. */
export interface ClusterMember {
  /** The member's id, hex. */
  readonly id: string;
  /** The member's name. */
  readonly name: string;
  /** The `host:port` addresses clients use (URL schemes removed). */
  readonly client_addresses: readonly string[];
  /** Whether it is the leader. */
  readonly is_leader: boolean;
  /** Whether it is a non-voting learner. */
  readonly is_learner: boolean;
}

/** A registered core service (Fuse, Catalyst) as acks list it. */
export interface CoreService {
  /** `fuse`, `catalyst`, ... */
  readonly kind: string;
  /** The process that serves it. */
  readonly process_id: string;
  /** Its advertised `host:port`. */
  readonly address: string;
}

/** The cluster details every ack carries. */
export interface ClusterDetails {
  /** The cluster's id, hex. */
  readonly cluster_id: string;
  /** The members, with their client addresses. */
  readonly members: readonly ClusterMember[];
  /** The leader's id, hex, or "" while there is none. */
  readonly leader_id: string;
  /** The leader's client address, or "" while unknown. */
  readonly leader_address: string;
  /** Registered core services. */
  readonly core_services: readonly CoreService[];
  /** The KV revision the details were read at. */
  readonly revision: bigint;
}

/** Cluster details before the first answer: nothing known. */
export const NO_CLUSTER_DETAILS: ClusterDetails = {
  cluster_id: "",
  members: [],
  leader_id: "",
  leader_address: "",
  core_services: [],
  revision: 0n,
};

/** What a process reports about itself on the Synchronize stream. */
export interface ProcessReport {
  /** Its running state. */
  readonly running_state: RunningState;
  /** Its health state. */
  readonly health: HealthState;
  /** The `host:port` where it serves, or "" when it serves nothing. */
  readonly advertise_address: string;
  /** Its labels, e.g. `{ zone: "a" }`. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** What Initialize sends. */
export interface InitializeRequest {
  /** The process's name (its kind, e.g. `fuse`); several processes may share it. */
  readonly name: string;
  /** The cluster's join secret. */
  readonly nonce: string;
  /** Labels. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Where the process serves, or "". */
  readonly advertise_address: string;
  /** The liveness TTL asked for, in ms; 0 for the server's default. */
  readonly ttl_ms: number;
}

/** What Initialize answers. */
export interface InitializeResult {
  /** The new identity. */
  readonly identity: ProcessIdentity;
  /** The cluster as the entrypoint sees it. */
  readonly cluster: ClusterDetails;
  /** The TTL granted, in ms: a process silent this long is marked lost. */
  readonly ttl_ms: number;
}

/** An open Synchronize stream to one member, as the process client drives it. */
export interface SyncStream {
  /** Sends one report; throws when the stream is already closed. */
  send(report: ProcessReport): void;
  /** Closes the stream from the client side (no more events after this). */
  close(): void;
}

/**
 * Calls `poll` every `interval_ms` until the returned function is called (after which it
 * calls it no more). A process's report, health check and silent-stream check run at each
 * call.
 */
export type PollScheduler = (interval_ms: number, poll: () => void) => () => void;

/** What a Synchronize stream tells its owner. */
export interface SyncStreamHandlers {
  /** An ack arrived with the cluster details. */
  on_ack(cluster: ClusterDetails): void;
  /** The stream ended (error, or the server closed it); called at most once. */
  on_end(error: Error | undefined): void;
}

/**
 * The wire the process client uses: gRPC in production ({@link RegistryTransport}), a
 * scripted fake in tests. Each call names the member endpoint it goes to.
 */
export interface ProcessTransport {
  /** Initialize at `endpoint`; rejects with the server's error (e.g. a bad nonce). */
  initialize(endpoint: string, request: InitializeRequest): Promise<InitializeResult>;
  /** Opens a Synchronize stream at `endpoint` for `identity`. */
  synchronize(
    endpoint: string,
    identity: ProcessIdentity,
    handlers: SyncStreamHandlers,
  ): SyncStream;
  /** Finalize at `endpoint`: the registry removes the process. */
  finalize(endpoint: string, identity: ProcessIdentity): Promise<void>;
  /** Releases connections. */
  close(): void;
}
