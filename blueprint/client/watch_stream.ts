/**
 * A watch that survives server failures: events of a key, prefix or range in revision order,
 * resumed on another endpoint from the revision after the last one delivered, so the consumer
 * sees no gap and no duplicate. Events are buffered up to a bound; when the consumer falls
 * behind, the stream is paused (HTTP/2 flow control pushes back on the server).
 *
 * @module
 */
import type {
  Encodable,
  Event,
  MethodSchema,
  WatchRequest,
  WatchResponse,
} from "../../shared/proto/mod.ts";
import type { RpcChannel } from "../../shared/rpc/mod.ts";
import type { grpc } from "../../deps.ts";
import { asRpcError } from "./client_error.ts";
import { type Bytes, rangeEndFor } from "./key_bytes.ts";
import { backoffMs } from "./retry_policy.ts";

type WatchCall = grpc.ClientDuplexStream<Encodable<WatchRequest>, WatchResponse>;

/** Options of a watch. */
export interface WatchOptions {
  /** Watch every key with this prefix. */
  readonly prefix?: boolean;
  /** End of the watched range `[key, range_end)`. */
  readonly range_end?: Bytes;
  /** First revision to deliver (0: changes after the watch starts). */
  readonly start_revision?: bigint;
  /** Deliver the previous pair with each event. */
  readonly prev_kv?: boolean;
  /** Most undelivered batches kept before the stream is paused. 1024. */
  readonly max_buffered_batches?: number;
  /** Most reconnections in a row without a response before the watch fails. 20. */
  readonly max_reconnects?: number;
}

/** Events of one or more consecutive revisions, in order. */
export interface WatchBatch {
  /** The events. */
  readonly events: Event[];
  /** The endpoint that sent them. */
  readonly endpoint: string;
}

/** What a watch needs from its client: channels, the current endpoint, failure notes. */
export interface WatchHost {
  /** The endpoint to use next. */
  readonly endpoint: string;
  /** The channel to an endpoint. */
  channelTo(endpoint: string): RpcChannel;
  /** Notes a failure at an endpoint (moves the client on). */
  noteFailure(endpoint: string, leader_address: string, switch_endpoint: boolean): void;
}

/**
 * A resumable watch; iterate it with `for await`. Ends when closed; throws when the start
 * revision was compacted or the servers stay unreachable past `max_reconnects`.
 *
 * @example
 * ```ts
 * const watch = client.watch("config/", { prefix: true });
 * for await (const batch of watch) {
 *   for (const event of batch.events) console.log(event.type, event.kv?.mod_revision);
 * }
 * ```
 */
export class WatchStream implements AsyncIterable<WatchBatch> {
  /** The next revision to deliver; the stream resumes from here. 0 until known. */
  next_revision: bigint;
  /** Reconnections so far (for tests and diagnostics). */
  reconnects = 0;
  /** Settles when the watch ends, rejecting with its error if it failed. */
  readonly closed: Promise<void>;

  readonly #host: WatchHost;
  readonly #method: MethodSchema;
  readonly #request: Encodable<WatchRequest>["create_request"] & object;
  readonly #max_buffered: number;
  readonly #max_reconnects: number;
  readonly #buffer: WatchBatch[] = [];
  #waiter: (() => void) | undefined;
  #call: WatchCall | undefined;
  #paused = false;
  #done = false;
  #error: Error | undefined;
  #failures_in_row = 0;
  #resolve_closed!: () => void;
  #reject_closed!: (error: Error) => void;
  #resolve_ready!: () => void;
  #reject_ready!: (error: Error) => void;
  /** Resolves once the first stream confirmed the watch (the server will send its events). */
  readonly ready: Promise<void>;

  /**
   * Starts the watch; use {@link BlueprintClient.watch}.
   *
   * @param host the client
   * @param method `Watch.Watch`
   * @param key the key, prefix or range start
   * @param options range, start revision, bounds
   */
  constructor(host: WatchHost, method: MethodSchema, key: Uint8Array, options: WatchOptions) {
    this.#host = host;
    this.#method = method;
    this.#request = {
      key,
      range_end: rangeEndFor(key, options),
      prev_kv: options.prev_kv ?? false,
    };
    this.next_revision = options.start_revision ?? 0n;
    this.#max_buffered = options.max_buffered_batches ?? 1024;
    this.#max_reconnects = options.max_reconnects ?? 20;
    if (!(this.#max_buffered >= 1) || !(this.#max_reconnects >= 1)) {
      throw new RangeError("max_buffered_batches and max_reconnects must be at least 1");
    }
    this.closed = new Promise((resolve, reject) => {
      this.#resolve_closed = resolve;
      this.#reject_closed = reject;
    });
    this.closed.catch(() => {}); // the iterator reports the error; avoid an unhandled rejection
    this.ready = new Promise((resolve, reject) => {
      this.#resolve_ready = resolve;
      this.#reject_ready = reject;
    });
    this.ready.catch(() => {}); // reported through the iterator too
    this.#open();
  }

  /** Stops the watch; the iterator ends after the batches already buffered. */
  close(): void {
    this.#finish(undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    while (true) {
      const batch = this.#buffer.shift();
      if (batch !== undefined) {
        if (this.#paused && this.#buffer.length <= this.#max_buffered / 2) {
          this.#paused = false;
          this.#call?.resume();
        }
        yield batch;
        continue;
      }
      if (this.#done) {
        if (this.#error) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  #open(): void {
    if (this.#done) return;
    const endpoint = this.#host.endpoint;
    let call: WatchCall;
    try {
      call = this.#host.channelTo(endpoint).bidiStream<WatchRequest, WatchResponse>(this.#method);
    } catch (error) {
      this.#finish(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#call = call;
    let ended = false;
    const onEnd = (error: Error | undefined) => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      if (this.#done) return;
      this.#reconnect(endpoint, error);
    };
    call.on("data", (response: WatchResponse) => this.#onResponse(endpoint, response));
    call.on("error", (error: Error) => onEnd(error));
    call.on("end", () => onEnd(undefined));
    call.write({
      create_request: { ...this.#request, start_revision: this.next_revision },
    });
  }

  #onResponse(endpoint: string, response: WatchResponse): void {
    if (this.#done) return;
    this.#failures_in_row = 0;
    if (response.created) {
      if (this.next_revision === 0n && response.header) {
        this.next_revision = response.header.revision + 1n;
      }
      this.#resolve_ready();
    }
    if (response.canceled) {
      const reason = response.compact_revision > 0n
        ? `revision ${this.next_revision} was compacted (oldest kept: ${response.compact_revision})`
        : response.cancel_reason || "canceled by the server";
      this.#finish(new Error(`watch at ${endpoint}: ${reason}`));
      return;
    }
    for (let index = 1; index < response.events.length; index++) {
      const before = response.events[index - 1].kv?.mod_revision ?? 0n;
      if ((response.events[index].kv?.mod_revision ?? 0n) < before) {
        this.#finish(
          new Error(`watch at ${endpoint}: events out of revision order (a server bug)`),
        );
        return;
      }
    }
    // A resumed stream may repeat what was delivered before the failure: skip it.
    const fresh = response.events.filter((event) =>
      (event.kv?.mod_revision ?? 0n) >= this.next_revision
    );
    if (fresh.length === 0) return;
    const last_revision = fresh[fresh.length - 1].kv!.mod_revision;
    this.next_revision = last_revision + 1n;
    this.#buffer.push({ events: fresh, endpoint });
    if (this.#buffer.length >= this.#max_buffered && !this.#paused) {
      this.#paused = true;
      this.#call?.pause();
    }
    this.#wake();
  }

  #reconnect(endpoint: string, error: Error | undefined): void {
    const rpc_error = error ? asRpcError(error) : undefined;
    this.#host.noteFailure(endpoint, rpc_error?.info.leader_address ?? "", true);
    this.#failures_in_row++;
    if (this.#failures_in_row > this.#max_reconnects) {
      this.#finish(
        new Error(
          `watch gave up after ${this.#max_reconnects} reconnections; last at ${endpoint}: ${
            rpc_error?.message ?? "stream ended"
          }`,
        ),
      );
      return;
    }
    this.reconnects++;
    const pause_ms = backoffMs(this.#failures_in_row, 50, 1_000, Math.random());
    setTimeout(() => this.#open(), pause_ms);
  }

  #finish(error: Error | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    if (error) {
      this.#reject_ready(error);
      this.#reject_closed(error);
    } else {
      this.#resolve_ready();
      this.#resolve_closed();
    }
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
