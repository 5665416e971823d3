/**
 * In-memory fan-out of applied events to watchers. A watcher starts at a revision: it first
 * reads history from the event log in bounded chunks, then switches to live events, with no
 * gap and no duplicate across the switch. Each watcher buffers a bounded number of live
 * events; one that falls further behind is cancelled with a reason saying where to resume.
 *
 * Why the switch is exact: the watcher's cursor is the next (revision, sub-revision) it has
 * not delivered. Catch-up reads the log from the cursor (synchronously, so no apply lands in
 * the middle of a read); once a read reaches the end of the log, every event in storage is
 * behind the cursor, and live events are delivered only when at or after the cursor.
 *
 * @module
 */
import { yieldToEventLoop } from "../../shared/runtime/mod.ts";
import { inKeyRange } from "./keyspace.ts";
import type { AppliedListener, EventPosition, KvStateMachine } from "./state_machine.ts";
import { type KeyValue, KvError, type KvEvent } from "./types.ts";

/** Options of a {@link WatchHub}. */
export interface WatchHubOptions {
  /** Live events a watcher may buffer before it is cancelled as too slow (default 4096). */
  max_buffered_events?: number;
  /** Events read from the log per catch-up step (default 256). */
  catch_up_chunk_events?: number;
  /** Most events one `next()` returns (default 1024). */
  max_batch_events?: number;
  /** Most watchers at once (default 10000). */
  max_watchers?: number;
}

/** What a watcher asks for. */
export interface WatchRequest {
  /** First key. */
  key: Uint8Array;
  /** etcd range end: absent/empty = `key` alone, `[0]` = all keys >= key, else [key, end). */
  range_end?: Uint8Array;
  /** First revision to deliver; 0 or absent = the next one (live only). */
  start_revision?: number;
  /** Also deliver each key's previous version (absent when created or compacted away). */
  prev_kv?: boolean;
}

/** An event with its revision. */
export interface WatchEvent {
  /** Revision of the change. */
  revision: number;
  /** The change. */
  event: KvEvent;
  /** The key's version before the change, when asked for with prev_kv and still readable. */
  prev_kv?: KeyValue;
}

/** One result of {@link Watcher.next}. */
export type WatchResult =
  | { type: "events"; events: WatchEvent[] }
  | {
    type: "cancelled";
    /** Why. */
    reason: string;
    /** Set when cancelled because history was compacted. */
    compact_revision?: number;
    /** The first revision not delivered (resume a new watch here). */
    resume_revision: number;
  };

/** Empty catch-up chunks between two macrotask yields. */
const YIELD_EVERY_EMPTY_CHUNKS = 16;

/** Reasons a watcher ends. */
export const CANCEL_REASON = {
  client: "cancelled by the client",
  slow: "watcher too slow",
  compacted: "required revision has been compacted",
  closed: "watch hub closed",
} as const;

/** One watcher. Call `next()` in a loop; one call at a time. */
export class Watcher {
  /** Id, unique within the hub. */
  readonly id: number;
  readonly #hub: WatchHub;
  readonly #request: WatchRequest;
  #cursor: EventPosition;
  #live: boolean;
  #queue: WatchEvent[] = [];
  #cancelled: WatchResult | undefined;
  #wake: (() => void) | undefined;

  /** @internal created by {@link WatchHub.watch} */
  constructor(
    hub: WatchHub,
    id: number,
    request: WatchRequest,
    start: EventPosition,
    live: boolean,
  ) {
    this.#hub = hub;
    this.id = id;
    this.#request = request;
    this.#cursor = start;
    this.#live = live;
  }

  /** Whether the watcher was cancelled. */
  get cancelled(): boolean {
    return this.#cancelled !== undefined;
  }

  /** The next revision this watcher would deliver. */
  get nextRevision(): number {
    return this.#queue.length > 0 ? this.#queue[0].revision : this.#cursor.revision;
  }

  /**
   * The next non-empty batch of events in revision order, or the cancellation (returned
   * again on every later call).
   */
  async next(): Promise<WatchResult> {
    // Each pass returns, waits for a wake-up, or advances the catch-up cursor through a
    // finite log: the loop ends.
    for (let empty_chunks = 0;; empty_chunks++) {
      if (this.#cancelled !== undefined) return this.#cancelled;
      if (this.#queue.length > 0) {
        return { type: "events", events: this.#queue.splice(0, this.#hub.max_batch_events) };
      }
      if (!this.#live) {
        const events = this.#catchUp();
        if (events.length > 0) return { type: "events", events };
        // Chunks with nothing for this watcher: let applies and I/O (macrotasks) run now and
        // then instead of hogging the isolate through a long log.
        if (!this.#live) {
          await (empty_chunks % YIELD_EVERY_EMPTY_CHUNKS === YIELD_EVERY_EMPTY_CHUNKS - 1
            ? yieldToEventLoop()
            : Promise.resolve());
        }
        continue;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Stops the watcher; a pending or later `next()` reports the reason. */
  cancel(reason: string = CANCEL_REASON.client, compact_revision?: number): void {
    if (this.#cancelled !== undefined) return;
    this.#cancelled = { type: "cancelled", reason, resume_revision: this.nextRevision };
    if (compact_revision !== undefined) this.#cancelled.compact_revision = compact_revision;
    this.#queue = [];
    this.#hub.forget(this);
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** One bounded catch-up read from the log; switches to live at the end of the log. */
  #catchUp(): WatchEvent[] {
    const chunk = this.#hub.catch_up_chunk_events;
    let read;
    try {
      read = this.#hub.machine.readEvents(this.#cursor, chunk);
    } catch (err) {
      if (!(err instanceof KvError) || err.code !== "compacted") throw err;
      this.cancel(`${CANCEL_REASON.compacted}: ${err.message}`, err.compact_revision);
      return [];
    }
    const matching = [];
    for (const item of read) {
      if (this.#matches(item.event)) matching.push(this.#withPrev(item));
      this.#cursor = { revision: item.revision, sub_revision: item.event.sub_revision + 1 };
    }
    if (read.length < chunk) this.#live = true;
    return matching;
  }

  /** Adds the key's version at revision - 1 when prev_kv was asked for. */
  #withPrev(item: WatchEvent): WatchEvent {
    if (this.#request.prev_kv !== true) return item;
    const before = item.revision - 1;
    if (before < 1 || before < this.#hub.machine.compactRevision) return item;
    const [prev_kv] =
      this.#hub.machine.range(item.event.kv.key, undefined, { revision: before }).kvs;
    return prev_kv === undefined ? item : { ...item, prev_kv };
  }

  #matches(event: KvEvent): boolean {
    return inKeyRange(event.kv.key, this.#request.key, this.#request.range_end);
  }

  /** @internal Delivers the live events of `revision` (skipping those before the cursor). */
  deliver(revision: number, events: readonly KvEvent[]): void {
    if (!this.#live || this.#cancelled !== undefined) return;
    if (revision < this.#cursor.revision) return;
    for (const event of events) {
      if (revision === this.#cursor.revision && event.sub_revision < this.#cursor.sub_revision) {
        continue;
      }
      if (this.#matches(event)) this.#queue.push(this.#withPrev({ revision, event }));
    }
    this.#cursor = { revision: revision + 1, sub_revision: 0 };
    if (this.#queue.length > this.#hub.max_buffered_events) {
      const resume = this.#queue[0].revision;
      this.cancel(
        `${CANCEL_REASON.slow}: more than ${this.#hub.max_buffered_events} events buffered; ` +
          `watch again from revision ${resume}`,
      );
      return;
    }
    if (this.#queue.length > 0) this.#wakeUp();
  }

  /** @internal After a restore the log may hold revisions never delivered live: re-read. */
  resync(): void {
    if (this.#cancelled !== undefined) return;
    if (this.#queue.length > 0) {
      this.#cursor = {
        revision: this.#queue[0].revision,
        sub_revision: this.#queue[0].event.sub_revision,
      };
    }
    this.#queue = [];
    this.#live = false;
    this.#wakeUp();
  }
}

/**
 * Fans applied events out to watchers.
 *
 * @example
 * ```ts
 * const hub = new WatchHub(machine);
 * const watcher = hub.watch({ key: bytes("a"), range_end: bytes("b"), start_revision: 5 });
 * const result = await watcher.next(); // { type: "events", events: [...] } or cancelled
 * ```
 */
export class WatchHub implements AppliedListener {
  /** The state machine watched. */
  readonly machine: KvStateMachine;
  /** See {@link WatchHubOptions.max_buffered_events}. */
  readonly max_buffered_events: number;
  /** See {@link WatchHubOptions.catch_up_chunk_events}. */
  readonly catch_up_chunk_events: number;
  /** See {@link WatchHubOptions.max_batch_events}. */
  readonly max_batch_events: number;
  readonly #max_watchers: number;
  readonly #watchers = new Map<number, Watcher>();
  readonly #remove_listener: () => void;
  #next_id = 1;

  /** A hub fed by `machine`'s applies. */
  constructor(machine: KvStateMachine, options: WatchHubOptions = {}) {
    this.machine = machine;
    this.max_buffered_events = positive(options.max_buffered_events ?? 4096, "max_buffered_events");
    this.catch_up_chunk_events = positive(
      options.catch_up_chunk_events ?? 256,
      "catch_up_chunk_events",
    );
    this.max_batch_events = positive(options.max_batch_events ?? 1024, "max_batch_events");
    this.#max_watchers = positive(options.max_watchers ?? 10_000, "max_watchers");
    this.#remove_listener = machine.addListener(this);
  }

  /** Number of active watchers. */
  get size(): number {
    return this.#watchers.size;
  }

  /**
   * Starts a watcher. A start revision below the compact revision gives a watcher that is
   * already cancelled with the compact revision (as etcd).
   *
   * @throws KvError(invalid_argument) for a bad request or too many watchers.
   */
  watch(request: WatchRequest): Watcher {
    if (!(request.key instanceof Uint8Array) || request.key.length === 0) {
      throw new KvError("invalid_argument", "watch key must be a non-empty Uint8Array");
    }
    if (request.range_end !== undefined && !(request.range_end instanceof Uint8Array)) {
      throw new KvError("invalid_argument", "watch range_end must be a Uint8Array when given");
    }
    const start_revision = request.start_revision ?? 0;
    if (!Number.isSafeInteger(start_revision) || start_revision < 0) {
      throw new KvError(
        "invalid_argument",
        `start_revision must be an integer >= 0, got ${start_revision}`,
      );
    }
    if (this.#watchers.size >= this.#max_watchers) {
      throw new KvError("invalid_argument", `too many watchers (limit ${this.#max_watchers})`);
    }
    const current = this.machine.revision;
    const first = start_revision === 0 ? current + 1 : start_revision;
    const watcher = new Watcher(this, this.#next_id++, request, {
      revision: first,
      sub_revision: 0,
    }, first > current);
    this.#watchers.set(watcher.id, watcher);
    const compact = this.machine.compactRevision;
    if (first < compact) {
      watcher.cancel(
        `${CANCEL_REASON.compacted}: required revision ${first} has been compacted ` +
          `(compact revision ${compact})`,
        compact,
      );
    }
    return watcher;
  }

  /** @internal {@link AppliedListener}: fans the events of `revision` out. */
  applied(revision: number, events: readonly KvEvent[]): void {
    for (const watcher of [...this.#watchers.values()]) watcher.deliver(revision, events);
  }

  /** @internal {@link AppliedListener}: every watcher re-reads the log from its cursor. */
  restored(): void {
    for (const watcher of this.#watchers.values()) watcher.resync();
  }

  /** @internal Drops a cancelled watcher. */
  forget(watcher: Watcher): void {
    this.#watchers.delete(watcher.id);
  }

  /** Cancels every watcher and stops listening. */
  close(): void {
    for (const watcher of [...this.#watchers.values()]) watcher.cancel(CANCEL_REASON.closed);
    this.#remove_listener();
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new KvError("invalid_argument", `${name} must be a positive integer, got ${value}`);
  }
  return value;
}
