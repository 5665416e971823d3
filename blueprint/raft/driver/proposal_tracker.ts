/**
 * Main-side bookkeeping of proposals and read requests: ids, bounded pending sets, and the
 * rules that settle them from the worker's events. Pure: no channel, no timers.
 *
 * @module
 */
import type { Entry } from "../core/mod.ts";

/** Where a committed proposal landed. */
export interface CommitPosition {
  /** Log index of the entry. */
  index: number;
  /** Term it was committed in. */
  term: number;
}

/** A proposal or read was refused, or its outcome is unknown because leadership was lost. */
export class ProposalFailedError extends Error {
  /** @param message what happened, and whether the command may still commit */
  constructor(message: string) {
    super(message);
    this.name = "ProposalFailedError";
  }
}

/** More proposals are pending than allowed; retry after some complete. */
export class TooManyPendingError extends Error {
  /** @param limit the bound that was hit */
  constructor(readonly limit: number, what: string) {
    super(`${what}: ${limit} already pending; wait for some to complete`);
    this.name = "TooManyPendingError";
  }
}

interface Pending<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

interface Placed {
  id: number;
  term: number;
}

/** Tracks proposals from `register` to commit (or failure). */
export class ProposalTracker {
  #next_id = 1;
  #pending = new Map<number, Pending<CommitPosition>>();
  #by_index = new Map<number, Placed>();

  /** @param max_pending most proposals in flight at once */
  constructor(readonly max_pending: number) {
    if (!Number.isInteger(max_pending) || max_pending < 1) {
      throw new RangeError(`max_pending must be an integer >= 1, got ${max_pending}`);
    }
  }

  /** Proposals in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /** Allocates an id and a promise for a new proposal; throws {@link TooManyPendingError}. */
  register(): { id: number; promise: Promise<CommitPosition> } {
    if (this.#pending.size >= this.max_pending) {
      throw new TooManyPendingError(this.max_pending, "proposals");
    }
    const id = this.#next_id++;
    const promise = new Promise<CommitPosition>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    return { id, promise };
  }

  /** The leader appended proposals `ids` at consecutive indices from `first_index`. */
  accepted(first_index: number, term: number, ids: number[]): void {
    ids.forEach((id, i) => {
      if (this.#pending.has(id)) this.#by_index.set(first_index + i, { id, term });
    });
  }

  /** The worker refused proposals `ids`. */
  rejected(reason: string, ids: number[]): void {
    for (const id of ids) this.#settle(id)?.reject(new ProposalFailedError(reason));
  }

  /** An entry was committed: settles the proposal placed at its index, if any. */
  committed(entry: Entry): void {
    const placed = this.#by_index.get(entry.index);
    if (placed === undefined) return;
    this.#by_index.delete(entry.index);
    const pending = this.#settle(placed.id);
    if (!pending) return;
    if (placed.term === entry.term) {
      pending.resolve({ index: entry.index, term: entry.term });
    } else {
      pending.reject(
        new ProposalFailedError(
          `proposal at index ${entry.index} (term ${placed.term}) was replaced by an entry of ` +
            `term ${entry.term} after a leader change; it did not commit`,
        ),
      );
    }
  }

  /** This node stopped leading: every pending proposal fails (it may or may not commit). */
  leadershipLost(detail: string): void {
    this.failAll(
      new ProposalFailedError(
        `leadership lost (${detail}); the proposal may or may not have committed`,
      ),
    );
  }

  /** Fails every pending proposal with `err`. */
  failAll(err: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#by_index.clear();
    for (const p of pending) p.reject(err);
  }

  #settle(id: number): Pending<CommitPosition> | undefined {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    return pending;
  }
}

/** Tracks ReadIndex requests until their index is known and applied on this node. */
export class ReadTracker {
  #pending = new Map<number, Pending<number>>();
  /** Read points known, waiting for the applied index to reach them. */
  #waiting: { id: number; index: number }[] = [];
  #applied_index = 0;

  /** @param max_pending most reads in flight at once */
  constructor(readonly max_pending: number) {}

  /**
   * Registers read `id` (unique among the caller's requests); throws
   * {@link TooManyPendingError}.
   */
  register(id: number): Promise<number> {
    if (this.#pending.size >= this.max_pending) {
      throw new TooManyPendingError(this.max_pending, "reads");
    }
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
  }

  /** Whether read `id` is pending. */
  has(id: number): boolean {
    return this.#pending.has(id);
  }

  /** The read index for request `id` is `index`. */
  readPoint(id: number, index: number): void {
    if (!this.#pending.has(id)) return;
    if (index <= this.#applied_index) this.#resolve(id, index);
    else this.#waiting.push({ id, index });
  }

  /** Entries up to `index` were handed to the application. */
  appliedTo(index: number): void {
    this.#applied_index = Math.max(this.#applied_index, index);
    if (this.#waiting.length === 0) return;
    const still: { id: number; index: number }[] = [];
    for (const w of this.#waiting) {
      if (w.index <= this.#applied_index) this.#resolve(w.id, w.index);
      else still.push(w);
    }
    this.#waiting = still;
  }

  /** The read `id` failed. */
  failed(id: number, reason: string): void {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    pending?.reject(new ProposalFailedError(reason));
  }

  /** Fails every pending read with `err`. */
  failAll(err: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#waiting = [];
    for (const p of pending) p.reject(err);
  }

  #resolve(id: number, index: number): void {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    pending?.resolve(index);
  }
}
