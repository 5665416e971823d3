/**
 * Reads of the MVCC layout: the latest value of a key, a range at the current revision
 * (from the latest index) and a range at a past revision (from the versioned history).
 *
 * @module
 */
import type { Snapshot, Storage } from "../storage/mod.ts";
import {
  compareBytes,
  decodeRecord,
  historyPrefix,
  keyRangeBounds,
  latestKey,
  PREFIX,
  readU64,
  unescapeKey,
  type VersionRecord,
} from "./keyspace.ts";
import type { KeyValue, RangeRequest, RangeResponse } from "./types.ts";

/** A key with its record. */
export interface KeyRecord {
  /** User key. */
  key: Uint8Array;
  /** Its latest (or as-of) record. */
  record: VersionRecord;
}

/** The latest record of `key`, or undefined when absent. */
export function readLatest(
  storage: Storage,
  key: Uint8Array,
  snapshot?: Snapshot,
): VersionRecord | undefined {
  const bytes = storage.get(latestKey(key), { snapshot });
  return bytes === undefined ? undefined : decodeRecord(bytes);
}

/** Calls `visit` for each live key of the etcd range in key order until it returns false. */
export function scanLatest(
  storage: Storage,
  key: Uint8Array,
  range_end: Uint8Array | undefined,
  visit: (key: Uint8Array, record: VersionRecord) => boolean,
  snapshot?: Snapshot,
): void {
  const bounds = keyRangeBounds(key, range_end, PREFIX.latest, latestKey);
  if (bounds === undefined) return;
  if (range_end === undefined || range_end.length === 0) {
    const record = readLatest(storage, key, snapshot);
    if (record !== undefined) visit(key, record);
    return;
  }
  for (const entry of storage.scan({ start: bounds.start, end: bounds.end, snapshot })) {
    if (!visit(entry.key.subarray(1), decodeRecord(entry.value))) break;
  }
}

/**
 * Calls `visit` for each key of the etcd range that was live at `revision`, with its newest
 * version at or below `revision`, in key order, until it returns false.
 */
export function scanAtRevision(
  storage: Storage,
  key: Uint8Array,
  range_end: Uint8Array | undefined,
  revision: number,
  visit: (key: Uint8Array, record: VersionRecord) => boolean,
  snapshot?: Snapshot,
): void {
  const bounds = keyRangeBounds(key, range_end, PREFIX.history, historyPrefix);
  if (bounds === undefined) return;
  let group: Uint8Array | undefined;
  let best: Uint8Array | undefined;
  const emit = (): boolean => {
    if (group === undefined || best === undefined) return true;
    const record = decodeRecord(best);
    best = undefined;
    if (record.version === 0) return true;
    return visit(unescapeKey(group, 1).key, record);
  };
  for (const entry of storage.scan({ start: bounds.start, end: bounds.end, snapshot })) {
    const entry_group = entry.key.subarray(0, entry.key.length - 8);
    if (group === undefined || compareBytes(group, entry_group) !== 0) {
      if (!emit()) return;
      group = entry_group;
    }
    // Versions of one key come in ascending revision order: the last one <= revision wins.
    if (readU64(entry.key, entry.key.length - 8) <= revision) best = entry.value;
  }
  emit();
}

/** Shapes collected key-records into etcd's range response (limit, keys_only, count_only). */
export class RangeCollector {
  readonly #limit: number;
  readonly #request: RangeRequest;
  /** Keys collected so far (at most the limit). */
  readonly kvs: KeyValue[] = [];
  /** Keys seen so far in the range. */
  count = 0;

  /** Collects for `request`. */
  constructor(request: RangeRequest) {
    this.#request = request;
    this.#limit = request.limit === undefined || request.limit === 0 ? Infinity : request.limit;
  }

  /** Adds one key; always continues, since etcd's count covers the whole range. */
  add(key: Uint8Array, record: VersionRecord): boolean {
    this.count++;
    if (this.#request.count_only === true || this.kvs.length >= this.#limit) return true;
    this.kvs.push({
      key,
      value: this.#request.keys_only === true ? new Uint8Array(0) : record.value,
      create_revision: record.create_revision,
      mod_revision: record.mod_revision,
      version: record.version,
      lease: record.lease,
    });
    return true;
  }

  /** The response. */
  response(): RangeResponse {
    const more = this.#request.count_only !== true && this.count > this.kvs.length;
    return { type: "range", kvs: this.kvs, more, count: this.count };
  }
}
