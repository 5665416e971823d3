/**
 * Blueprint's MVCC key/value state machine: applies committed Raft entries, in order, to the
 * LSM storage engine with etcd v3's semantics (revisions, versions, leases, transactions,
 * compaction), and serves reads at the current or a past revision.
 *
 * @module
 */
import { type CheckpointInfo, type Snapshot, type Storage, WriteBatch } from "../storage/mod.ts";
import { ApplyContext, checkReadRevision } from "./apply_context.ts";
import { ByteReader } from "./byte_codec.ts";
import { type DedupOptions, DedupWindows, DEFAULT_DEDUP_OPTIONS } from "./dedup_window.ts";
import {
  attachmentKey,
  decodeEvent,
  decodeMeta,
  decodeRecord,
  emptyMeta,
  encodeMeta,
  eventKey,
  historyKey,
  type Meta,
  META_KEY,
  PREFIX,
  prefixRange,
  readU64,
  type VersionRecord,
} from "./keyspace.ts";
import { type KeyRecord, RangeCollector, scanAtRevision, scanLatest } from "./mvcc_reader.ts";
import {
  decodeRequest,
  DEFAULT_LIMITS,
  type KvLimits,
  validateRange,
  validateRequest,
} from "./request_codec.ts";
import {
  KvError,
  type KvEvent,
  type KvRequest,
  type KvResponse,
  type RangeRequest,
  type RangeResponse,
  type ResponseBody,
} from "./types.ts";

/** Options of {@link KvStateMachine.open}. */
export interface KvStateMachineOptions {
  /** Request size limits (defaults: {@link DEFAULT_LIMITS}). */
  limits?: Partial<KvLimits>;
  /** De-duplication window sizes (defaults: {@link DEFAULT_DEDUP_OPTIONS}). */
  dedup?: Partial<DedupOptions>;
  /** Deletions per storage batch when compaction purges history (default 1024). */
  purge_batch_ops?: number;
}

/** A checkpoint of the state machine's store and the Raft position it holds. */
export interface MachineCheckpoint {
  /** The storage checkpoint (directory, files with sizes and CRCs). */
  info: CheckpointInfo;
  /** Last Raft index the checkpoint contains. */
  applied_index: number;
  /** Its term. */
  applied_term: number;
  /** Store revision in it. */
  revision: number;
}

/** Options of {@link KvStateMachine.range}. */
export interface RangeOptions {
  /** Revision to read at; 0 or absent = current. */
  revision?: number;
  /** Most keys returned; 0 or absent = no limit. */
  limit?: number;
  /** Return keys and metadata without values. */
  keys_only?: boolean;
  /** Return only the count. */
  count_only?: boolean;
  /**
   * Accepted for etcd parity: the state machine always reads locally; linearizability
   * (ReadIndex) is the caller's job before calling range.
   */
  serializable?: boolean;
}

/** A range result with the store revision it was served at. */
export interface RangeResult extends RangeResponse {
  /** Current store revision (etcd's header.revision). */
  revision: number;
}

/** Receives applied changes (the watch hub is one). */
export interface AppliedListener {
  /** Called after the events of `revision` are in storage, in revision order. */
  applied(revision: number, events: readonly KvEvent[]): void;
  /** Called after a snapshot replaced the whole state (a new store was swapped in). */
  restored(): void;
}

/** A position in the event log: revision and sub-revision. */
export interface EventPosition {
  /** Revision. */
  revision: number;
  /** Sub-revision inside it. */
  sub_revision: number;
}

/** A lease as the leader sees it. */
export interface LeaseInfo {
  /** Lease id. */
  id: number;
  /** Granted TTL in seconds. */
  ttl_s: number;
}

/** Bounds one call to expiredLeases. */
const MAX_EXPIRED_PER_CALL = 1000;
/** Most entries whose puts share one storage write in {@link KvStateMachine.applyEntries}. */
export const MAX_ENTRIES_PER_WRITE = 1024;
/** Largest batch buffer kept for the next apply (a bigger one is dropped after its write). */
const MAX_REUSED_BATCH_BYTES = 256 * 1024;

/**
 * The replicated KV state machine over one {@link Storage}.
 *
 * @example
 * ```ts
 * const sm = await KvStateMachine.open(storage);
 * const origin = { member_id: "n1", sequence: 1 };
 * await sm.apply(sm.appliedIndex + 1, 1, { origin, body: { type: "put", key, value } });
 * sm.range(key, undefined).kvs[0].version; // 1
 * ```
 */
export class KvStateMachine {
  #storage: Storage;
  readonly #limits: KvLimits;
  readonly #purge_batch_ops: number;
  readonly #dedup: DedupWindows;
  #meta: Meta = emptyMeta();
  #leases = new Map<number, number>();
  /** Leader-side expiry deadlines (not replicated), set lazily at the first check. */
  #lease_deadlines_ms = new Map<number, number>();
  #listeners = new Set<AppliedListener>();
  /** The batch applies collect their writes in (see #emptyBatch). */
  #batch = new WriteBatch();
  /** Serializes applies and restores: each sees the previous one's writes. */
  #tail: Promise<unknown> = Promise.resolve();
  #broken: string | undefined;
  /**
   * Storage state as of the last completed apply: reads use it, so they never see a write
   * whose entry is still being applied (its header revision would lag its data).
   */
  #read_point: Snapshot | undefined;

  private constructor(storage: Storage, options: KvStateMachineOptions) {
    this.#storage = storage;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#purge_batch_ops = options.purge_batch_ops ?? 1024;
    const dedup = { ...DEFAULT_DEDUP_OPTIONS, ...options.dedup };
    checkOptions({
      ...this.#limits,
      ...dedup,
      purge_batch_ops: this.#purge_batch_ops,
    });
    this.#dedup = new DedupWindows(dedup);
  }

  /**
   * Opens the state machine on `storage`, recovering applied index, term and revision, the
   * leases and the de-dup windows, and finishing a compaction purge cut short by a crash.
   *
   * A store left by an interrupted restore of an earlier version is refused by everything
   * but {@link replaceStorage}.
   */
  static async open(
    storage: Storage,
    options: KvStateMachineOptions = {},
  ): Promise<KvStateMachine> {
    const machine = new KvStateMachine(storage, options);
    machine.#load();
    if (
      machine.#broken === undefined &&
      machine.#meta.purged_revision < machine.#meta.compact_revision
    ) {
      await machine.#purge();
    }
    return machine;
  }

  #load(): void {
    const bytes = this.#storage.get(META_KEY);
    this.#meta = bytes === undefined ? emptyMeta() : decodeMeta(bytes);
    if (this.#meta.restoring) {
      // Written only by the key-by-key restore of earlier versions, cut short: the keyspace
      // is a mix of two states. Only a snapshot install (replaceStorage) may run.
      this.#broken = "a snapshot restore was interrupted: install a snapshot again";
      return;
    }
    this.#leases = new Map();
    for (const entry of this.#storage.scan(prefixRange(PREFIX.lease))) {
      this.#leases.set(readU64(entry.key, 1), new ByteReader(entry.value, "lease").varint());
    }
    for (const id of this.#lease_deadlines_ms.keys()) {
      if (!this.#leases.has(id)) this.#lease_deadlines_ms.delete(id);
    }
    this.#dedup.load(this.#storage);
    this.#moveReadPoint();
  }

  /** Last Raft index applied. */
  get appliedIndex(): number {
    return this.#meta.applied_index;
  }

  /** Term of the last applied entry. */
  get appliedTerm(): number {
    return this.#meta.applied_term;
  }

  /** Current store revision. */
  get revision(): number {
    return this.#meta.revision;
  }

  /** Oldest readable revision (0 before the first compaction). */
  get compactRevision(): number {
    return this.#meta.compact_revision;
  }

  /** The size limits requests are checked against. */
  get limits(): Readonly<KvLimits> {
    return this.#limits;
  }

  /**
   * Applies the committed entry `index` (of `term`) carrying `request` (encoded or not).
   * Everything the entry changes plus the new applied index goes into one WriteBatch, so a
   * replay after a crash is exact. An entry at or below the applied index is skipped
   * (resolves undefined). A refused request still advances the applied index and answers
   * with an error body. Calls are serialized in call order.
   */
  apply(
    index: number,
    term: number,
    request: KvRequest | Uint8Array,
  ): Promise<KvResponse | undefined> {
    return this.#serialized(() => this.#apply(index, term, request));
  }

  /**
   * Applies consecutive committed entries in order, with the same outcome as calling
   * {@link apply} for each (the responses in entry order, undefined for a skipped entry):
   * one storage write carries a run of plain puts (at most {@link MAX_ENTRIES_PER_WRITE}),
   * the applied index moving to the run's end with it, so a crash keeps all of the run or
   * none, and watchers hear of the run once it is written. Other requests are applied one
   * by one between runs.
   */
  applyEntries(entries: readonly CommittedRequest[]): Promise<(KvResponse | undefined)[]> {
    return this.#serialized(() => this.#applyEntries(entries));
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work).catch((err) => {
      // A storage failure may leave memory ahead of disk: refuse further use until reopened.
      if (!(err instanceof KvError)) this.#broken ??= `an apply failed (${err}): reopen`;
      throw err;
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  async #applyEntries(entries: readonly CommittedRequest[]): Promise<(KvResponse | undefined)[]> {
    const responses: (KvResponse | undefined)[] = [];
    let run: PutRun | undefined;
    for (const { index, term, request } of entries) {
      this.#checkUsable("apply");
      checkPosition(index, term);
      if (index <= (run?.meta.applied_index ?? this.#meta.applied_index)) {
        responses.push(undefined);
        continue;
      }
      const decoded = this.#decode(request);
      if (this.#joinsRun(decoded, run)) {
        run ??= this.#startRun();
        responses.push(this.#putInRun(run, index, term, decoded as KvRequest));
        if (run.published.length >= MAX_ENTRIES_PER_WRITE) {
          await this.#commitRun(run);
          run = undefined;
        }
        continue;
      }
      if (run !== undefined) await this.#commitRun(run);
      run = undefined;
      responses.push(await this.#applyDecoded(index, term, decoded));
    }
    if (run !== undefined) await this.#commitRun(run);
    return responses;
  }

  /**
   * Whether `decoded` may join a run of puts: a new request (not one the de-dup windows
   * answer, nor one already in the run: its record is not in storage yet) whose body is a
   * plain put, which reads only the latest record of its own key.
   */
  #joinsRun(decoded: KvRequest | ResponseBody, run: PutRun | undefined): boolean {
    if (!("origin" in decoded) || decoded.body.type !== "put") return false;
    if (run?.origins.has(originId(decoded))) return false;
    return this.#dedup.check(this.#storage, decoded.origin).kind === "new";
  }

  #startRun(): PutRun {
    return {
      meta: { ...this.#meta },
      batch: this.#emptyBatch(),
      pending: new Map(),
      origins: new Set(),
      published: [],
    };
  }

  /** Executes one put of a run into the run's batch; answers its response. */
  #putInRun(run: PutRun, index: number, term: number, request: KvRequest): KvResponse {
    const context = new ApplyContext({
      storage: this.#storage,
      revision: run.meta.revision,
      compact_revision: run.meta.compact_revision,
      leases: this.#leases,
      index,
      batch: run.batch,
      pending: run.pending,
    });
    const written_before = run.batch.count;
    let response: KvResponse;
    try {
      const body = context.execute(request.body);
      if (context.changed) run.meta.revision += 1;
      response = { revision: run.meta.revision, body };
      for (const [id, record] of context.changes) run.pending.set(id, record);
      if (context.changed) {
        run.published.push({ revision: run.meta.revision, events: context.events });
      }
    } catch (err) {
      if (!(err instanceof KvError)) throw err;
      // A put is refused before it writes anything: the run's earlier writes stay intact.
      if (run.batch.count !== written_before) {
        throw new Error("invariant: a refused put wrote into the batch of its run");
      }
      response = {
        revision: run.meta.revision,
        body: { type: "error", code: err.code, message: err.message },
      };
    }
    run.meta.applied_index = index;
    run.meta.applied_term = term;
    run.origins.add(originId(request));
    this.#dedup.record(run.batch, request.origin, index, response);
    return response;
  }

  async #commitRun(run: PutRun): Promise<void> {
    const before = this.#meta;
    if (run.meta.applied_index <= before.applied_index || run.meta.revision < before.revision) {
      throw new Error(
        `invariant: applied index and revision only grow (${run.meta.applied_index})`,
      );
    }
    if (run.meta.revision - before.revision > run.meta.applied_index - before.applied_index) {
      throw new Error(`invariant: one entry takes at most one revision (${run.meta.revision})`);
    }
    run.batch.put(META_KEY, encodeMeta(run.meta));
    await this.#storage.write(run.batch);
    this.#releaseBatch(run.batch);
    this.#meta = run.meta;
    this.#moveReadPoint();
    for (const { revision, events } of run.published) this.#publish(revision, events);
  }

  async #apply(
    index: number,
    term: number,
    request: KvRequest | Uint8Array,
  ): Promise<KvResponse | undefined> {
    this.#checkUsable("apply");
    checkPosition(index, term);
    if (index <= this.#meta.applied_index) return undefined;
    return await this.#applyDecoded(index, term, this.#decode(request));
  }

  async #applyDecoded(
    index: number,
    term: number,
    decoded: KvRequest | ResponseBody,
  ): Promise<KvResponse> {
    const batch_meta: Meta = { ...this.#meta, applied_index: index, applied_term: term };
    if (!("origin" in decoded)) {
      return await this.#commit(this.#emptyBatch(), batch_meta, {
        revision: this.#meta.revision,
        body: decoded,
      });
    }
    const verdict = this.#dedup.check(this.#storage, decoded.origin);
    if (verdict.kind === "duplicate") {
      return await this.#commit(this.#emptyBatch(), batch_meta, verdict.response);
    }
    if (verdict.kind === "refused") {
      const body: ResponseBody = {
        type: "error",
        code: "too_old_to_deduplicate",
        message: verdict.message,
      };
      return await this.#commit(this.#emptyBatch(), batch_meta, {
        revision: this.#meta.revision,
        body,
      });
    }
    return await this.#execute(index, decoded, batch_meta);
  }

  #decode(request: KvRequest | Uint8Array): KvRequest | ResponseBody {
    try {
      if (request instanceof Uint8Array) return decodeRequest(request, this.#limits);
      validateRequest(request, this.#limits);
      return request;
    } catch (err) {
      if (!(err instanceof KvError)) throw err;
      return { type: "error", code: err.code, message: err.message };
    }
  }

  async #execute(index: number, request: KvRequest, batch_meta: Meta): Promise<KvResponse> {
    const context = new ApplyContext({
      storage: this.#storage,
      revision: this.#meta.revision,
      compact_revision: this.#meta.compact_revision,
      leases: this.#leases,
      index,
      batch: this.#emptyBatch(),
    });
    let body: ResponseBody;
    try {
      body = context.execute(request.body);
    } catch (err) {
      if (!(err instanceof KvError)) throw err;
      // Refused: none of the request's changes are written, only its de-dup record.
      body = { type: "error", code: err.code, message: err.message };
      const response = { revision: this.#meta.revision, body };
      const batch = this.#emptyBatch();
      this.#dedup.record(batch, request.origin, index, response);
      return await this.#commit(batch, batch_meta, response);
    }
    if (context.changed) batch_meta.revision = this.#meta.revision + 1;
    if (context.compact_to !== undefined) batch_meta.compact_revision = context.compact_to;
    const response = { revision: batch_meta.revision, body };
    this.#dedup.record(context.batch, request.origin, index, response);
    await this.#commit(context.batch, batch_meta, response);
    for (const [id, ttl_s] of context.lease_changes.granted) this.#leases.set(id, ttl_s);
    for (const id of context.lease_changes.revoked) {
      this.#leases.delete(id);
      this.#lease_deadlines_ms.delete(id);
    }
    if (context.changed) this.#publish(batch_meta.revision, context.events);
    if (context.compact_to !== undefined) await this.#purge();
    return response;
  }

  async #commit(batch: WriteBatch, meta: Meta, response: KvResponse): Promise<KvResponse> {
    const before = this.#meta;
    if (meta.applied_index <= before.applied_index || meta.revision < before.revision) {
      throw new Error(`invariant: applied index and revision only grow (${meta.applied_index})`);
    }
    if (meta.revision > before.revision + 1 || response.revision > meta.revision) {
      throw new Error(`invariant: one entry takes at most one revision (${meta.revision})`);
    }
    batch.put(META_KEY, encodeMeta(meta));
    await this.#storage.write(batch);
    this.#releaseBatch(batch);
    this.#meta = meta;
    this.#moveReadPoint();
    return response;
  }

  /**
   * The state machine's reused batch, emptied. Applies are serialized and the storage engine
   * copies a batch's bytes before its write resolves, so one batch serves every apply: an
   * apply then allocates no buffer that doubles up to the entry's size.
   */
  #emptyBatch(): WriteBatch {
    this.#batch.clear();
    return this.#batch;
  }

  /** Drops the reused batch's buffer after a large entry, so that it does not stay pinned. */
  #releaseBatch(batch: WriteBatch): void {
    if (batch === this.#batch && batch.sizeBytes > MAX_REUSED_BATCH_BYTES) {
      this.#batch = new WriteBatch();
    }
  }

  #moveReadPoint(): void {
    this.#read_point?.release();
    this.#read_point = this.#storage.snapshot();
  }

  /** Releases the read point; the storage stays open (the caller owns it). */
  close(): void {
    this.#read_point?.release();
    this.#read_point = undefined;
    this.#broken ??= "closed";
  }

  #publish(revision: number, events: readonly KvEvent[]): void {
    for (const listener of this.#listeners) listener.applied(revision, events);
  }

  /**
   * Removes history made unreadable by the compact revision, in bounded batches: for each
   * key, the versions below its newest version at or below the compact revision (and that
   * one too when it is a deletion), and the events below the compact revision. Reads never
   * see this (they refuse revisions below the compact revision), so it may trail the Compact
   * entry; a crash part-way is finished at the next open.
   */
  async #purge(): Promise<void> {
    const target = this.#meta.compact_revision;
    const snapshot = this.#storage.snapshot();
    let batch = new WriteBatch();
    const flush = async () => {
      if (batch.count < this.#purge_batch_ops) return;
      await this.#storage.write(batch);
      batch = new WriteBatch();
    };
    try {
      let group: Uint8Array | undefined;
      let candidate: { key: Uint8Array; tombstone: boolean } | undefined;
      const closeGroup = () => {
        if (candidate?.tombstone) batch.delete(candidate.key);
        candidate = undefined;
      };
      for (const entry of this.#storage.scan({ ...prefixRange(PREFIX.history), snapshot })) {
        const entry_group = entry.key.subarray(0, entry.key.length - 8);
        if (group === undefined || !sameBytes(group, entry_group)) {
          closeGroup();
          group = entry_group;
        }
        if (readU64(entry.key, entry.key.length - 8) > target) continue;
        if (candidate !== undefined) batch.delete(candidate.key);
        candidate = { key: entry.key, tombstone: decodeRecord(entry.value).version === 0 };
        await flush();
      }
      closeGroup();
      for (
        const entry of this.#storage.scan({
          start: eventKey(0, 0),
          end: eventKey(target, 0),
          snapshot,
        })
      ) {
        batch.delete(entry.key);
        await flush();
      }
    } finally {
      snapshot.release();
    }
    const meta = { ...this.#meta, purged_revision: target };
    batch.put(META_KEY, encodeMeta(meta));
    await this.#storage.write(batch);
    this.#meta = meta;
  }

  /**
   * Keys of the etcd range (`range_end`: absent/empty = `key` alone, `[0]` = all keys >=
   * `key`, else [key, range_end)) at the current or a past revision.
   *
   * @throws KvError `compacted` or `future_revision` for an unreadable revision;
   *   `invalid_argument` for bad input.
   */
  range(key: Uint8Array, range_end?: Uint8Array, options: RangeOptions = {}): RangeResult {
    this.#checkUsable("range");
    const request: RangeRequest = { type: "range", key, range_end, ...options };
    validateRange(request, this.#limits);
    const revision = options.revision ?? 0;
    const collector = new RangeCollector(request);
    const add = (k: Uint8Array, r: VersionRecord) => collector.add(k, r);
    if (revision === 0 || revision === this.#meta.revision) {
      scanLatest(this.#storage, key, range_end, add, this.#read_point);
    } else {
      checkReadRevision(revision, this.#meta.revision, this.#meta.compact_revision);
      scanAtRevision(this.#storage, key, range_end, revision, add, this.#read_point);
    }
    return { ...collector.response(), revision: this.#meta.revision };
  }

  /** Registers a listener of applied changes; returns its removal. */
  addListener(listener: AppliedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Up to `limit` events from the event log at or after `from`, in order, with their
   * revisions.
   *
   * @throws KvError(compacted) when `from.revision` is below the compact revision.
   */
  readEvents(from: EventPosition, limit: number): { revision: number; event: KvEvent }[] {
    this.#checkUsable("readEvents");
    if (from.revision < this.#meta.compact_revision) {
      throw new KvError(
        "compacted",
        `required revision ${from.revision} has been compacted ` +
          `(compact revision ${this.#meta.compact_revision})`,
        this.#meta.compact_revision,
      );
    }
    const out = [];
    const start = eventKey(from.revision, from.sub_revision);
    for (
      const entry of this.#storage.scan({ start, end: Uint8Array.of(PREFIX.event + 1), limit })
    ) {
      const event = decodeEvent(
        entry.key,
        entry.value,
        (key, revision) => this.#storage.get(historyKey(key, revision)),
      );
      out.push({ revision: readU64(entry.key, 1), event });
    }
    return out;
  }

  /** Live leases. */
  leases(): LeaseInfo[] {
    return [...this.#leases].map(([id, ttl_s]) => ({ id, ttl_s }));
  }

  /**
   * Leader helper: ids of leases whose deadline has passed at `now_ms` (at most 1000 per
   * call), for the leader to propose revokes. A lease first seen here gets the deadline
   * `now_ms + ttl` (as etcd, deadlines are not replicated; a new leader calls
   * {@link refreshLeases}).
   */
  expiredLeases(now_ms: number): number[] {
    const expired = [];
    for (const [id, ttl_s] of this.#leases) {
      let deadline = this.#lease_deadlines_ms.get(id);
      if (deadline === undefined) {
        deadline = now_ms + ttl_s * 1000;
        this.#lease_deadlines_ms.set(id, deadline);
      }
      if (deadline <= now_ms) expired.push(id);
      if (expired.length >= MAX_EXPIRED_PER_CALL) break;
    }
    return expired;
  }

  /** Leader helper: restarts every lease's TTL at `now_ms` (on becoming leader). */
  refreshLeases(now_ms: number): void {
    for (const [id, ttl_s] of this.#leases) this.#lease_deadlines_ms.set(id, now_ms + ttl_s * 1000);
  }

  /**
   * Leader helper: a keep-alive; restarts the lease's TTL and returns it in seconds.
   *
   * @throws KvError(lease_not_found).
   */
  keepAliveLease(id: number, now_ms: number): number {
    const ttl_s = this.#leases.get(id);
    if (ttl_s === undefined) {
      throw new KvError("lease_not_found", `requested lease ${id} not found`);
    }
    this.#lease_deadlines_ms.set(id, now_ms + ttl_s * 1000);
    return ttl_s;
  }

  /**
   * Leader helper: granted TTL, remaining seconds (the full TTL before the first check) and
   * the attached keys (at most `max_keys`).
   *
   * @throws KvError(lease_not_found).
   */
  leaseTimeToLive(
    id: number,
    now_ms: number,
    max_keys = 1000,
  ): { ttl_s: number; remaining_s: number; keys: Uint8Array[] } {
    const ttl_s = this.#leases.get(id);
    if (ttl_s === undefined) {
      throw new KvError("lease_not_found", `requested lease ${id} not found`);
    }
    const deadline = this.#lease_deadlines_ms.get(id);
    const remaining_s = deadline === undefined
      ? ttl_s
      : Math.max(0, Math.ceil((deadline - now_ms) / 1000));
    const prefix = attachmentKey(id, new Uint8Array(0));
    const keys = [...this.#storage.scan({ prefix, limit: max_keys })].map((e) => e.key.slice(9));
    return { ttl_s, remaining_s, keys };
  }

  /** The store the machine runs on now (a snapshot install replaces it). */
  get storage(): Storage {
    return this.#storage;
  }

  /**
   * Writes a checkpoint of the store into a new directory, serialized with applies: it holds
   * exactly the state at {@link MachineCheckpoint.applied_index}, whose term and revision it
   * reports. `dir` may depend on that index (it is known only once earlier applies are done).
   * Applies wait while the memtable is written out: flush the store first to keep that short.
   *
   * @example
   * ```ts
   * await storage.flush(); // concurrent with applies
   * const { info, applied_index } = await machine.checkpoint((index) => `/data/c${index}`);
   * ```
   */
  checkpoint(dir: string | ((applied_index: number) => string)): Promise<MachineCheckpoint> {
    const run = this.#tail.then(async () => {
      this.#checkUsable("checkpoint");
      const { applied_index, applied_term, revision } = this.#meta;
      const path = typeof dir === "string" ? dir : dir(applied_index);
      const info = await this.#storage.checkpoint(path);
      return { info, applied_index, applied_term, revision };
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  /**
   * Replaces the whole state with another store (a checkpoint received from the leader),
   * serialized with applies. `swap` gets the current store once no read holds it, must close
   * it and resolve with the new one open; the machine then reloads everything (applied index,
   * revision, leases, de-dup windows) from the new store and tells its listeners. If `swap`
   * fails the machine refuses use: the node must stop and restart from disk.
   *
   * @returns the applied index of the new store
   */
  replaceStorage(swap: (current: Storage) => Promise<Storage>): Promise<number> {
    const run = this.#tail.then(async () => {
      this.#broken = "a snapshot install failed part-way: restart the member";
      this.#read_point?.release();
      this.#read_point = undefined;
      this.#storage = await swap(this.#storage);
      this.#broken = undefined;
      this.#meta = emptyMeta();
      this.#load();
      if (this.#meta.purged_revision < this.#meta.compact_revision) await this.#purge();
      for (const listener of this.#listeners) listener.restored();
      return this.#meta.applied_index;
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  #checkUsable(operation: string): void {
    if (this.#broken !== undefined) throw new Error(`KvStateMachine.${operation}: ${this.#broken}`);
  }
}

/**
 * The last Raft index applied to `storage` (0 for an empty store), read without opening a
 * state machine on it.
 */
export function appliedIndexOf(storage: Storage): number {
  const bytes = storage.get(META_KEY);
  return bytes === undefined ? 0 : decodeMeta(bytes).applied_index;
}

/** Allowed range of each numeric option (inclusive). */
const OPTION_RANGES: Record<string, [number, number]> = {
  max_key_bytes: [1, 1 << 20],
  max_value_bytes: [0, 1 << 30],
  max_txn_ops: [1, 1 << 16],
  max_request_bytes: [64, 1 << 30],
  window_size: [1, 1 << 16],
  max_origins: [1, 1 << 20],
  max_response_bytes: [0, 1 << 30],
  purge_batch_ops: [1, 1 << 20],
};

function checkOptions(options: Record<string, number>): void {
  for (const [name, value] of Object.entries(options)) {
    const range = OPTION_RANGES[name];
    if (range === undefined) {
      throw new KvError(
        "invalid_argument",
        `unknown option ${name} (allowed: ${Object.keys(OPTION_RANGES).join(", ")})`,
      );
    }
    if (!Number.isSafeInteger(value) || value < range[0] || value > range[1]) {
      throw new KvError(
        "invalid_argument",
        `option ${name} must be an integer from ${range[0]} to ${range[1]}, got ${String(value)}`,
      );
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One committed entry for {@link KvStateMachine.applyEntries}. */
export interface CommittedRequest {
  /** Raft index. */
  readonly index: number;
  /** Raft term. */
  readonly term: number;
  /** The request, encoded or not. */
  readonly request: KvRequest | Uint8Array;
}

/** Puts applied into one batch, not yet written. */
interface PutRun {
  /** The state after the run's last entry. */
  meta: Meta;
  readonly batch: WriteBatch;
  /** Latest records the run wrote, for the later entries' reads. */
  readonly pending: Map<string, KeyRecord | null>;
  /** Origins of the run's entries (a repeat must see the first one's record stored). */
  readonly origins: Set<string>;
  /** Events to publish once written, per revision in order. */
  readonly published: { revision: number; events: readonly KvEvent[] }[];
}

function checkPosition(index: number, term: number): void {
  if (!Number.isSafeInteger(index) || index < 1 || !Number.isSafeInteger(term) || term < 0) {
    throw new KvError(
      "invalid_argument",
      `apply: index must be >= 1 and term >= 0, got ${index}, ${term}`,
    );
  }
}

function originId(request: KvRequest): string {
  return `${request.origin.member_id}#${request.origin.sequence}`;
}
