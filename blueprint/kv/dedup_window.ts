/**
 * The de-duplication windows: per origin, the most recent applied sequence numbers and
 * their responses, so that a retried request gets its first response instead of being
 * applied twice. The memory side decides; the entries live in storage under `d` and are
 * written in the same batch as the request they describe.
 *
 * @module
 */
import type { Storage, WriteBatch } from "../storage/mod.ts";
import { ByteReader, ByteWriter } from "./byte_codec.ts";
import { dedupKey, dedupPrefix, PREFIX, prefixRange, readU64, unescapeKey } from "./keyspace.ts";
import { decodeResponse, encodeResponse } from "./request_codec.ts";
import type { KvResponse, Origin } from "./types.ts";

/** Sizes of the windows. */
export interface DedupOptions {
  /** Sequence numbers remembered per origin (default 64). */
  window_size: number;
  /** Origins remembered; the least recently applied one is forgotten first (default 1024). */
  max_origins: number;
  /** Largest response kept; a larger one is remembered as applied without its body (64 KiB). */
  max_response_bytes: number;
}

/** Default window sizes. */
export const DEFAULT_DEDUP_OPTIONS: Readonly<DedupOptions> = Object.freeze({
  window_size: 64,
  max_origins: 1024,
  max_response_bytes: 64 << 10,
});

interface OriginWindow {
  /** `d | esc(member_id)`, computed once. */
  prefix: Uint8Array;
  /** Ascending applied sequence numbers, at most window_size. */
  sequences: number[];
  /** Raft index of the origin's latest applied request (picks the origin to forget). */
  last_index: number;
  /** Whether a sequence number was ever dropped from this window. */
  evicted: boolean;
}

/** What the window says about a request before it is applied. */
export type DedupVerdict =
  | { kind: "new" }
  | { kind: "duplicate"; response: KvResponse }
  | { kind: "refused"; message: string };

/** The windows of every origin. */
export class DedupWindows {
  readonly #options: DedupOptions;
  #origins = new Map<string, OriginWindow>();

  /** Empty windows with `options`. */
  constructor(options: DedupOptions) {
    this.#options = options;
  }

  /** Rebuilds the windows from storage (at open or after a restore). */
  load(storage: Storage): void {
    this.#origins = new Map();
    const decoder = new TextDecoder();
    for (const entry of storage.scan(prefixRange(PREFIX.dedup))) {
      const member = decoder.decode(unescapeKey(entry.key, 1).key);
      const sequence = readU64(entry.key, entry.key.length - 8);
      const index = new ByteReader(entry.value, "de-dup entry").varint();
      const window = this.#origins.get(member) ?? newWindow(member);
      window.sequences.push(sequence);
      window.last_index = Math.max(window.last_index, index);
      this.#origins.set(member, window);
    }
    for (const window of this.#origins.values()) {
      window.evicted = window.sequences.length >= this.#options.window_size;
    }
  }

  /** Whether `origin`'s request is new, a duplicate (with its response) or undecidable. */
  check(storage: Storage, origin: Origin): DedupVerdict {
    const window = this.#origins.get(origin.member_id);
    if (window === undefined) return { kind: "new" };
    if (window.sequences.includes(origin.sequence)) {
      return this.#stored(storage, origin, window.prefix);
    }
    if (window.evicted && origin.sequence < window.sequences[0]) {
      return {
        kind: "refused",
        message: `sequence ${origin.sequence} of ${origin.member_id} is older than its ` +
          `de-duplication window (oldest kept: ${window.sequences[0]}); it may have been applied`,
      };
    }
    return { kind: "new" };
  }

  #stored(storage: Storage, origin: Origin, prefix: Uint8Array): DedupVerdict {
    const bytes = storage.get(dedupKey(prefix, origin.sequence));
    if (bytes === undefined) throw new Error("invariant: de-dup entry in memory but not stored");
    const input = new ByteReader(bytes, "de-dup entry");
    const index = input.varint();
    if (!input.bool()) {
      return {
        kind: "refused",
        message: `request ${origin.member_id}#${origin.sequence} was applied at index ${index}, ` +
          `but its response was too large to keep`,
      };
    }
    return { kind: "duplicate", response: decodeResponse(input.raw(input.remaining)) };
  }

  /** Records `origin`'s response in `batch` and in memory, forgetting the oldest entries. */
  record(batch: WriteBatch, origin: Origin, index: number, response: KvResponse): void {
    let window = this.#origins.get(origin.member_id);
    if (window === undefined) {
      if (this.#origins.size >= this.#options.max_origins) this.#forgetOldestOrigin(batch);
      window = newWindow(origin.member_id);
      this.#origins.set(origin.member_id, window);
    }
    const encoded = encodeResponse(response);
    const keep = encoded.length <= this.#options.max_response_bytes;
    const value = new ByteWriter(encoded.length + 12).varint(index).u8(keep ? 1 : 0);
    if (keep) value.raw(encoded);
    batch.put(dedupKey(window.prefix, origin.sequence), value.finish());
    insertSorted(window.sequences, origin.sequence);
    window.last_index = index;
    while (window.sequences.length > this.#options.window_size) {
      batch.delete(dedupKey(window.prefix, window.sequences.shift()!));
      window.evicted = true;
    }
  }

  #forgetOldestOrigin(batch: WriteBatch): void {
    let oldest: [string, OriginWindow] | undefined;
    for (const entry of this.#origins) {
      if (oldest === undefined || entry[1].last_index < oldest[1].last_index) oldest = entry;
    }
    if (oldest === undefined) return;
    for (const sequence of oldest[1].sequences) batch.delete(dedupKey(oldest[1].prefix, sequence));
    this.#origins.delete(oldest[0]);
  }

  /** Number of origins remembered. */
  get size(): number {
    return this.#origins.size;
  }
}

function newWindow(member_id: string): OriginWindow {
  return { prefix: dedupPrefix(member_id), sequences: [], last_index: 0, evicted: false };
}

function insertSorted(list: number[], value: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1] > value) i--;
  list.splice(i, 0, value);
}
