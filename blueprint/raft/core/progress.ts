/**
 * The leader's per-follower replication state: probe / replicate / snapshot, with a bounded
 * window of in-flight appends (count and bytes), as in etcd-io/raft's tracker.
 *
 * @module
 */
import { ProgressState } from "./types.ts";

/** A bounded ring of in-flight append messages, each identified by its last index. */
export class Inflights {
  readonly #max_count: number;
  readonly #max_bytes: number;
  #indexes: number[] = [];
  #sizes: number[] = [];
  #bytes = 0;

  /** A window of `max_count` messages (≥ 1) and `max_bytes` (0 = unlimited). */
  constructor(max_count: number, max_bytes: number) {
    if (!Number.isInteger(max_count) || max_count < 1) {
      throw new RangeError(`max_inflight_msgs must be an integer ≥ 1, got ${max_count}`);
    }
    this.#max_count = max_count;
    this.#max_bytes = max_bytes;
  }

  /** Record an append ending at `index` carrying `size_bytes`. */
  add(index: number, size_bytes: number): void {
    if (this.full()) throw new Error("raft invariant: add to a full inflights window");
    this.#indexes.push(index);
    this.#sizes.push(size_bytes);
    this.#bytes += size_bytes;
  }

  /** Release every message whose last index is ≤ `index`. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.#indexes.length && this.#indexes[n] <= index) {
      this.#bytes -= this.#sizes[n];
      n++;
    }
    if (n > 0) {
      this.#indexes.splice(0, n);
      this.#sizes.splice(0, n);
    }
  }

  /** Release the oldest message (a heartbeat response unblocks a full window). */
  freeFirstOne(): void {
    if (this.#indexes.length > 0) this.freeLE(this.#indexes[0]);
  }

  /** Whether no more messages may be sent. */
  full(): boolean {
    return this.#indexes.length >= this.#max_count ||
      (this.#max_bytes > 0 && this.#bytes >= this.#max_bytes);
  }

  /** Messages in flight. */
  count(): number {
    return this.#indexes.length;
  }

  /** Forget everything. */
  reset(): void {
    this.#indexes = [];
    this.#sizes = [];
    this.#bytes = 0;
  }
}

/** Replication progress of one member. */
export class Progress {
  /** Highest index known replicated. */
  match = 0;
  /** Next index to send. */
  next: number;
  /** Replication state. */
  state: ProgressState = ProgressState.Probe;
  /** Probe state: an append was sent and not yet answered (pause until a response). */
  probe_sent = false;
  /** Snapshot state: index of the snapshot being sent. */
  pending_snapshot = 0;
  /** Ticks spent in snapshot state (a lost snapshot is retried after a timeout). */
  snapshot_elapsed_ticks = 0;
  /** Heard from since the last CheckQuorum round. */
  recent_active = true;
  /** Whether the member is a learner. */
  is_learner: boolean;
  /** Appends in flight (replicate state). */
  readonly inflights: Inflights;

  /** Start probing at `next`. */
  constructor(next: number, is_learner: boolean, max_inflight: number, max_bytes: number) {
    this.next = next;
    this.is_learner = is_learner;
    this.inflights = new Inflights(max_inflight, max_bytes);
  }

  #resetState(state: ProgressState): void {
    this.probe_sent = false;
    this.pending_snapshot = 0;
    this.snapshot_elapsed_ticks = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Probe from just after `match` (or after a snapshot that was being sent). */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pending_snapshot;
      this.#resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  /** Stream appends optimistically from just after `match`. */
  becomeReplicate(): void {
    this.#resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  /** Pause while the snapshot at `snapshot_index` is sent. */
  becomeSnapshot(snapshot_index: number): void {
    this.#resetState(ProgressState.Snapshot);
    this.pending_snapshot = snapshot_index;
  }

  /** Acknowledged up to `index`; returns whether match advanced. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probe_sent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Replicate state: assume the append ending at `index` will succeed. */
  optimisticUpdate(index: number): void {
    this.next = index + 1;
  }

  /**
   * A rejection of the append at `rejected`; move `next` back using the follower's hint.
   * Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, match_hint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, match_hint + 1), this.match + 1, 1);
    this.probe_sent = false;
    return true;
  }

  /** Whether sending appends to this member is paused. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probe_sent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
