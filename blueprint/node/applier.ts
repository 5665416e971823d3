/**
 * The apply loop's core: takes committed Raft items in order, applies them to the KV state
 * machine and the member table, restores snapshots, and settles whoever waits for a request
 * (by origin and sequence) or for an applied index. No sockets, clocks or Raft here: the node
 * feeds it from `RaftNodeHandle.committed()`, tests feed it by hand.
 *
 * @module
 */
import type { CommittedItem, Snapshot } from "../raft/mod.ts";
import { EntryType } from "../raft/mod.ts";
import type { KvResponse, KvStateMachine, Origin } from "../kv/mod.ts";
import { MemberTable } from "./member_table.ts";
import { decodeEntryData } from "./node_entry.ts";

/** Most requests waiting for their apply at once (bounds the waiter table). */
export const MAX_WAITING_REQUESTS = 65_536;

/** Most readers waiting for an applied index at once. */
export const MAX_WAITING_READS = 65_536;

const NO_DATA = new Uint8Array(0);
const text_decoder = new TextDecoder();

/** The key of a request in the waiter table. */
export function originKey(origin: Origin): string {
  return `${origin.member_id}#${origin.sequence}`;
}

interface RequestWaiter {
  resolve(response: KvResponse): void;
  reject(error: Error): void;
}

interface IndexWaiter {
  index: number;
  resolve(): void;
  reject(error: Error): void;
}

/** What the applier tells the node about besides settled waiters. */
export interface ApplierHooks {
  /**
   * Installs a snapshot received from the leader: swaps its checkpoint in as the machine's
   * store (see `KvStateMachine.replaceStorage`). Without it a snapshot item is an error.
   */
  installSnapshot?(snapshot: Snapshot): Promise<void>;
  /** Called after the member table changed (a command or a restore). */
  membersChanged?(): void;
  /** Called after a conf change entry was applied. */
  confChanged?(): void;
}

/**
 * Applies committed items in order.
 *
 * @example
 * ```ts
 * const applier = new Applier(machine, { installSnapshot: (s) => node.install(s) });
 * const waiting = applier.waitFor({ member_id: "n1/ab", sequence: 1 });
 * for await (const items of raft.committedBatches()) await applier.applyAll(items);
 * ```
 */
export class Applier {
  /** The member metadata. */
  readonly members: MemberTable;
  readonly #machine: KvStateMachine;
  readonly #hooks: ApplierHooks;
  readonly #requests = new Map<string, RequestWaiter[]>();
  #index_waiters: IndexWaiter[] = [];
  #closed: Error | undefined;

  /** An applier over `machine` and the store it runs on. */
  constructor(machine: KvStateMachine, hooks: ApplierHooks = {}) {
    this.#machine = machine;
    this.#hooks = hooks;
    this.members = MemberTable.load(machine.storage);
  }

  /** The last applied Raft index. */
  get appliedIndex(): number {
    return this.#machine.appliedIndex;
  }

  /** Number of requests waiting for their apply. */
  get waitingRequests(): number {
    let count = 0;
    for (const list of this.#requests.values()) count += list.length;
    return count;
  }

  /**
   * Resolves with the response of the request from `origin` once it is applied (on this
   * node). Register before proposing: the apply may come before the proposal's promise.
   * `cancel` forgets the waiter (its promise then never settles).
   */
  waitFor(origin: Origin): { promise: Promise<KvResponse>; cancel(): void } {
    if (this.#closed) return { promise: Promise.reject(this.#closed), cancel() {} };
    if (this.#requests.size >= MAX_WAITING_REQUESTS) {
      return {
        promise: Promise.reject(
          new RangeError(`too many requests in flight (limit ${MAX_WAITING_REQUESTS})`),
        ),
        cancel() {},
      };
    }
    const key = originKey(origin);
    let waiter!: RequestWaiter;
    const promise = new Promise<KvResponse>((resolve, reject) => (waiter = { resolve, reject }));
    const list = this.#requests.get(key) ?? [];
    list.push(waiter);
    this.#requests.set(key, list);
    const cancel = () => {
      const current = this.#requests.get(key);
      if (!current) return;
      const left = current.filter((w) => w !== waiter);
      if (left.length === 0) this.#requests.delete(key);
      else this.#requests.set(key, left);
    };
    return { promise, cancel };
  }

  /** Resolves once `index` is applied on this node. */
  waitApplied(index: number): Promise<void> {
    if (index <= this.appliedIndex) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#index_waiters.length >= MAX_WAITING_READS) {
      return Promise.reject(new RangeError(`too many reads waiting (limit ${MAX_WAITING_READS})`));
    }
    return new Promise((resolve, reject) => this.#index_waiters.push({ index, resolve, reject }));
  }

  /**
   * Applies committed items in order, as {@link apply} would one by one, letting the state
   * machine write a run of consecutive KV entries together (see
   * `KvStateMachine.applyEntries`); settles the waiters they concern.
   */
  async applyAll(items: readonly CommittedItem[]): Promise<void> {
    let run: { index: number; term: number; request: Uint8Array }[] = [];
    for (const item of items) {
      if (item.kind === "entry" && item.entry.type !== EntryType.ConfChange) {
        const decoded = decodeEntryData(item.entry.data);
        if (decoded.kind === "kv") {
          run.push({ index: item.entry.index, term: item.entry.term, request: decoded.data });
          continue;
        }
      }
      await this.#applyRun(run);
      run = [];
      await this.apply(item);
    }
    await this.#applyRun(run);
  }

  async #applyRun(run: { index: number; term: number; request: Uint8Array }[]): Promise<void> {
    if (run.length === 0) return;
    const responses = await this.#machine.applyEntries(run);
    for (let i = 0; i < run.length; i++) {
      const response = responses[i];
      if (response) this.#settle(run[i].request, response);
    }
    this.#releaseReads();
  }

  /** Applies one committed item; settles the waiters it concerns. */
  async apply(item: CommittedItem): Promise<void> {
    if (item.kind === "snapshot") return await this.#install(item.snapshot);
    const entry = item.entry;
    if (entry.index <= this.appliedIndex) return; // replayed after a restart: already applied
    if (entry.type === EntryType.ConfChange) {
      await this.#machine.apply(entry.index, entry.term, NO_DATA);
      this.#hooks.confChanged?.();
    } else {
      const decoded = decodeEntryData(entry.data);
      if (decoded.kind === "kv") {
        const response = await this.#machine.apply(entry.index, entry.term, decoded.data);
        if (response) this.#settle(decoded.data, response);
      } else {
        if (
          decoded.kind === "node" &&
          await this.members.apply(this.#machine.storage, decoded.command)
        ) {
          this.#hooks.membersChanged?.();
        }
        // Advances the machine's applied index; an empty request is refused without effect.
        await this.#machine.apply(entry.index, entry.term, NO_DATA);
      }
    }
    this.#releaseReads();
  }

  #settle(data: Uint8Array, response: KvResponse): void {
    if (this.#requests.size === 0) return;
    let key: string;
    try {
      key = originKeyOfEncoded(data);
    } catch {
      return; // a malformed request was refused by the machine; nobody can be waiting for it
    }
    const waiters = this.#requests.get(key);
    if (!waiters) return;
    this.#requests.delete(key);
    for (const waiter of waiters) waiter.resolve(response);
  }

  #releaseReads(): void {
    if (this.#index_waiters.length === 0) return;
    const applied = this.appliedIndex;
    const still: IndexWaiter[] = [];
    for (const waiter of this.#index_waiters) {
      if (waiter.index <= applied) waiter.resolve();
      else still.push(waiter);
    }
    this.#index_waiters = still;
  }

  async #install(snapshot: Snapshot): Promise<void> {
    if (!this.#hooks.installSnapshot) {
      throw new Error(`snapshot at index ${snapshot.meta.index}: this applier cannot install one`);
    }
    await this.#hooks.installSnapshot(snapshot);
    if (this.appliedIndex < snapshot.meta.index) {
      throw new Error(
        `snapshot install left the store at index ${this.appliedIndex}, ` +
          `below the snapshot's ${snapshot.meta.index}`,
      );
    }
    // The member table and revision live in the new store: derive them again.
    this.members.reload(this.#machine.storage);
    this.#hooks.membersChanged?.();
    this.#hooks.confChanged?.();
    this.#releaseReads();
  }

  /** Fails every waiter with `reason` and refuses new ones. */
  close(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const list of this.#requests.values()) for (const waiter of list) waiter.reject(reason);
    this.#requests.clear();
    for (const waiter of this.#index_waiters) waiter.reject(reason);
    this.#index_waiters = [];
  }
}

/**
 * The origin key of an encoded KV request without decoding all of it: `u8 format | string
 * member_id | varint sequence` (the KV request codec's header).
 */
export function originKeyOfEncoded(data: Uint8Array): string {
  let position = 1;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = data[position++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new RangeError("KV request header: varint longer than 8 bytes");
  };
  const length = readVarint();
  const member_id = text_decoder.decode(data.subarray(position, position + length));
  position += length;
  return `${member_id}#${readVarint()}`;
}
