/**
 * Executes one request body against the store as of the last applied entry, collecting every
 * change (storage writes, events, lease changes) without writing anything: the state machine
 * writes them in one batch, or drops them all when the request is refused.
 *
 * Operations later in a Txn see the changes of earlier ones through an in-memory overlay of
 * the latest index, as etcd's write transactions do.
 *
 * @module
 */
import { type Storage, WriteBatch } from "../storage/mod.ts";
import {
  attachmentKey,
  encodeEvent,
  encodeRecord,
  eventKey,
  historyKey,
  inKeyRange,
  latestKey,
  leaseKey,
  type VersionRecord,
} from "./keyspace.ts";
import { ByteWriter } from "./byte_codec.ts";
import {
  type KeyRecord,
  RangeCollector,
  readLatest,
  scanAtRevision,
  scanLatest,
} from "./mvcc_reader.ts";
import {
  type Compare,
  type CompareTarget,
  type DeleteRangeRequest,
  KvError,
  type KvEvent,
  type OperationResponse,
  type PutRequest,
  type RangeRequest,
  type RangeResponse,
  type RequestBody,
  type ResponseBody,
  type TxnOperation,
  type TxnRequest,
} from "./types.ts";

/** What the context reads besides storage: the state machine's in-memory view. */
export interface StoreView {
  /** The storage engine. */
  storage: Storage;
  /** Current store revision (before this request). */
  revision: number;
  /** Oldest readable revision. */
  compact_revision: number;
  /** Live leases: id -> ttl in seconds. */
  leases: ReadonlyMap<number, number>;
  /** Raft index of the entry being applied (seeds lease ids chosen here). */
  index: number;
  /**
   * The batch the changes are added to (default: a new one). The state machine lends its
   * reused batch, so that an apply allocates no buffer growing to the entry's size; it may
   * already hold the writes of earlier entries applied in the same storage write.
   */
  batch?: WriteBatch;
  /**
   * Latest records written by earlier entries of the same storage write and not yet in
   * storage (key identity -> record, null for deleted): reads of the latest state see them.
   */
  pending?: ReadonlyMap<string, KeyRecord | null>;
}

/** Identity of a key inside the overlay map. */
export function keyId(key: Uint8Array): string {
  let id = "";
  for (let i = 0; i < key.length; i++) id += String.fromCharCode(key[i]);
  return id;
}

/** Lease changes of one request, applied to memory after the batch is written. */
export interface LeaseChanges {
  /** Granted: id -> ttl in seconds. */
  granted: Map<number, number>;
  /** Revoked ids. */
  revoked: Set<number>;
}

/** Collects the changes of one request. */
export class ApplyContext {
  /** Storage writes of the request. */
  readonly batch: WriteBatch;
  /** Events of the request, in sub-revision order. */
  readonly events: KvEvent[] = [];
  /** Lease changes of the request. */
  readonly lease_changes: LeaseChanges = { granted: new Map(), revoked: new Set() };
  /** Compact revision requested, if any. */
  compact_to: number | undefined;
  readonly #view: StoreView;
  readonly #overlay = new Map<string, KeyRecord | null>();
  readonly #main: number;

  /** A context over `view`; changes get revision `view.revision + 1`. */
  constructor(view: StoreView) {
    this.batch = view.batch ?? new WriteBatch();
    this.#view = view;
    this.#main = view.revision + 1;
  }

  /** Latest records this request wrote (key identity -> record, null for deleted). */
  get changes(): ReadonlyMap<string, KeyRecord | null> {
    return this.#overlay;
  }

  /** Whether the request changed any key (and so takes a new revision). */
  get changed(): boolean {
    return this.events.length > 0;
  }

  /** Runs `body`, returning its response; throws KvError when it must be refused. */
  execute(body: RequestBody): ResponseBody {
    switch (body.type) {
      case "put":
      case "delete_range":
      case "txn":
        // A top-level body is never a range (validateRequest refuses it), so neither is this.
        return this.#operation(body) as ResponseBody;
      case "lease_grant":
        return this.#leaseGrant(body.id, body.ttl_s);
      case "lease_revoke":
        return this.#leaseRevoke(body.id);
      case "compact":
        return this.#compact(body.revision);
    }
  }

  #operation(op: TxnOperation): OperationResponse {
    switch (op.type) {
      case "range":
        return this.range(op);
      case "put":
        return this.#put(op);
      case "delete_range":
        return this.#deleteRange(op);
      case "txn":
        return this.#txn(op);
    }
  }

  /** The latest record of `key` including this request's changes. */
  latest(key: Uint8Array): VersionRecord | undefined {
    const id = keyId(key);
    const own = this.#overlay.get(id);
    if (own !== undefined) return own?.record;
    const pending = this.#view.pending?.get(id);
    if (pending !== undefined) return pending?.record;
    return readLatest(this.#view.storage, key);
  }

  /** Keys of the etcd range at the current revision including this request's changes. */
  #collectLatest(key: Uint8Array, range_end: Uint8Array | undefined): KeyRecord[] {
    const found = new Map<string, KeyRecord>();
    scanLatest(this.#view.storage, key, range_end, (k, record) => {
      found.set(keyId(k), { key: k, record });
      return true;
    });
    const earlier = this.#view.pending;
    if (this.#overlay.size === 0 && (earlier === undefined || earlier.size === 0)) {
      return [...found.values()];
    }
    for (const overlay of [earlier ?? new Map<string, KeyRecord | null>(), this.#overlay]) {
      for (const [id, pending] of overlay) {
        if (pending === null) found.delete(id);
        else if (inKeyRange(pending.key, key, range_end)) found.set(id, pending);
      }
    }
    return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  /**
   * A range read, at `op.revision` or the current revision (this request's changes
   * included).
   */
  range(op: RangeRequest): RangeResponse {
    const collector = new RangeCollector(op);
    const revision = op.revision ?? 0;
    if (revision === 0 || (revision === this.#view.revision && !this.changed)) {
      for (const { key, record } of this.#collectLatest(op.key, op.range_end)) {
        collector.add(key, record);
      }
      return collector.response();
    }
    checkReadRevision(revision, this.#view.revision, this.#view.compact_revision);
    if ((this.#view.pending?.size ?? 0) > 0) {
      // History of entries not yet in storage is not in the overlay: never read around it.
      throw new Error("invariant: a read at a past revision while earlier writes are pending");
    }
    scanAtRevision(
      this.#view.storage,
      op.key,
      op.range_end,
      revision,
      (k, r) => collector.add(k, r),
    );
    return collector.response();
  }

  #put(op: PutRequest): OperationResponse {
    const prev = this.latest(op.key);
    if ((op.ignore_value === true || op.ignore_lease === true) && prev === undefined) {
      throw new KvError(
        "key_not_found",
        "key not found: ignore_value and ignore_lease need an existing key",
      );
    }
    const lease = op.ignore_lease === true ? prev!.lease : (op.lease ?? 0);
    if (lease !== 0 && !this.#leaseExists(lease)) {
      throw new KvError("lease_not_found", `requested lease ${lease} not found`);
    }
    this.#write(op.key, {
      create_revision: prev === undefined ? this.#main : prev.create_revision,
      mod_revision: this.#main,
      version: prev === undefined ? 1 : prev.version + 1,
      lease,
      value: op.ignore_value === true ? prev!.value : op.value,
    }, prev);
    if (op.prev_kv === true && prev !== undefined) {
      return { type: "put", prev_kv: { key: op.key, ...prev } };
    }
    return { type: "put" };
  }

  #deleteRange(op: DeleteRangeRequest): OperationResponse {
    const doomed = this.#collectLatest(op.key, op.range_end);
    for (const { key, record } of doomed) this.#remove(key, record);
    return {
      type: "delete_range",
      deleted: doomed.length,
      prev_kvs: op.prev_kv === true ? doomed.map(({ key, record }) => ({ key, ...record })) : [],
    };
  }

  #txn(op: TxnRequest): OperationResponse {
    const succeeded = op.compare.every((c) => this.#compareHolds(c));
    const branch = succeeded ? op.success : op.failure;
    return { type: "txn", succeeded, responses: branch.map((child) => this.#operation(child)) };
  }

  #compareHolds(compare: Compare): boolean {
    const found = this.#collectLatest(compare.key, compare.range_end);
    return compareHoldsForAll(compare, found.map(({ record }) => record));
  }

  #checkNotWritten(key: Uint8Array): string {
    const id = keyId(key);
    if (this.#overlay.has(id)) {
      throw new KvError(
        "duplicate_key",
        "duplicate key given in txn request: each key may change at most once per revision",
      );
    }
    return id;
  }

  #write(key: Uint8Array, record: VersionRecord, prev: VersionRecord | undefined): void {
    const id = this.#checkNotWritten(key);
    this.#overlay.set(id, { key, record });
    const encoded = encodeRecord(record);
    this.batch.put(latestKey(key), encoded).put(historyKey(key, this.#main), encoded);
    this.#event({ type: "put", kv: { key, ...record }, sub_revision: this.events.length });
    if (prev !== undefined && prev.lease !== 0 && prev.lease !== record.lease) {
      this.batch.delete(attachmentKey(prev.lease, key));
    }
    if (record.lease !== 0) this.batch.put(attachmentKey(record.lease, key), new Uint8Array(0));
  }

  #remove(key: Uint8Array, prev: VersionRecord): void {
    const id = this.#checkNotWritten(key);
    this.#overlay.set(id, null);
    const tombstone: VersionRecord = {
      create_revision: 0,
      mod_revision: this.#main,
      version: 0,
      lease: 0,
      value: new Uint8Array(0),
    };
    this.batch.delete(latestKey(key)).put(historyKey(key, this.#main), encodeRecord(tombstone));
    this.#event({ type: "delete", kv: { key, ...tombstone }, sub_revision: this.events.length });
    if (prev.lease !== 0) this.batch.delete(attachmentKey(prev.lease, key));
  }

  #event(event: KvEvent): void {
    this.batch.put(eventKey(this.#main, event.sub_revision), encodeEvent(event));
    this.events.push(event);
  }

  #leaseExists(id: number): boolean {
    if (this.lease_changes.revoked.has(id)) return false;
    return this.#view.leases.has(id) || this.lease_changes.granted.has(id);
  }

  #leaseGrant(requested_id: number, ttl_s: number): ResponseBody {
    let id = requested_id;
    if (id === 0) {
      // Deterministic on every member: the entry's index, or the next free id above it.
      id = this.#view.index;
      for (let tries = 0; this.#leaseExists(id); tries++) {
        if (tries > this.#view.leases.size) throw new Error("invariant: no free lease id found");
        id++;
      }
    } else if (this.#leaseExists(id)) {
      throw new KvError("lease_exists", `lease ${id} already exists`);
    }
    this.lease_changes.granted.set(id, ttl_s);
    this.batch.put(leaseKey(id), new ByteWriter(8).varint(ttl_s).finish());
    return { type: "lease_grant", id, ttl_s };
  }

  #leaseRevoke(id: number): ResponseBody {
    if (!this.#leaseExists(id)) {
      throw new KvError("lease_not_found", `requested lease ${id} not found`);
    }
    const prefix = attachmentKey(id, new Uint8Array(0));
    for (const entry of this.#view.storage.scan({ prefix })) {
      const key = entry.key.subarray(prefix.length);
      const record = this.latest(key);
      if (record !== undefined && record.lease === id) this.#remove(key, record);
      this.batch.delete(entry.key);
    }
    this.lease_changes.revoked.add(id);
    this.batch.delete(leaseKey(id));
    return { type: "lease_revoke" };
  }

  #compact(revision: number): ResponseBody {
    if (revision <= this.#view.compact_revision) {
      throw new KvError(
        "compacted",
        `revision ${revision} has been compacted (compact revision ${this.#view.compact_revision})`,
        this.#view.compact_revision,
      );
    }
    if (revision > this.#view.revision) {
      throw new KvError(
        "future_revision",
        `revision ${revision} is a future revision (current revision ${this.#view.revision})`,
      );
    }
    this.compact_to = revision;
    return { type: "compact" };
  }
}

/** Throws KvError unless `revision` (> 0) is readable. */
export function checkReadRevision(revision: number, current: number, compact_revision: number) {
  if (revision > current) {
    throw new KvError(
      "future_revision",
      `required revision ${revision} is a future revision (current revision ${current})`,
    );
  }
  if (revision < compact_revision) {
    throw new KvError(
      "compacted",
      `required revision ${revision} has been compacted (compact revision ${compact_revision})`,
      compact_revision,
    );
  }
}

/** The fields of a key's latest version that a Txn compare reads. */
export type CompareSubject = Pick<
  VersionRecord,
  "create_revision" | "mod_revision" | "version" | "lease" | "value"
>;

/**
 * Whether `compare` holds for every key its range found: the one rule for Txns applied through
 * Raft and read-only Txns served without it, so both answer alike. As in etcd, no key found fails
 * a value compare and compares as zero on the other targets.
 */
export function compareHoldsForAll(compare: Compare, found: readonly CompareSubject[]): boolean {
  if (found.length === 0) {
    if (compare.target === "value") return false;
    return compareHoldsFor(compare, undefined);
  }
  return found.every((subject) => compareHoldsFor(compare, subject));
}

function compareHoldsFor(compare: Compare, record: CompareSubject | undefined): boolean {
  let difference: number;
  if (compare.target === "value") {
    difference = compareValues(record!.value, compare.operand as Uint8Array);
  } else {
    const target = compare.target as Exclude<CompareTarget, "value">;
    const field = record === undefined ? 0 : record[target];
    difference = field - (compare.operand as number);
  }
  switch (compare.operator) {
    case "=":
      return difference === 0;
    case "!=":
      return difference !== 0;
    case "<":
      return difference < 0;
    case ">":
      return difference > 0;
  }
}

function compareValues(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
