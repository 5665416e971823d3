/**
 * Helpers shared by this folder's tests: an in-memory storage, byte helpers and a driver
 * that applies requests with consecutive indexes.
 *
 * @module
 */
import { FaultyFileSystem, seededRng } from "../../shared/fs/mod.ts";
import { Storage, type StorageOptions } from "../storage/mod.ts";
import { KvStateMachine, type KvStateMachineOptions } from "./state_machine.ts";
import type { KvResponse, RequestBody } from "./types.ts";

/** UTF-8 bytes of `text`. */
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
/** Text of UTF-8 `data`. */
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Small storage settings so that tests flush and compact tables too. */
export function storageOptions(fs: FaultyFileSystem): StorageOptions {
  return {
    fs,
    background: "inline" as const,
    memtable_size_bytes: 16 << 10,
    target_file_size_bytes: 16 << 10,
    max_bytes_for_level_base: 64 << 10,
  };
}

/** A state machine on an in-memory disk, with a helper that applies bodies in order. */
export class Harness {
  /** Sequence number of the last request sent from origin "test". */
  sequence = 0;
  /** Term given to applied entries. */
  term = 1;
  #last_index = 0;

  private constructor(
    readonly fs: FaultyFileSystem,
    public storage: Storage,
    public machine: KvStateMachine,
    readonly options: KvStateMachineOptions,
  ) {}

  /** A fresh harness. */
  static async create(options: KvStateMachineOptions = {}): Promise<Harness> {
    const fs = new FaultyFileSystem();
    const storage = await Storage.open("/kv", storageOptions(fs));
    return new Harness(fs, storage, await KvStateMachine.open(storage, options), options);
  }

  /** Applies `body` as the next entry, from origin "test"; asserts it was applied. */
  async do(body: RequestBody): Promise<KvResponse> {
    // Several applies may be in flight: number them by issue, not by what has landed.
    this.#last_index = Math.max(this.#last_index, this.machine.appliedIndex) + 1;
    const response = await this.machine.apply(
      this.#last_index,
      this.term,
      { origin: { member_id: "test", sequence: ++this.sequence }, body },
    );
    if (response === undefined) throw new Error("entry unexpectedly skipped");
    return response;
  }

  /** Closes and reopens storage and state machine on the same disk. */
  async reopen(): Promise<void> {
    this.machine.close();
    await this.storage.close();
    this.storage = await Storage.open("/kv", storageOptions(this.fs));
    this.machine = await KvStateMachine.open(this.storage, this.options);
  }

  /**
   * Simulates a power cut (unsynced bytes lost, the last write maybe torn) and reopens;
   * the old storage object is abandoned as a crashed process would leave it.
   */
  async crashAndReopen(seed: number): Promise<void> {
    this.fs.crash(seededRng(seed), { tear_last_write: true });
    this.#last_index = 0;
    this.storage = await Storage.open("/kv", storageOptions(this.fs));
    this.machine = await KvStateMachine.open(this.storage, this.options);
  }

  /** Every storage key and value, for comparing whole states. */
  dump(): string[] {
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return [...this.storage.scan()].map((e) => `${hex(e.key)}=${hex(e.value)}`);
  }

  /** Closes the storage. */
  async close(): Promise<void> {
    this.machine.close();
    await this.storage.close();
  }
}
