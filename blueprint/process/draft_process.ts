/**
 * The process client: how a Draft process joins the registry, keeps its Synchronize stream
 * alive across member failures, reports its state, and leaves.
 *
 * @module
 */
import { parseEndpoints } from "../client/mod.ts";
import { failoverCandidates, reconnectDelayMs } from "./failover_plan.ts";
import {
  type ClusterDetails,
  HEALTH_STATES,
  type HealthState,
  type PollScheduler,
  type ProcessIdentity,
  type ProcessReport,
  type ProcessTransport,
  RUNNING_STATES,
  type RunningState,
  type SyncStream,
} from "./types.ts";

/** The shortest polling interval accepted, in ms. */
export const MIN_POLL_INTERVAL_MS = 10;
/** The longest polling interval accepted, in ms (one hour). */
export const MAX_POLL_INTERVAL_MS = 3_600_000;
/** The most metadata labels a process may carry. */
export const MAX_METADATA_LABELS = 64;
/** The most listeners of cluster changes. */
export const MAX_LISTENERS = 64;
/** The most Initialize attempts across the entrypoints before `join` gives up. */
export const MAX_JOIN_ATTEMPTS = 12;
/** Consecutive refusals of the identity, on different members, that end the process client. */
export const REJECTIONS_TO_REVOKE = 2;
/** The most Finalize attempts across members before `leave` gives up. */
export const MAX_FINALIZE_ATTEMPTS = 6;

/** Options of {@link DraftProcess.join}. */
export interface DraftProcessOptions {
  /** Blueprint members to join through: `host:port` list or comma-separated text. */
  readonly entrypoints: string | readonly string[];
  /** The process's name (its kind, e.g. `fuse`). 1 to 128 characters. */
  readonly name: string;
  /** The cluster's join secret. */
  readonly nonce: string;
  /** Labels, at most {@link MAX_METADATA_LABELS}. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Where this process serves, `host:port`, or "" (the default). */
  readonly advertise_address?: string;
  /** The liveness TTL to ask for, in ms (1000 to 300000); the server's default (10 s) if unset. */
  readonly ttl_ms?: number;
  /** How often to report (and run the health check), in ms; 1 s, at most a third of the TTL. */
  readonly poll_interval_ms?: number;
  /** Asked at every poll; a rejection or a check slower than the poll interval is "unhealthy". */
  readonly health_check?: () => Promise<HealthState>;
  /** Leave on SIGINT and SIGTERM; await {@link DraftProcess.closed} then exit. Off by default. */
  readonly handle_signals?: boolean;
  /** A stream with a report unacked this long is taken as dead, in ms; half the TTL by default. */
  readonly ack_timeout_ms?: number;
  /** The first pause between reconnects after a quick retry, in ms. 100 ms. */
  readonly backoff_base_ms?: number;
  /** The longest pause between reconnects, in ms. 2 s. */
  readonly backoff_max_ms?: number;
  /**
   * The wire; gRPC to Blueprint's Registry service by default. One given here is the caller's:
   * it may be shared by many processes (one connection per member) and is not closed on leave.
   */
  readonly transport?: ProcessTransport;
  /** A number in [0, 1) for jitter; `Math.random` unless a test seeds it. */
  readonly random?: () => number;
  /**
   * Runs the polls: one `setInterval` per process by default. A host running many processes
   * in one isolate may share one timer among them (see {@link PollScheduler}).
   */
  readonly poll_scheduler?: PollScheduler;
}

/** The connection state of a {@link DraftProcess}, for its change events. */
export type ConnectionState = "connecting" | "synchronized" | "left" | "revoked";

/** What a change listener receives. */
export interface ProcessChange {
  /** The connection state now. */
  readonly connection: ConnectionState;
  /** The member endpoint of the stream, or "" between streams. */
  readonly endpoint: string;
  /** The cluster details of the last ack. */
  readonly cluster: ClusterDetails;
}

/**
 * A Draft process's membership in the registry.
 *
 * @example
 * ```ts
 * const me = await DraftProcess.join({
 *   entrypoints: "127.0.0.1:2221,127.0.0.1:2222",
 *   name: "worker",
 *   nonce: Deno.env.get("DRAFT_JOIN_TOKEN")!,
 *   handle_signals: true,
 * });
 * me.setRunningState("running");
 * me.onChange((change) => console.log(change.cluster.leader_id));
 * await me.closed; // after Ctrl-C: finalized and closed
 * ```
 */
export class DraftProcess {
  /** The identity the registry gave this process; kept across reconnects. */
  readonly identity: ProcessIdentity;
  /** The liveness TTL the registry granted, in ms. */
  readonly ttl_ms: number;
  /**
   * Why the registry refused this identity (after which the process is closed and must join
   * again to take part), or "" while it has not.
   */
  revoked_reason = "";
  /** Resolves once the process has left (by {@link DraftProcess.leave} or a signal). */
  readonly closed: Promise<void>;

  readonly #entrypoints: readonly string[];
  readonly #transport: ProcessTransport;
  readonly #owns_transport: boolean;
  readonly #settings: Settings;
  readonly #health_check: (() => Promise<HealthState>) | undefined;
  readonly #listeners = new Set<(change: ProcessChange) => void>();
  #report: ProcessReport;
  #cluster: ClusterDetails;
  #connection: ConnectionState = "connecting";
  #endpoint = "";
  #stream: SyncStream | undefined;
  #unacked_since_ms: number | undefined;
  #wake_loop: (() => void) | undefined;
  readonly #poll_scheduler: PollScheduler;
  #stop_polling: () => void = () => {};
  #health_check_running = false;
  #leaving: Promise<void> | undefined;
  #resolve_closed!: () => void;
  #remove_signal_handlers: () => void = () => {};

  private constructor(
    entrypoints: readonly string[],
    transport: ProcessTransport,
    owns_transport: boolean,
    settings: Settings,
    options: DraftProcessOptions,
    joined: Joined,
  ) {
    this.#entrypoints = entrypoints;
    this.#transport = transport;
    this.#owns_transport = owns_transport;
    this.#settings = fitToTtl(settings, joined.ttl_ms, options);
    this.ttl_ms = joined.ttl_ms;
    this.#health_check = options.health_check;
    this.#poll_scheduler = options.poll_scheduler ?? everyInterval;
    this.identity = joined.identity;
    this.#cluster = joined.cluster;
    this.#endpoint = joined.endpoint;
    this.#report = {
      running_state: "starting",
      health: "healthy",
      advertise_address: options.advertise_address ?? "",
      metadata: { ...options.metadata },
    };
    this.closed = new Promise((resolve) => this.#resolve_closed = resolve);
  }

  /**
   * Initializes at the first entrypoint that answers, then keeps the Synchronize stream alive
   * until {@link DraftProcess.leave}. Rejects when an entrypoint refuses (a wrong nonce is
   * the server's UNAUTHENTICATED error) or none answers within {@link MAX_JOIN_ATTEMPTS}.
   *
   * @param options where to join, who this is, and how to behave; see {@link DraftProcessOptions}
   */
  static async join(options: DraftProcessOptions): Promise<DraftProcess> {
    const settings = checkOptions(options);
    const entrypoints = parseEndpoints(options.entrypoints);
    const owned = options.transport === undefined;
    const transport = options.transport ?? await defaultTransport();
    let joined;
    try {
      joined = await initializeAnywhere(transport, entrypoints, options, settings);
    } catch (error) {
      if (owned) transport.close();
      throw error;
    }
    const process = new DraftProcess(entrypoints, transport, owned, settings, options, joined);
    process.#start(options.handle_signals === true);
    return process;
  }

  /** The process's current report: running state, health, address, metadata. */
  get report(): ProcessReport {
    return this.#report;
  }

  /** The cluster details of the last ack (members, leader, core services). */
  get cluster(): ClusterDetails {
    return this.#cluster;
  }

  /** Whether the stream is acked, being re-established, left, or refused by the registry. */
  get connection(): ConnectionState {
    return this.#connection;
  }

  /** The member the stream is open to, or "" between streams. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /**
   * Sets the running state and reports it at once if it changed.
   *
   * @param state one of {@link RUNNING_STATES}
   */
  setRunningState(state: RunningState): void {
    if (!RUNNING_STATES.includes(state)) {
      throw new RangeError(`running state "${state}"; allowed: ${RUNNING_STATES.join(", ")}`);
    }
    if (state !== this.#report.running_state) {
      this.#report = { ...this.#report, running_state: state };
      this.#send();
    }
  }

  /**
   * Sets the health state and reports it at once if it changed.
   *
   * @param health one of {@link HEALTH_STATES}
   */
  setHealth(health: HealthState): void {
    if (!HEALTH_STATES.includes(health)) {
      throw new RangeError(`health "${health}"; allowed: ${HEALTH_STATES.join(", ")}`);
    }
    if (health !== this.#report.health) {
      this.#report = { ...this.#report, health };
      this.#send();
    }
  }

  /**
   * Calls `listener` on every new ack and connection change; returns the function that
   * stops it. At most {@link MAX_LISTENERS} listeners.
   *
   * @param listener gets the connection state, endpoint and cluster details
   */
  onChange(listener: (change: ProcessChange) => void): () => void {
    if (this.#listeners.size >= MAX_LISTENERS) {
      throw new RangeError(`already ${MAX_LISTENERS} change listeners; remove one first`);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Leaves the registry: Finalize (at the current member, else the others, bounded), then
   * closes the stream and connections. Calling it again returns the same promise. Rejects
   * with the last error when no member finalized; the process is closed either way.
   */
  leave(): Promise<void> {
    this.#leaving ??= this.#leave();
    return this.#leaving;
  }

  #start(handle_signals: boolean): void {
    if (handle_signals) this.#remove_signal_handlers = addSignalHandlers(() => this.leave());
    this.#stop_polling = this.#poll_scheduler(this.#settings.poll_interval_ms, () => this.#poll());
    this.#runStreams().catch((error) => {
      console.error(`draft process ${this.identity.process_id}: stream loop failed: ${error}`);
    });
  }

  async #leave(): Promise<void> {
    this.#stop_polling();
    this.#remove_signal_handlers();
    const candidates = failoverCandidates(this.#cluster, this.#entrypoints, "");
    if (this.#endpoint !== "") candidates.unshift(this.#endpoint);
    let last_error: unknown;
    let finalized = false;
    for (const endpoint of candidates.slice(0, MAX_FINALIZE_ATTEMPTS)) {
      try {
        await this.#transport.finalize(endpoint, this.identity);
        finalized = true;
        break;
      } catch (error) {
        last_error = error;
      }
    }
    this.#connection = "left";
    this.#stream?.close();
    this.#stream = undefined;
    this.#wake_loop?.();
    if (this.#owns_transport) this.#transport.close();
    this.#notify();
    this.#resolve_closed();
    if (!finalized) throw last_error;
  }

  /** One stream at a time; a new one after each end, with failover and back-off. */
  async #runStreams(): Promise<void> {
    let attempt = 0;
    let failed = "";
    let rejections = 0;
    while (this.#leaving === undefined) {
      const endpoint = attempt === 0
        ? this.#endpoint
        : pickCandidate(failoverCandidates(this.#cluster, this.#entrypoints, failed), attempt);
      const { acked, error } = await this.#runOneStream(endpoint);
      if (this.#leaving !== undefined) return;
      rejections = isRejection(error) ? rejections + 1 : 0;
      if (rejections >= REJECTIONS_TO_REVOKE) return this.#revoke(error!);
      attempt = acked ? 1 : attempt + 1;
      failed = endpoint;
      this.#setConnection("connecting", "");
      const delay_ms = reconnectDelayMs(
        attempt,
        this.#settings.backoff_base_ms,
        this.#settings.backoff_max_ms,
        this.#settings.random(),
      );
      if (delay_ms > 0) await this.#sleep(delay_ms);
    }
  }

  /** Opens a stream to `endpoint` and resolves when it ends; true if it was ever acked. */
  #runOneStream(endpoint: string): Promise<{ acked: boolean; error: Error | undefined }> {
    return new Promise((resolve) => {
      let acked = false;
      let ended = false;
      let stream: SyncStream | undefined;
      const end = (error?: Error) => {
        if (ended) return;
        ended = true;
        if (this.#stream === stream) this.#stream = undefined;
        this.#wake_loop = undefined;
        resolve({ acked, error });
      };
      this.#wake_loop = () => {
        stream?.close();
        end();
      };
      this.#endpoint = endpoint;
      try {
        stream = this.#transport.synchronize(endpoint, this.identity, {
          on_ack: (cluster) => {
            if (ended) return;
            acked = true;
            this.#unacked_since_ms = undefined;
            this.#cluster = cluster;
            this.#setConnection("synchronized", endpoint, true);
          },
          on_end: (error) => end(error),
        });
      } catch {
        return end();
      }
      this.#stream = stream;
      this.#unacked_since_ms = undefined;
      this.#send();
    });
  }

  /** The registry refuses this identity (removed, or its token revoked): stop for good. */
  #revoke(error: Error): void {
    this.revoked_reason = error.message;
    this.#leaving = Promise.resolve();
    this.#stop_polling();
    this.#remove_signal_handlers();
    this.#connection = "revoked";
    if (this.#owns_transport) this.#transport.close();
    this.#notify();
    this.#resolve_closed();
  }

  /** Sends the current report on the open stream, if any. */
  #send(): void {
    const stream = this.#stream;
    if (stream === undefined || this.#leaving !== undefined) return;
    try {
      stream.send(this.#report);
      this.#unacked_since_ms ??= Date.now();
    } catch {
      this.#wake_loop?.();
    }
  }

  /** At each polling interval: drop a silent stream, run the health check, report. */
  #poll(): void {
    const since = this.#unacked_since_ms;
    if (since !== undefined && Date.now() - since > this.#settings.ack_timeout_ms) {
      this.#stream?.close();
      this.#wake_loop?.();
      return;
    }
    if (this.#health_check === undefined) return this.#send();
    if (this.#health_check_running) return; // at most one check in flight
    this.#health_check_running = true;
    checkHealth(this.#health_check, this.#settings.poll_interval_ms).then((health) => {
      this.#health_check_running = false;
      if (this.#leaving !== undefined) return;
      if (health !== this.#report.health) this.#report = { ...this.#report, health };
      this.#send();
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake_loop = done;
    });
  }

  #setConnection(connection: ConnectionState, endpoint: string, always = false): void {
    if (!always && connection === this.#connection && endpoint === this.#endpoint) return;
    this.#connection = connection;
    if (endpoint !== "") this.#endpoint = endpoint;
    this.#notify();
  }

  #notify(): void {
    const change = {
      connection: this.#connection,
      endpoint: this.#endpoint,
      cluster: this.#cluster,
    };
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (error) {
        console.error(`draft process: a change listener threw: ${error}`);
      }
    }
  }
}

interface Joined {
  readonly identity: ProcessIdentity;
  readonly cluster: ClusterDetails;
  readonly endpoint: string;
  readonly ttl_ms: number;
}

/** Beat at least three times per TTL and give up on a silent stream within half of it. */
function fitToTtl(settings: Settings, ttl_ms: number, options: DraftProcessOptions): Settings {
  if (ttl_ms <= 0) return settings;
  const poll_interval_ms = Math.max(
    MIN_POLL_INTERVAL_MS,
    Math.min(settings.poll_interval_ms, Math.floor(ttl_ms / 3)),
  );
  // Half the TTL: slow acks on a busy cluster are not taken for a dead member, and a silent
  // member is still left with half the TTL to spare for the next one.
  const ack_timeout_ms = options.ack_timeout_ms ?? Math.max(1, Math.floor(ttl_ms / 2));
  return { ...settings, poll_interval_ms, ack_timeout_ms };
}

interface Settings {
  readonly poll_interval_ms: number;
  readonly ack_timeout_ms: number;
  readonly backoff_base_ms: number;
  readonly backoff_max_ms: number;
  readonly random: () => number;
}

function checkOptions(options: DraftProcessOptions): Settings {
  if (typeof options.name !== "string" || options.name.length < 1 || options.name.length > 128) {
    throw new RangeError(`process name ${JSON.stringify(options.name)}; need 1 to 128 characters`);
  }
  if (typeof options.nonce !== "string" || options.nonce === "") {
    throw new RangeError("nonce is empty; give the cluster's join token (cluster status shows it)");
  }
  const labels = Object.keys(options.metadata ?? {}).length;
  if (labels > MAX_METADATA_LABELS) {
    throw new RangeError(`${labels} metadata labels; at most ${MAX_METADATA_LABELS} allowed`);
  }
  const poll_interval_ms = checkMs(
    "poll_interval_ms",
    options.poll_interval_ms ?? 1000,
    MIN_POLL_INTERVAL_MS,
  );
  const backoff_base_ms = checkMs("backoff_base_ms", options.backoff_base_ms ?? 100, 1);
  return {
    poll_interval_ms,
    ack_timeout_ms: checkMs("ack_timeout_ms", options.ack_timeout_ms ?? 3 * poll_interval_ms, 1),
    backoff_base_ms,
    backoff_max_ms: checkMs("backoff_max_ms", options.backoff_max_ms ?? 2000, backoff_base_ms),
    random: options.random ?? Math.random,
  };
}

function checkMs(name: string, value: number, min_ms: number): number {
  if (!Number.isSafeInteger(value) || value < min_ms || value > MAX_POLL_INTERVAL_MS) {
    throw new RangeError(
      `${name} is ${value}; allowed: an integer from ${min_ms} to ${MAX_POLL_INTERVAL_MS} ms`,
    );
  }
  return value;
}

/** Initialize at each entrypoint in turn; a refusal (not a transport failure) ends it. */
async function initializeAnywhere(
  transport: ProcessTransport,
  entrypoints: readonly string[],
  options: DraftProcessOptions,
  settings: Settings,
): Promise<Joined> {
  const request = {
    name: options.name,
    nonce: options.nonce,
    metadata: { ...options.metadata },
    advertise_address: options.advertise_address ?? "",
    ttl_ms: options.ttl_ms ?? 0,
  };
  let last_error: unknown;
  for (let attempt = 1; attempt <= MAX_JOIN_ATTEMPTS; attempt++) {
    const endpoint = entrypoints[(attempt - 1) % entrypoints.length];
    try {
      const result = await transport.initialize(endpoint, request);
      return { ...result, endpoint };
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      last_error = error;
    }
    const delay_ms = reconnectDelayMs(
      Math.ceil(attempt / entrypoints.length),
      settings.backoff_base_ms,
      settings.backoff_max_ms,
      settings.random(),
    );
    if (attempt % entrypoints.length === 0 && delay_ms > 0) {
      await new Promise((resolve) => setTimeout(resolve, delay_ms));
    }
  }
  throw new Error(
    `no entrypoint (${entrypoints.join(", ")}) answered Initialize in ${MAX_JOIN_ATTEMPTS} ` +
      `attempts; last error: ${last_error instanceof Error ? last_error.message : last_error}`,
  );
}

/** Whether an Initialize error means "try another member" rather than "refused". */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  // gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4): nothing was decided.
  return code === 14 || code === 4;
}

/** UNAUTHENTICATED (16) or NOT_FOUND (5): the registry no longer knows this identity. */
function isRejection(error: Error | undefined): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 16 || code === 5;
}

function pickCandidate(candidates: readonly string[], attempt: number): string {
  return candidates[(attempt - 1) % candidates.length];
}

async function checkHealth(
  health_check: () => Promise<HealthState>,
  timeout_ms: number,
): Promise<HealthState> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<HealthState>((resolve) => {
    timer = setTimeout(() => resolve("unhealthy"), timeout_ms);
  });
  try {
    const health = await Promise.race([health_check(), timeout]);
    return HEALTH_STATES.includes(health) ? health : "unhealthy";
  } catch {
    return "unhealthy";
  } finally {
    clearTimeout(timer);
  }
}

function addSignalHandlers(leave: () => Promise<void>): () => void {
  const handler = () => {
    leave().catch((error) => console.error(`draft process: leave failed: ${error}`));
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, handler);
  return () => {
    for (const signal of signals) Deno.removeSignalListener(signal, handler);
  };
}

/** The default {@link PollScheduler}: a timer of the process's own. */
function everyInterval(interval_ms: number, poll: () => void): () => void {
  const timer = setInterval(poll, interval_ms);
  return () => clearInterval(timer);
}

async function defaultTransport(): Promise<ProcessTransport> {
  const { RegistryTransport } = await import("./registry_transport.ts");
  return await RegistryTransport.create();
}
