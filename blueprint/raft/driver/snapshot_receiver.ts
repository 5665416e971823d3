/**
 * The gate between a snapshot message and the Raft core. A snapshot whose data is a
 * checkpoint descriptor is stepped into the core only once its files are fetched, verified
 * and staged on disk (as etcd receives the database file before the message reaches Raft):
 * so whatever Raft persists about the snapshot, the state it names is already here. A failed
 * fetch is reported to the sender, whose leader then retries later.
 *
 * Decisions only: fetching, reporting and re-delivery are the caller's I/O.
 *
 * @module
 */
import type { Message } from "../core/mod.ts";
import { decodeDescriptor, isDescriptor, type SnapshotDescriptor } from "../snapshot/mod.ts";

/** What the gate needs from the worker. */
export interface SnapshotReceiverIo {
  /** The core's commit index (a snapshot at or below it needs no data). */
  committedIndex(): number;
  /** Whether checkpoint `id` is staged and complete. */
  isStaged(id: string): boolean;
  /** Fetches and stages the checkpoint from `from`. */
  fetch(from: string, descriptor: SnapshotDescriptor): Promise<void>;
  /** Hands the held message back to the loop (it passes the gate this time). */
  redeliver(payload: Uint8Array): void;
  /** Tells the sender how the transfer ended. */
  report(to: string, descriptor: SnapshotDescriptor, ok: boolean, reason: string): void;
  /** A line for the log. */
  log(line: string): void;
}

/**
 * Holds checkpoint snapshots until their files are staged; one fetch at a time (a snapshot
 * arriving meanwhile is dropped: its leader resends it after its snapshot timeout).
 *
 * @example
 * ```ts
 * const gate = new SnapshotReceiver(io);
 * if (gate.admit(message, payload)) node.step(message);
 * ```
 */
export class SnapshotReceiver {
  readonly #io: SnapshotReceiverIo;
  #fetching: string | null = null;
  /** Fetches that staged their checkpoint (for status). */
  fetched = 0;
  /** Fetches that failed and were reported (for status). */
  failed = 0;

  /** @param io see {@link SnapshotReceiverIo} */
  constructor(io: SnapshotReceiverIo) {
    this.#io = io;
  }

  /** The checkpoint being fetched, if any. */
  get fetching(): string | null {
    return this.#fetching;
  }

  /** Whether `message` may be stepped now; if not, the gate has taken care of it. */
  admit(message: Message, payload: Uint8Array): boolean {
    const data = message.snapshot?.data;
    if (!data || !isDescriptor(data)) return true; // inline state: nothing to fetch
    if (message.snapshot!.meta.index <= this.#io.committedIndex()) return true; // only acks
    let descriptor: SnapshotDescriptor;
    try {
      descriptor = decodeDescriptor(data);
    } catch (error) {
      this.#io.log(`dropping a snapshot from ${message.from}: ${(error as Error).message}`);
      return false;
    }
    if (descriptor.applied_index !== message.snapshot!.meta.index) {
      this.#io.log(
        `dropping a snapshot from ${message.from}: its index ${message.snapshot!.meta.index} ` +
          `differs from its checkpoint's ${descriptor.applied_index}`,
      );
      return false;
    }
    if (this.#io.isStaged(descriptor.checkpoint_id)) return true;
    if (this.#fetching !== null) return false;
    this.#start(message.from, descriptor, payload);
    return false;
  }

  #start(from: string, descriptor: SnapshotDescriptor, payload: Uint8Array): void {
    this.#fetching = descriptor.checkpoint_id;
    this.#io.log(
      `fetching checkpoint ${descriptor.checkpoint_id} (${descriptor.files.length} files, ` +
        `${descriptor.size_bytes} bytes) from ${from}`,
    );
    this.#io.fetch(from, descriptor).then(
      () => {
        this.#fetching = null;
        this.fetched++;
        this.#io.redeliver(payload);
      },
      (error: Error) => {
        this.#fetching = null;
        this.failed++;
        this.#io.log(`checkpoint ${descriptor.checkpoint_id} from ${from}: ${error.message}`);
        this.#io.report(from, descriptor, false, error.message);
      },
    );
  }
}
