/**
 * The durable Raft log: entries, hard state and membership in segment files of checksummed
 * records, snapshots in atomically written files, all on the {@link FileSystem} interface.
 *
 * Layout of the directory:
 * - `LOCK` — held while open;
 * - `segment_NNNNNNNNNNNNNNNN.log` — records in append order (see `record_format.ts`); a new
 *   segment starts with the current hard state and membership, so the newest segment always
 *   holds them;
 * - `snapshot_NNNNNNNNNNNNNNNN.snap` — the latest snapshot (older ones are removed).
 *
 * A conflicting suffix is truncated logically: an entry record whose index is at or below the
 * last index replaces that index and everything after it when the log is replayed, so the
 * truncation is durable with the same `fdatasync` as the new entries and can never come back
 * (replay applies it even when the record itself is at or below the snapshot index).
 * Every `save` waits for one `fdatasync` shared with every other write made meanwhile (group
 * commit).
 *
 * @module
 */
import { join } from "node:path";
import type { FileHandle, FileLock, FileSystem } from "../../../shared/fs/mod.ts";
import {
  CompactedError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftLogReader,
  type Snapshot,
  UnavailableError,
} from "../core/mod.ts";
import { RaftLogCorruptionError, RaftLogUsageError } from "./errors.ts";
import {
  decodeConfState,
  decodeEntryPayload,
  decodeHardState,
  decodeSnapshotMeta,
  encodeConfState,
  encodeHardState,
  encodeSnapshotMeta,
  ENTRY_FIELDS_BYTES,
  writeEntryPayload,
} from "./payload_codec.ts";
import {
  probeRecord,
  RECORD_HEADER_BYTES,
  RecordType,
  scanSegment,
  sealRecord,
  writeRecord,
} from "./record_format.ts";
import { EntryCache } from "./entry_cache.ts";
import { parseSnapshotFileName, readSnapshotFile, writeSnapshotFile } from "./snapshot_file.ts";

/** Tuning of a {@link RaftLogStore}. */
export interface RaftLogStoreOptions {
  /** A segment is closed once it reaches this size (default 64 MiB). */
  segment_size_bytes?: number;
  /** Entry data kept in memory for fast reads of the tail (default 32 MiB). */
  cache_size_bytes?: number;
  /** Membership written when the directory is new (default: no members). */
  initial_conf_state?: ConfState;
}

/** What {@link RaftLogStore.save} persists: the storage half of a core `Ready`. */
export interface LogUpdate {
  /** New hard state, if it changed. */
  hard_state?: HardState;
  /** Entries to append; the first may be at or below the last index (conflict truncation). */
  entries: Entry[];
  /** Snapshot to install before the entries. */
  snapshot?: Snapshot;
  /**
   * Wait for the fsync (default true). False only for an update that needs no durability
   * before anything depends on it, such as a hard state whose only change is the commit
   * index: its bytes become durable with the next synced save.
   */
  sync?: boolean;
}

/** Counters for monitoring and benchmarks. */
export interface RaftLogStats {
  /** `fdatasync`s of segment files. */
  syncs: number;
  /** Bytes appended to segments since open. */
  bytes_written: number;
  /** Segment files present. */
  segments: number;
}

const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
const DEFAULT_CACHE_SIZE_BYTES = 32 * 1024 * 1024;
/** Per-entry overhead the core adds to data length in size limits. */
const ENTRY_SIZE_OVERHEAD_BYTES = 16;
const SEGMENT_PATTERN = /^segment_(\d{16})\.log$/;
/** Upper bound on flush rounds one `save` may wait through (each round makes progress). */
const MAX_FLUSH_ROUNDS = 1_000;

interface Segment {
  seq: number;
  path: string;
  handle: FileHandle;
  /** Highest entry or snapshot-mark index recorded in it (0 if none). */
  max_index: number;
}

function segmentName(seq: number): string {
  return `segment_${String(seq).padStart(16, "0")}.log`;
}

function emptySnapshot(conf_state: ConfState): Snapshot {
  return { meta: { index: 0, term: 0, conf_state }, data: new Uint8Array(0) };
}

function copyConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}

/**
 * Durable log store. Implements the core's {@link RaftLogReader}; {@link RaftLogStore.save}
 * persists a Ready's hard state, entries and snapshot.
 *
 * @example
 * ```ts
 * const log = await RaftLogStore.open(new NodeFileSystem(), "/data/raft", {
 *   initial_conf_state: { voters: ["a", "b", "c"], learners: [] },
 * });
 * await log.save({ hard_state: { term: 1, vote: "a", commit: 0 }, entries: [] });
 * log.close();
 * ```
 */
export class RaftLogStore implements RaftLogReader {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #lock: FileLock;
  readonly #segment_size_bytes: number;
  readonly #cache_size_bytes: number;

  #segments: Segment[] = [];
  #snapshot: Snapshot;
  #hard_state: HardState = { term: 0, vote: null, commit: 0 };
  #conf_state: ConfState;

  /** Index before the first entry held (the compaction point). */
  #base_index = 0;
  #base_term = 0;
  /** Per entry after `#base_index`: term, segment seq, record offset, record size. */
  #terms: number[] = [];
  #entry_segments: number[] = [];
  #entry_offsets: number[] = [];
  #entry_sizes: number[] = [];

  /**
   * During replay only: the term of the entry at the snapshot index as the log last recorded
   * it (undefined when no surviving record says).
   */
  #replay_term_at_base: number | undefined = undefined;

  /** Decoded entries of the tail. */
  readonly #cache: EntryCache;

  /** Group commit: batches written vs. made durable, and what the next flush must sync. */
  #written_batches = 0;
  #durable_batches = 0;
  #dirty_handles = new Set<FileHandle>();
  #dir_dirty = false;
  #flushing: Promise<void> | null = null;
  #failure: Error | null = null;
  #closed = false;
  #stats: RaftLogStats = { syncs: 0, bytes_written: 0, segments: 0 };

  private constructor(
    fs: FileSystem,
    dir: string,
    lock: FileLock,
    options: RaftLogStoreOptions,
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.#lock = lock;
    this.#segment_size_bytes = options.segment_size_bytes ?? DEFAULT_SEGMENT_SIZE_BYTES;
    this.#cache_size_bytes = options.cache_size_bytes ?? DEFAULT_CACHE_SIZE_BYTES;
    if (!(this.#segment_size_bytes >= 4096)) {
      throw new RaftLogUsageError(
        `segment_size_bytes must be at least 4096, got ${options.segment_size_bytes}`,
      );
    }
    if (!(this.#cache_size_bytes >= 0)) {
      throw new RaftLogUsageError(`cache_size_bytes must be >= 0, got ${options.cache_size_bytes}`);
    }
    this.#cache = new EntryCache(this.#cache_size_bytes);
    this.#conf_state = copyConf(options.initial_conf_state ?? { voters: [], learners: [] });
    this.#snapshot = emptySnapshot(this.#conf_state);
  }

  /**
   * Opens (or creates) the log in `dir`: loads the latest snapshot, replays the segments,
   * drops a torn tail of the last segment (durably) and throws
   * {@link RaftLogCorruptionError} on damage anywhere else.
   */
  static async open(
    fs: FileSystem,
    dir: string,
    options: RaftLogStoreOptions = {},
  ): Promise<RaftLogStore> {
    fs.mkdir(dir);
    const lock = fs.lock(join(dir, "LOCK"));
    let store: RaftLogStore | undefined;
    try {
      store = new RaftLogStore(fs, dir, lock, options);
      await store.#recover();
      return store;
    } catch (err) {
      if (store) store.#closeHandles();
      lock.release();
      throw err;
    }
  }

  // ---- RaftLogReader -----------------------------------------------------------------------

  /** Index of the first entry available (snapshot index + 1). */
  firstIndex(): number {
    return this.#base_index + 1;
  }

  /** Index of the last entry (the compaction point when the log is empty). */
  lastIndex(): number {
    return this.#base_index + this.#terms.length;
  }

  /** Term of entry `index`; throws CompactedError below, UnavailableError beyond the log. */
  term(index: number): number {
    if (index === this.#base_index) return this.#base_term;
    if (index < this.#base_index) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    return this.#terms[index - this.#base_index - 1];
  }

  /**
   * Entries [lo, hi): at least one, then more while their total size (data plus 16 bytes
   * each, as the core counts) stays within `max_bytes`.
   */
  entries(lo: number, hi: number, max_bytes: number): Entry[] {
    this.#assertUsable();
    if (lo <= this.#base_index) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo > hi) throw new RaftLogUsageError(`entries(${lo}, ${hi}): lo must be <= hi`);
    const out: Entry[] = [];
    let total_bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.#entryAt(index);
      total_bytes += entry.data.length + ENTRY_SIZE_OVERHEAD_BYTES;
      if (out.length > 0 && total_bytes > max_bytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Latest snapshot (index 0 and empty data when there is none). */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Persisted hard state and membership (of the latest snapshot, or the bootstrap one). */
  initialState(): { hard_state: HardState; conf_state: ConfState } {
    return { hard_state: { ...this.#hard_state }, conf_state: copyConf(this.#conf_state) };
  }

  // ---- writes ------------------------------------------------------------------------------

  /**
   * Persists a Ready's storage part: installs `snapshot` (a durable file first), truncates any
   * conflicting suffix, appends `entries`, records `hard_state`; resolves once all of it is
   * durable (one shared `fdatasync`), or at once after the write with `sync: false`.
   */
  async save(update: LogUpdate): Promise<void> {
    this.#assertUsable();
    if (update.sync === false && (update.entries.length > 0 || update.snapshot)) {
      throw new RaftLogUsageError("save: sync: false is only for a hard state update");
    }
    const batch = this.#encodeBatch(update); // validates before anything is written
    if (batch.bytes.length === 0) return;
    if (update.snapshot && update.snapshot.meta.index > this.#snapshot.meta.index) {
      await writeSnapshotFile(this.#fs, this.#dir, update.snapshot);
      this.#assertUsable();
    }
    if (this.#needsRollOver(batch.bytes.length)) {
      await this.#rollOver();
      this.#validateEntries(update.entries, update.snapshot); // others may have written meanwhile
    }
    // From validation to append nothing awaits, so concurrent saves cannot interleave here.
    this.#appendBatch(update, batch);
    if (update.sync === false) return;
    await this.#waitDurable(this.#written_batches);
    if (update.snapshot) this.#removeSnapshotsBefore(update.snapshot.meta.index);
  }

  /**
   * Records a snapshot the application took of its state up to `index` (which must be in the
   * log); the log itself is trimmed only by {@link RaftLogStore.compact}. At the current
   * snapshot's own index it replaces that snapshot's data (a member that installed a
   * snapshot received from the leader re-describes the same state with its own checkpoint).
   */
  async createSnapshot(index: number, conf_state: ConfState, data: Uint8Array): Promise<void> {
    this.#assertUsable();
    const current = this.#snapshot.meta.index;
    if (index < current || (index === current && current === 0) || index > this.lastIndex()) {
      throw new RaftLogUsageError(
        `createSnapshot(${index}): index must be at least the current snapshot ` +
          `${current} (above it when there is none) and at most the last index ${this.lastIndex()}`,
      );
    }
    const snapshot = { meta: { index, term: this.term(index), conf_state }, data };
    await writeSnapshotFile(this.#fs, this.#dir, snapshot);
    this.#snapshot = snapshot;
    this.#conf_state = copyConf(conf_state);
    // The membership record makes the snapshot's membership win over older records on replay.
    const record = new Uint8Array(RECORD_HEADER_BYTES + encodeConfState(conf_state).length);
    writeRecord(record, 0, RecordType.ConfState, encodeConfState(conf_state));
    if (this.#needsRollOver(record.length)) await this.#rollOver();
    this.#appendRaw(record);
    await this.#waitDurable(this.#written_batches);
    this.#removeSnapshotsBefore(index);
  }

  /**
   * Drops entries up to `index` (at most the snapshot index) and removes the segments that
   * hold nothing above it.
   */
  compact(index: number): void {
    this.#assertUsable();
    if (index > this.#snapshot.meta.index) {
      throw new RaftLogUsageError(
        `compact(${index}): index must be at most the snapshot index ${this.#snapshot.meta.index}`,
      );
    }
    if (index <= this.#base_index) return;
    const drop = index - this.#base_index;
    this.#base_term = this.term(index);
    this.#terms.splice(0, drop);
    this.#entry_segments.splice(0, drop);
    this.#entry_offsets.splice(0, drop);
    this.#entry_sizes.splice(0, drop);
    this.#base_index = index;
    this.#cache.dropBefore(index + 1);
    // Only a prefix goes, so a segment that comes back after a crash (removal is not synced)
    // holds nothing above the snapshot: its entries are skipped on replay, and its records
    // still truncate whatever earlier segments hold above the snapshot.
    const bound = this.#segments.length - 1;
    let removed = 0;
    while (removed < bound && this.#segments[removed].max_index <= index) removed++;
    for (const segment of this.#segments.splice(0, removed)) {
      segment.handle.close();
      this.#fs.remove(segment.path);
    }
    this.#stats.segments = this.#segments.length;
  }

  /** Counters since open. */
  stats(): RaftLogStats {
    return { ...this.#stats };
  }

  /** Closes files and releases the directory lock. Unsynced writes are not waited for. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeHandles();
    this.#lock.release();
  }

  // ---- write path internals ----------------------------------------------------------------

  #encodeBatch(update: LogUpdate): { bytes: Uint8Array; entry_offsets: number[] } {
    const entries = update.entries;
    this.#validateEntries(entries, update.snapshot);
    const installing = update.snapshot !== undefined &&
      update.snapshot.meta.index > this.#snapshot.meta.index;
    const prefix: { type: RecordType; payload: Uint8Array }[] = [];
    // Hard state first: a torn batch keeps a prefix, so surviving entries never outrun the term.
    if (update.hard_state) {
      prefix.push({ type: RecordType.HardState, payload: encodeHardState(update.hard_state) });
    }
    if (installing) {
      const meta = update.snapshot!.meta;
      prefix.push({ type: RecordType.SnapshotMark, payload: encodeSnapshotMeta(meta) });
      prefix.push({ type: RecordType.ConfState, payload: encodeConfState(meta.conf_state) });
    }
    let size = 0;
    for (const part of prefix) size += RECORD_HEADER_BYTES + part.payload.length;
    for (const entry of entries) {
      size += RECORD_HEADER_BYTES + ENTRY_FIELDS_BYTES + entry.data.length;
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const part of prefix) {
      writeRecord(bytes, offset, part.type, part.payload);
      offset += RECORD_HEADER_BYTES + part.payload.length;
    }
    const entry_offsets: number[] = [];
    for (const entry of entries) {
      entry_offsets.push(offset);
      writeEntryPayload(bytes, offset + RECORD_HEADER_BYTES, entry);
      const payload_length = ENTRY_FIELDS_BYTES + entry.data.length;
      sealRecord(bytes, offset, RecordType.Entry, payload_length);
      offset += RECORD_HEADER_BYTES + payload_length;
    }
    return { bytes, entry_offsets };
  }

  #validateEntries(entries: Entry[], snapshot: Snapshot | undefined): void {
    if (entries.length === 0) return;
    const base = snapshot && snapshot.meta.index > this.#base_index
      ? snapshot.meta.index
      : this.#base_index;
    const last = snapshot && snapshot.meta.index > this.#base_index
      ? snapshot.meta.index
      : this.lastIndex();
    const first = entries[0].index;
    if (first <= base || first > last + 1) {
      throw new RaftLogUsageError(
        `save: first entry index ${first} must be in [${base + 1}, ${last + 1}] ` +
          `(after the compaction point, at most one past the last index)`,
      );
    }
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== entries[i - 1].index + 1) {
        throw new RaftLogUsageError(
          `save: entries must have consecutive indices; ${entries[i - 1].index} is followed by ` +
            `${entries[i].index}`,
        );
      }
    }
  }

  /** Whether a batch of this size would overfill the current (non-empty) segment. */
  #needsRollOver(batch_size_bytes: number): boolean {
    const size = this.#segments[this.#segments.length - 1].handle.size();
    return size > 0 && size + batch_size_bytes > this.#segment_size_bytes;
  }

  /** Starts a new segment. */
  async #rollOver(): Promise<void> {
    const active = this.#segments[this.#segments.length - 1];
    // Everything in the old segment is durable before the new one gets a byte, so only the
    // last segment can ever end in a torn write.
    await this.#waitDurable(this.#written_batches);
    this.#assertUsable();
    if (this.#segments[this.#segments.length - 1] !== active) return; // someone else rolled
    const segment = this.#createSegment(active.seq + 1);
    const prefix = this.#segmentPrefix();
    segment.handle.append(prefix);
    this.#stats.bytes_written += prefix.length;
  }

  /** Current hard state and membership, the first records of every new segment. */
  #segmentPrefix(): Uint8Array {
    const hard = encodeHardState(this.#hard_state);
    const conf = encodeConfState(this.#conf_state);
    const bytes = new Uint8Array(2 * RECORD_HEADER_BYTES + hard.length + conf.length);
    writeRecord(bytes, 0, RecordType.HardState, hard);
    writeRecord(bytes, RECORD_HEADER_BYTES + hard.length, RecordType.ConfState, conf);
    return bytes;
  }

  #createSegment(seq: number): Segment {
    const path = join(this.#dir, segmentName(seq));
    const segment: Segment = { seq, path, handle: this.#fs.open(path, "create"), max_index: 0 };
    this.#segments.push(segment);
    this.#dirty_handles.add(segment.handle);
    this.#dir_dirty = true;
    this.#stats.segments = this.#segments.length;
    return segment;
  }

  /** Appends an encoded batch and updates the in-memory view (synchronously, no await). */
  #appendBatch(update: LogUpdate, batch: { bytes: Uint8Array; entry_offsets: number[] }): void {
    const segment = this.#segments[this.#segments.length - 1];
    const start = segment.handle.size();
    this.#appendRaw(batch.bytes);
    if (update.snapshot && update.snapshot.meta.index > this.#snapshot.meta.index) {
      this.#installSnapshotInMemory(update.snapshot);
      segment.max_index = Math.max(segment.max_index, update.snapshot.meta.index);
    }
    if (update.hard_state) this.#hard_state = { ...update.hard_state };
    const entries = update.entries;
    if (entries.length === 0) return;
    this.#truncateFrom(entries[0].index);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const offset = batch.entry_offsets[i];
      const end = i + 1 < entries.length ? batch.entry_offsets[i + 1] : batch.bytes.length;
      this.#terms.push(entry.term);
      this.#entry_segments.push(segment.seq);
      this.#entry_offsets.push(start + offset);
      this.#entry_sizes.push(end - offset);
    }
    segment.max_index = Math.max(segment.max_index, this.lastIndex());
    this.#cache.append(entries);
  }

  #appendRaw(bytes: Uint8Array): void {
    const segment = this.#segments[this.#segments.length - 1];
    segment.handle.append(bytes);
    this.#dirty_handles.add(segment.handle);
    this.#written_batches++;
    this.#stats.bytes_written += bytes.length;
  }

  #installSnapshotInMemory(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    this.#conf_state = copyConf(snapshot.meta.conf_state);
    this.#base_index = snapshot.meta.index;
    this.#base_term = snapshot.meta.term;
    this.#terms = [];
    this.#entry_segments = [];
    this.#entry_offsets = [];
    this.#entry_sizes = [];
    this.#cache.clear(snapshot.meta.index + 1);
  }

  /** Forgets entries at and after `index` (a conflicting suffix). */
  #truncateFrom(index: number): void {
    if (index > this.lastIndex()) return;
    const keep = index - this.#base_index - 1;
    this.#terms.length = keep;
    this.#entry_segments.length = keep;
    this.#entry_offsets.length = keep;
    this.#entry_sizes.length = keep;
    this.#cache.truncateFrom(index);
  }

  /** Waits until batch number `target` is durable, sharing flushes with concurrent callers. */
  async #waitDurable(target: number): Promise<void> {
    for (let round = 0; this.#durable_batches < target; round++) {
      if (round >= MAX_FLUSH_ROUNDS) {
        throw new Error(`raft log: batch ${target} not durable after ${round} flush rounds`);
      }
      this.#assertUsable();
      if (this.#flushing === null) {
        this.#flushing = this.#flush().finally(() => (this.#flushing = null));
      }
      await this.#flushing;
    }
  }

  async #flush(): Promise<void> {
    const upto = this.#written_batches;
    const handles = [...this.#dirty_handles];
    const dir_dirty = this.#dir_dirty;
    this.#dirty_handles.clear();
    this.#dir_dirty = false;
    try {
      await Promise.all(handles.map((handle) => handle.sync()));
      this.#stats.syncs += handles.length;
      if (dir_dirty) await this.#fs.syncDir(this.#dir);
    } catch (err) {
      // After a failed fdatasync the kernel may have dropped the dirty pages: nothing written
      // since the last good sync can be trusted, so the log refuses all further use.
      this.#failure = new Error(`raft log in ${this.#dir}: sync failed: ${(err as Error).message}`);
      throw this.#failure;
    }
    this.#durable_batches = Math.max(this.#durable_batches, upto);
  }

  #removeSnapshotsBefore(index: number): void {
    for (const name of this.#fs.list(this.#dir)) {
      const snapshot_index = parseSnapshotFileName(name);
      if (snapshot_index !== undefined && snapshot_index < index) {
        this.#fs.remove(join(this.#dir, name));
      }
    }
  }

  // ---- read path internals -----------------------------------------------------------------

  #entryAt(index: number): Entry {
    const cached = this.#cache.get(index);
    if (cached) return cached;
    const slot = index - this.#base_index - 1;
    const seq = this.#entry_segments[slot];
    const segment = this.#segments.find((s) => s.seq === seq);
    if (segment === undefined) {
      throw new Error(`raft log: entry ${index} points at missing segment ${seq}`);
    }
    const buffer = new Uint8Array(this.#entry_sizes[slot]);
    const read = segment.handle.readAt(buffer, this.#entry_offsets[slot]);
    const probe = probeRecord(buffer.subarray(0, read), 0);
    if (!probe.ok || probe.record.type !== RecordType.Entry) {
      throw new RaftLogCorruptionError(
        segment.path,
        this.#entry_offsets[slot],
        `entry ${index} unreadable: ${probe.ok ? "not an entry record" : probe.detail}`,
      );
    }
    const entry = decodeEntryPayload(probe.record.payload);
    if (entry.index !== index) {
      throw new RaftLogCorruptionError(
        segment.path,
        this.#entry_offsets[slot],
        `expected entry ${index}, found ${entry.index}`,
      );
    }
    return entry;
  }

  #assertUsable(): void {
    if (this.#closed) throw new RaftLogUsageError(`raft log in ${this.#dir} is closed`);
    if (this.#failure) throw this.#failure;
  }

  #closeHandles(): void {
    for (const segment of this.#segments) segment.handle.close();
    this.#segments = [];
  }

  // ---- recovery ----------------------------------------------------------------------------

  async #recover(): Promise<void> {
    const names = this.#fs.list(this.#dir);
    for (const name of names) {
      if (name.endsWith(".tmp")) this.#fs.remove(join(this.#dir, name));
    }
    this.#loadLatestSnapshot(names);
    const seqs = names
      .map((name) => SEGMENT_PATTERN.exec(name))
      .filter((match) => match !== null)
      .map((match) => Number(match![1]))
      .sort((a, b) => a - b);
    if (seqs.length === 0) {
      const segment = this.#createSegment(1);
      this.#appendRaw(this.#segmentPrefix());
      await this.#waitDurable(this.#written_batches);
      segment.max_index = this.#snapshot.meta.index;
      return;
    }
    for (let i = 0; i < seqs.length; i++) {
      await this.#replaySegment(seqs[i], i === seqs.length - 1);
    }
    this.#stats.segments = this.#segments.length;
    await this.#finishSnapshotWithoutMark();
    // Every membership record written after a snapshot file holds that snapshot's membership;
    // a crash may have cut the record that follows the file, never the file.
    if (this.#snapshot.meta.index > 0) this.#conf_state = copyConf(this.#snapshot.meta.conf_state);
    // A commit beyond the surviving log belongs to a batch that was torn (never acknowledged);
    // the snapshot is committed by definition.
    const commit = Math.max(
      this.#snapshot.meta.index,
      Math.min(this.#hard_state.commit, this.lastIndex()),
    );
    this.#hard_state = { ...this.#hard_state, commit };
    this.#cache.clear(this.lastIndex() + 1);
  }

  /**
   * A snapshot from the leader is durable before its mark, so a crash in between leaves the
   * file with the old entries after it. As Raft does when it receives a snapshot, keep them
   * only if the log holds the snapshot's last entry with the snapshot's term; otherwise they
   * belong to another history: finish the install by dropping them and writing the mark
   * durably, or entries saved from now on would be taken for that history on the next replay.
   */
  async #finishSnapshotWithoutMark(): Promise<void> {
    const term_at_base = this.#replay_term_at_base;
    this.#replay_term_at_base = undefined;
    if (term_at_base === undefined || term_at_base === this.#base_term) return;
    const meta = this.#snapshot.meta;
    this.#truncateFrom(this.#base_index + 1);
    this.#conf_state = copyConf(meta.conf_state);
    const mark = encodeSnapshotMeta(meta);
    const conf = encodeConfState(meta.conf_state);
    const bytes = new Uint8Array(2 * RECORD_HEADER_BYTES + mark.length + conf.length);
    writeRecord(bytes, 0, RecordType.SnapshotMark, mark);
    writeRecord(bytes, RECORD_HEADER_BYTES + mark.length, RecordType.ConfState, conf);
    const segment = this.#segments[this.#segments.length - 1];
    this.#appendRaw(bytes);
    segment.max_index = Math.max(segment.max_index, meta.index);
    await this.#waitDurable(this.#written_batches);
  }

  #loadLatestSnapshot(names: string[]): void {
    let latest: string | undefined;
    let latest_index = -1;
    for (const name of names) {
      const index = parseSnapshotFileName(name);
      if (index !== undefined && index > latest_index) {
        latest = name;
        latest_index = index;
      }
    }
    if (latest === undefined) return;
    const path = join(this.#dir, latest);
    const snapshot = readSnapshotFile(this.#fs, path);
    if (snapshot.meta.index !== latest_index) {
      throw new RaftLogCorruptionError(
        path,
        0,
        `snapshot file claims index ${snapshot.meta.index}, its name says ${latest_index}`,
      );
    }
    this.#snapshot = snapshot;
    this.#conf_state = copyConf(snapshot.meta.conf_state);
    this.#base_index = snapshot.meta.index;
    this.#base_term = snapshot.meta.term;
  }

  async #replaySegment(seq: number, is_last: boolean): Promise<void> {
    const path = join(this.#dir, segmentName(seq));
    const bytes = this.#fs.readFile(path);
    const scan = scanSegment(bytes);
    if (scan.corruption) {
      throw new RaftLogCorruptionError(
        path,
        scan.corruption.offset,
        `damaged record followed by valid records (${scan.corruption.detail})`,
      );
    }
    if (scan.torn_tail_offset !== undefined && !is_last) {
      throw new RaftLogCorruptionError(
        path,
        scan.torn_tail_offset,
        "damaged tail in a segment that is not the last (it was fully synced)",
      );
    }
    const handle = this.#fs.open(path, is_last ? "append" : "read");
    const segment: Segment = { seq, path, handle, max_index: 0 };
    this.#segments.push(segment);
    if (scan.torn_tail_offset !== undefined) {
      handle.truncate(scan.torn_tail_offset);
      await handle.sync();
    }
    for (const record of scan.records) {
      try {
        this.#replayRecord(segment, record.type, record.payload, record.offset, record.size_bytes);
      } catch (err) {
        if (err instanceof RaftLogCorruptionError) throw err;
        throw new RaftLogCorruptionError(path, record.offset, (err as Error).message);
      }
    }
  }

  #replayRecord(
    segment: Segment,
    type: RecordType,
    payload: Uint8Array,
    offset: number,
    size_bytes: number,
  ): void {
    switch (type) {
      case RecordType.HardState:
        this.#hard_state = decodeHardState(payload);
        return;
      case RecordType.ConfState:
        this.#conf_state = decodeConfState(payload);
        return;
      case RecordType.SnapshotMark: {
        const meta = decodeSnapshotMeta(payload);
        if (meta.index > this.#snapshot.meta.index) {
          throw new RaftLogCorruptionError(
            segment.path,
            offset,
            `snapshot mark at index ${meta.index} but the latest snapshot file is at ` +
              `${this.#snapshot.meta.index}`,
          );
        }
        segment.max_index = Math.max(segment.max_index, meta.index);
        this.#truncateFrom(this.#base_index + 1);
        this.#replay_term_at_base = meta.index === this.#base_index ? meta.term : undefined;
        return;
      }
      case RecordType.Entry: {
        const view = new DataView(payload.buffer, payload.byteOffset, ENTRY_FIELDS_BYTES);
        const index = view.getUint32(0, true) + view.getUint32(4, true) * 0x1_0000_0000;
        const term = view.getUint32(8, true) + view.getUint32(12, true) * 0x1_0000_0000;
        segment.max_index = Math.max(segment.max_index, index);
        if (index <= this.#base_index) {
          // The entry itself is covered by the snapshot, but its record still truncated
          // everything after it when it was written: entries above the snapshot replayed from
          // earlier records are a dead suffix and must not come back.
          this.#truncateFrom(this.#base_index + 1);
          this.#replay_term_at_base = index === this.#base_index ? term : undefined;
          return;
        }
        if (index > this.lastIndex() + 1) {
          throw new RaftLogCorruptionError(
            segment.path,
            offset,
            `entry ${index} leaves a gap after the last index ${this.lastIndex()}`,
          );
        }
        this.#truncateFrom(index);
        this.#terms.push(term);
        this.#entry_segments.push(segment.seq);
        this.#entry_offsets.push(offset);
        this.#entry_sizes.push(size_bytes);
        return;
      }
    }
  }
}
