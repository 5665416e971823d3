/**
 * A reader of the registry: Query with filters, Get one record, Watch changes. What the CLI
 * and the tests use to see what processes report.
 *
 * @module
 */
import { parseEndpoints } from "../client/mod.ts";
import {
  type GetRequest,
  type GetResponse,
  type QueryRequest,
  type QueryResponse,
  RegistryEventType,
  type RegistryWatchRequest,
  type RegistryWatchResponse,
} from "../../shared/proto/draft/mod.ts";
import { fromServiceError, RpcError, Status } from "../../shared/rpc/mod.ts";
import { RegistryChannels } from "./registry_transport.ts";
import type { HealthState, RunningState } from "./types.ts";
import {
  healthToWire,
  labelsToWire,
  type ProcessRecord,
  recordFromWire,
  runningStateToWire,
} from "./wire_mapping.ts";
import { HealthState as WireHealth } from "../../shared/proto/draft/mod.ts";

/** The deadline of Query and Get, in ms. */
export const READ_DEADLINE_MS = 5_000;
/** The most times a watch is reopened (on another member) after its stream fails. */
export const MAX_WATCH_REOPENS = 16;

/** Filters of {@link RegistryClient.query}; each given one must match. */
export interface QueryFilter {
  /** Exact process name. */
  readonly name?: string;
  /** Any of these running states. */
  readonly running_states?: readonly RunningState[];
  /** Any of these health states ("lost" for processes that stopped beating). */
  readonly health?: readonly (HealthState | "lost")[];
  /** Labels the record must all have. */
  readonly labels?: Readonly<Record<string, string>>;
  /** At most this many records (0 = the server's cap). */
  readonly limit?: number;
}

/** One registry change. */
export interface RegistryChange {
  /** "put" (created or changed, including marked lost) or "delete" (finalized or removed). */
  readonly type: "put" | "delete";
  /** The process. */
  readonly process_id: string;
  /** The record after the change; undefined on delete. */
  readonly record: ProcessRecord | undefined;
  /** The revision of the change. */
  readonly revision: bigint;
}

/** An open watch; {@link RegistryWatch.close} stops it. */
export interface RegistryWatch {
  /** Stops the watch. */
  close(): void;
  /** Resolves when the watch ended: undefined after close, the error otherwise. */
  readonly done: Promise<Error | undefined>;
}

/**
 * Reads the registry through any of several members.
 *
 * @example
 * ```ts
 * const registry = await RegistryClient.connect("127.0.0.1:2221,127.0.0.1:2222");
 * const { records } = await registry.query({ name: "web", health: ["healthy"] });
 * registry.close();
 * ```
 */
export class RegistryClient {
  readonly #endpoints: readonly string[];
  readonly #channels: RegistryChannels;
  #preferred = 0;

  private constructor(endpoints: readonly string[], channels: RegistryChannels) {
    this.#endpoints = endpoints;
    this.#channels = channels;
  }

  /**
   * Makes a client of the members at `endpoints` (connects on first use).
   *
   * @param endpoints `host:port` list or comma-separated text
   */
  static async connect(endpoints: string | readonly string[]): Promise<RegistryClient> {
    return new RegistryClient(parseEndpoints(endpoints), await RegistryChannels.create());
  }

  /**
   * The records matching every filter, ordered by process id.
   *
   * @param filter name, states, health, labels, limit
   */
  async query(
    filter: QueryFilter = {},
  ): Promise<{ records: ProcessRecord[]; revision: bigint; more: boolean }> {
    const request: QueryRequest = {
      name: filter.name ?? "",
      running_states: (filter.running_states ?? []).map(runningStateToWire),
      health_states: (filter.health ?? []).map((h) =>
        h === "lost" ? WireHealth.UNKNOWN : healthToWire(h)
      ),
      labels: labelsToWire(filter.labels ?? {}),
      limit: filter.limit ?? 0,
    };
    const response = await this.#unary<QueryRequest, QueryResponse>("Query", request);
    return {
      records: (response.processes ?? []).map(recordFromWire),
      revision: response.revision ?? 0n,
      more: response.more ?? false,
    };
  }

  /**
   * One record; rejects with NOT_FOUND when there is no such process.
   *
   * @param process_id the process id
   */
  async get(process_id: string): Promise<{ record: ProcessRecord; revision: bigint }> {
    const response = await this.#unary<GetRequest, GetResponse>("Get", { process_id });
    if (response.process === undefined) {
      throw new Error(`the registry answered Get ${process_id} without a record`);
    }
    return { record: recordFromWire(response.process), revision: response.revision ?? 0n };
  }

  /**
   * Calls `on_changes` with every registry change from `start_revision` (0 = from now), in
   * revision order; reopened on another member after a failure, from the next revision.
   *
   * @param start_revision the first revision wanted, or 0n for changes from now
   * @param on_changes gets each batch of changes and the revision reached
   */
  watch(
    start_revision: bigint,
    on_changes: (changes: RegistryChange[], revision: bigint) => void,
  ): RegistryWatch {
    let closed = false;
    let cancel = () => {};
    let next_revision = start_revision;
    const done = (async (): Promise<Error | undefined> => {
      let last_error: Error | undefined;
      for (let reopen = 0; reopen <= MAX_WATCH_REOPENS && !closed; reopen++) {
        const endpoint = this.#endpoints[(this.#preferred + reopen) % this.#endpoints.length];
        const call = this.#channels.channel(endpoint).serverStream<
          RegistryWatchRequest,
          RegistryWatchResponse
        >(this.#channels.method("Watch"), { start_revision: next_revision });
        cancel = () => call.cancel();
        last_error = await new Promise<Error | undefined>((resolve) => {
          call.on("data", (response: RegistryWatchResponse) => {
            const changes = (response.events ?? []).map((event): RegistryChange => ({
              type: event.type === RegistryEventType.DELETE ? "delete" : "put",
              process_id: event.process_id ?? "",
              record: event.process ? recordFromWire(event.process) : undefined,
              revision: event.revision ?? 0n,
            }));
            const revision = response.revision ?? 0n;
            if (changes.length > 0) next_revision = changes[changes.length - 1].revision + 1n;
            else if (revision > 0n && next_revision === 0n) next_revision = revision + 1n;
            if (response.compacted) {
              return resolve(new WatchCompactedError(next_revision, response.compact_revision));
            }
            on_changes(changes, revision);
          });
          call.on("error", (error) => resolve(closed ? undefined : fromServiceError(error)));
          call.on("end", () => resolve(new Error(`${endpoint} ended the watch`)));
        });
        if (closed || !worthReopening(last_error)) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** reopen)));
      }
      return closed ? undefined : last_error;
    })();
    return {
      close() {
        closed = true;
        cancel();
      },
      done,
    };
  }

  /** Closes the connections. */
  close(): void {
    this.#channels.close();
  }

  /** One unary call, tried on each member in turn while members are unreachable. */
  async #unary<Req, Res>(method: string, request: Req): Promise<Res> {
    let last_error: unknown;
    for (let attempt = 0; attempt < this.#endpoints.length; attempt++) {
      const index = (this.#preferred + attempt) % this.#endpoints.length;
      try {
        const response = await this.#channels.channel(this.#endpoints[index]).unary<Req, Res>(
          this.#channels.method(method),
          request as never,
          { deadline_ms: READ_DEADLINE_MS },
        );
        this.#preferred = index;
        return response;
      } catch (error) {
        if (!isUnavailable(error)) throw error;
        last_error = error;
      }
    }
    const reason = last_error instanceof Error ? last_error.message : String(last_error);
    throw new RpcError(
      Status.UNAVAILABLE,
      `no registry member (${this.#endpoints.join(", ")}) answered ${method}: ${reason}`,
    );
  }
}

/** A watch asked for revisions the registry no longer keeps; it cannot resume without a gap. */
export class WatchCompactedError extends Error {
  /** The revision the watch asked for. */
  readonly start_revision: bigint;
  /** The revision the registry compacted up to, if it said. */
  readonly compact_revision: bigint | undefined;

  /**
   * Makes the error naming both revisions.
   *
   * @param start_revision the revision asked for
   * @param compact_revision the oldest revision still kept
   */
  constructor(start_revision: bigint, compact_revision: bigint | undefined) {
    super(
      `watch from revision ${start_revision} cannot resume: compacted up to ${compact_revision}`,
    );
    this.name = "WatchCompactedError";
    this.start_revision = start_revision;
    this.compact_revision = compact_revision;
  }
}

/** Errors after which the same watch may continue elsewhere without a gap. */
function worthReopening(error: Error | undefined): boolean {
  if (error === undefined || error instanceof WatchCompactedError) return false;
  const code = (error as RpcError).code;
  return code === undefined || code === Status.UNAVAILABLE || code === Status.DEADLINE_EXCEEDED ||
    code === Status.CANCELLED || code === Status.INTERNAL || code === Status.UNKNOWN ||
    code === Status.ABORTED;
}

function isUnavailable(error: unknown): boolean {
  const code = (error as RpcError | undefined)?.code;
  return code === Status.UNAVAILABLE || code === Status.DEADLINE_EXCEEDED;
}
