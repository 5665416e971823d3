/**
 * An in-memory {@link FileSystem} that models POSIX durability exactly, for crash tests.
 *
 * Every file is an inode with two views: the bytes every handle sees now, and the bytes that
 * would survive a power cut (those covered by a completed `sync`). The name space has two
 * views too: the entries every caller sees now, and the entries made durable by `syncDir` of
 * their directory. {@link FaultyFileSystem.crash} throws away everything that is not durable,
 * as a power cut would, and kills every handle opened before it.
 *
 * Directories themselves (from `mkdir`) are treated as durable at once: the storage engine
 * creates its directory once and the interesting failures are about the files in it.
 *
 * @module
 */
import { posix } from "node:path";
import {
  type FileHandle,
  type FileLock,
  FileNotFoundError,
  type FileSystem,
  LockedError,
  type OpenMode,
} from "./file_system.ts";
/** The shared seeded generator (mulberry32), so a failing crash test replays from its seed. */
export { seededRandom as seededRng } from "../random/mod.ts";

/** A source of uniform random numbers in [0, 1), such as the one {@link seededRng} returns. */
export type Rng = () => number;

/** Options of {@link FaultyFileSystem.crash}. */
export interface CrashOptions {
  /**
   * When true, each file with unsynced appended bytes keeps a random prefix of them (possibly
   * none, possibly all), as a write torn by the power cut would. When false or absent, every
   * unsynced byte is lost.
   */
  tear_last_write?: boolean;
}

/** Options of the {@link FaultyFileSystem} constructor. */
export interface FaultyFileSystemOptions {
  /**
   * How long each `sync`/`syncDir` takes before it completes, in milliseconds. 0 (the default)
   * completes it on the next microtask turn, which is still "later" for group commit.
   */
  sync_delay_ms?: number;
}

/** Operation counters, for tests that check how much I/O a component does. */
export interface FaultyFileSystemCounters {
  /** Completed file `sync` calls (fdatasync). */
  syncs: number;
  /** Completed `syncDir` calls. */
  dir_syncs: number;
  /** `append` calls. */
  appends: number;
  /** Bytes appended in total. */
  appended_bytes: number;
  /** Crashes simulated so far. */
  crashes: number;
}

/** Thrown by the operation that {@link FaultyFileSystem.failAfter} chose to fail. */
export class InjectedFaultError extends Error {
  /**
   * Creates the error for one failed operation.
   *
   * @param operation the operation that failed (such as "append" or "rename")
   * @param path the file or directory it was applied to
   */
  constructor(readonly operation: string, readonly path: string) {
    super(`injected fault: ${operation} of ${path} failed`);
    this.name = "InjectedFaultError";
  }
}

const INITIAL_CAPACITY_BYTES = 256;

/** A file's contents, shared by every handle and every name that refers to it. */
class Inode {
  #buffer = new Uint8Array(INITIAL_CAPACITY_BYTES);
  /** Current length of the file (what handles see). */
  length_bytes = 0;
  /** Bytes [0, durable_length_bytes) of the buffer are durable, unless a snapshot is kept. */
  durable_length_bytes = 0;
  /** Durable contents, kept only once a truncate cut below the durable length before a sync. */
  durable_snapshot: Uint8Array | null = null;
  /** Bumped by every truncate, so that a sync in flight knows its captured length is stale. */
  truncate_epoch = 0;

  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.length_bytes);
  }

  append(data: Uint8Array): void {
    const needed = this.length_bytes + data.length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
      grown.set(this.bytes());
      this.#buffer = grown;
    }
    this.#buffer.set(data, this.length_bytes);
    this.length_bytes = needed;
  }

  truncate(length_bytes: number): void {
    if (length_bytes < this.durable_length_bytes && this.durable_snapshot === null) {
      // The bytes about to be cut (or later overwritten) are still what a crash would leave.
      this.durable_snapshot = this.#buffer.slice(0, this.durable_length_bytes);
    }
    if (length_bytes > this.length_bytes) {
      this.append(new Uint8Array(length_bytes - this.length_bytes));
    }
    this.length_bytes = length_bytes;
    this.truncate_epoch++;
  }

  /** Marks the first `length_bytes` current bytes durable (a completed fdatasync). */
  markDurable(length_bytes: number): void {
    const covered_bytes = Math.min(length_bytes, this.length_bytes);
    // Syncs may complete out of order; an earlier, shorter one must not shrink durability.
    this.durable_length_bytes = this.durable_snapshot === null
      ? Math.max(this.durable_length_bytes, covered_bytes)
      : covered_bytes;
    this.durable_snapshot = null;
  }

  /** Replaces the contents by what survives a power cut (maybe a torn unsynced tail). */
  resetToDurable(rng: Rng, tear: boolean): void {
    if (this.durable_snapshot !== null) {
      const snapshot = this.durable_snapshot;
      this.length_bytes = 0;
      this.append(snapshot);
      this.durable_snapshot = null;
    } else {
      const unsynced_bytes = this.length_bytes - this.durable_length_bytes;
      const kept_bytes = tear && unsynced_bytes > 0 ? Math.floor(rng() * (unsynced_bytes + 1)) : 0;
      this.length_bytes = this.durable_length_bytes + kept_bytes;
    }
    this.durable_length_bytes = this.length_bytes;
    this.truncate_epoch++;
  }

  flipByte(offset: number): void {
    this.#buffer[offset] ^= 0xff;
    if (this.durable_snapshot !== null && offset < this.durable_snapshot.length) {
      this.durable_snapshot[offset] ^= 0xff;
    }
  }
}

function normalize(path: string): string {
  if (path.length === 0) throw new Error("path must not be empty");
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

/**
 * An in-memory file system with exact POSIX durability and fault injection.
 *
 * @example
 * ```ts
 * const fs = new FaultyFileSystem();
 * fs.mkdir("/db");
 * const file = fs.open("/db/000001.log", "create");
 * file.append(new Uint8Array([1, 2, 3]));
 * await file.sync();
 * await fs.syncDir("/db");
 * file.append(new Uint8Array([4]));
 * fs.crash(seededRng(1));
 * fs.readFile("/db/000001.log"); // [1, 2, 3]: the unsynced byte is gone
 * ```
 */
export class FaultyFileSystem implements FileSystem {
  /** Operation counters; tests may read and reset them. */
  readonly counters: FaultyFileSystemCounters = {
    syncs: 0,
    dir_syncs: 0,
    appends: 0,
    appended_bytes: 0,
    crashes: 0,
  };
  readonly #sync_delay_ms: number;
  #files = new Map<string, Inode>();
  #durable_files = new Map<string, Inode>();
  #dirs = new Set<string>(["/", "."]);
  #locks = new Set<string>();
  /** Handles opened in an earlier generation are dead: a crash bumps it. */
  #generation = 0;
  /** Mutating operations left before an injected fault; null means none is armed. */
  #operations_before_fault: number | null = null;

  /**
   * Creates an empty file system (only `/` and `.` exist).
   *
   * @param options see {@link FaultyFileSystemOptions}
   */
  constructor(options: FaultyFileSystemOptions = {}) {
    const delay = options.sync_delay_ms ?? 0;
    if (!Number.isFinite(delay) || delay < 0) {
      throw new RangeError(`sync_delay_ms must be a finite number >= 0, got ${delay}`);
    }
    this.#sync_delay_ms = delay;
  }

  /**
   * Arms a fault: the next `operation_count` mutating operations (create, append, truncate,
   * sync, rename, remove, syncDir) succeed and the one after throws
   * {@link InjectedFaultError} without taking effect. Tests call it with 0, 1, 2, ... and
   * then {@link crash} to cut a multi-step update at every step.
   */
  failAfter(operation_count: number): void {
    if (!Number.isInteger(operation_count) || operation_count < 0) {
      throw new RangeError(`operation_count must be an integer >= 0, got ${operation_count}`);
    }
    this.#operations_before_fault = operation_count;
  }

  /** Disarms a fault armed by {@link failAfter}. */
  clearFault(): void {
    this.#operations_before_fault = null;
  }

  /**
   * Simulates a power cut: every byte not covered by a completed `sync` and every directory
   * entry change not covered by a completed `syncDir` is lost; handles opened before are dead
   * (every call on them throws); locks are released; an armed fault is cleared.
   *
   * @param rng randomness for torn writes (see {@link CrashOptions.tear_last_write})
   */
  crash(rng: Rng, options: CrashOptions = {}): void {
    this.#generation++;
    this.counters.crashes++;
    this.#operations_before_fault = null;
    this.#locks.clear();
    const survivors = new Set(this.#durable_files.values());
    for (const inode of survivors) inode.resetToDurable(rng, options.tear_last_write === true);
    this.#files = new Map(this.#durable_files);
  }

  /**
   * Flips every bit of one byte of a file, in its current and its durable contents (media
   * corruption that a checksum must catch).
   */
  flipByte(path: string, offset: number): void {
    const inode = this.#inode(normalize(path));
    if (!Number.isInteger(offset) || offset < 0 || offset >= inode.length_bytes) {
      throw new RangeError(
        `${path}: offset must be an integer in [0, ${inode.length_bytes}), got ${offset}`,
      );
    }
    inode.flipByte(offset);
  }

  /** Whether `path` names a file whose current contents all survive a crash. */
  isDurable(path: string): boolean {
    const normal = normalize(path);
    const inode = this.#files.get(normal);
    return inode !== undefined && this.#durable_files.get(normal) === inode &&
      inode.durable_snapshot === null && inode.durable_length_bytes === inode.length_bytes;
  }

  /** Opens a file; "create" needs the directory to exist. The new name is durable after syncDir. */
  open(path: string, mode: OpenMode): FileHandle {
    const normal = normalize(path);
    if (mode !== "read" && mode !== "append" && mode !== "create") {
      throw new TypeError(`open mode must be "read", "append" or "create", got ${mode}`);
    }
    let inode = this.#files.get(normal);
    if (mode === "create") {
      this.#requireDir(posix.dirname(normal), normal);
      this.#countOperation("create", normal);
      if (inode === undefined) {
        inode = new Inode();
        this.#files.set(normal, inode);
      } else {
        inode.truncate(0);
      }
    } else if (inode === undefined) {
      throw new FileNotFoundError(path);
    }
    return new FaultyFileHandle(
      path,
      this.#handle_context,
      inode,
      mode !== "read",
      this.#generation,
    );
  }

  /** A copy of the file's current bytes (synced or not). */
  readFile(path: string): Uint8Array {
    return this.#inode(normalize(path)).bytes().slice();
  }

  /** Renames at once; durable after syncDir of the target's directory. */
  rename(from: string, to: string): void {
    const from_normal = normalize(from);
    const to_normal = normalize(to);
    const inode = this.#inode(from_normal);
    this.#requireDir(posix.dirname(to_normal), to_normal);
    this.#countOperation("rename", from_normal);
    this.#files.delete(from_normal);
    this.#files.set(to_normal, inode);
  }

  /** Removes the name at once (open handles keep working); durable after syncDir. */
  remove(path: string): void {
    const normal = normalize(path);
    if (!this.#files.has(normal)) return;
    this.#countOperation("remove", normal);
    this.#files.delete(normal);
  }

  /** Names of the files and directories in `dir`, sorted. */
  list(dir: string): string[] {
    const normal = normalize(dir);
    this.#requireDir(normal, normal);
    const names: string[] = [];
    for (const path of [...this.#files.keys(), ...this.#dirs]) {
      if (path !== normal && posix.dirname(path) === normal) names.push(posix.basename(path));
    }
    return names.sort();
  }

  /** Creates `dir` and its parents; directories are durable at once (see the module note). */
  mkdir(dir: string): void {
    let path = normalize(dir);
    // Bounded by the depth of the path: each step removes one component.
    while (!this.#dirs.has(path)) {
      if (this.#files.has(path)) throw new Error(`mkdir ${dir}: ${path} is a file`);
      this.#dirs.add(path);
      path = posix.dirname(path);
    }
  }

  /** Whether a file or directory `path` exists now. */
  exists(path: string): boolean {
    const normal = normalize(path);
    return this.#files.has(normal) || this.#dirs.has(normal);
  }

  /** Makes the current entries of `dir` durable; rejects if a crash happens meanwhile. */
  async syncDir(dir: string): Promise<void> {
    const normal = normalize(dir);
    this.#requireDir(normal, normal);
    this.#countOperation("syncDir", normal);
    const generation = this.#generation;
    await this.#completeAfterDelay();
    if (generation !== this.#generation) {
      throw new Error(`syncDir ${dir} was cut short by a crash`);
    }
    for (const path of new Set([...this.#files.keys(), ...this.#durable_files.keys()])) {
      if (posix.dirname(path) !== normal) continue;
      const inode = this.#files.get(path);
      if (inode === undefined) this.#durable_files.delete(path);
      else this.#durable_files.set(path, inode);
    }
    this.counters.dir_syncs++;
  }

  /** Takes an in-memory exclusive lock, creating the file; a crash releases it. */
  lock(path: string): FileLock {
    const normal = normalize(path);
    this.mkdir(posix.dirname(normal));
    if (this.#locks.has(normal)) throw new LockedError(path);
    if (!this.#files.has(normal)) this.#files.set(normal, new Inode());
    this.#locks.add(normal);
    const generation = this.#generation;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        // A lock from before a crash was already dropped by it; do not drop a newer holder's.
        if (generation === this.#generation) this.#locks.delete(normal);
      },
    };
  }

  /** What handles need from their file system, kept off its public face. */
  readonly #handle_context: HandleContext = {
    countOperation: (operation, path) => this.#countOperation(operation, path),
    isLive: (generation) => generation === this.#generation,
    completeAfterDelay: () => this.#completeAfterDelay(),
    counters: this.counters,
  };

  /** Waits as long as a sync takes. */
  #completeAfterDelay(): Promise<void> {
    if (this.#sync_delay_ms === 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, this.#sync_delay_ms));
  }

  #countOperation(operation: string, path: string): void {
    if (this.#operations_before_fault === null) return;
    if (this.#operations_before_fault === 0) {
      throw new InjectedFaultError(operation, path);
    }
    this.#operations_before_fault--;
  }

  #inode(normal: string): Inode {
    const inode = this.#files.get(normal);
    if (inode === undefined) throw new FileNotFoundError(normal);
    return inode;
  }

  #requireDir(dir: string, for_path: string): void {
    if (!this.#dirs.has(dir)) {
      throw new FileNotFoundError(`${dir} (directory of ${for_path})`);
    }
  }
}

/** The part of {@link FaultyFileSystem} its handles use. */
interface HandleContext {
  /** Throws if an injected fault is due (see `failAfter`). */
  countOperation(operation: string, path: string): void;
  /** Whether handles opened in `generation` are still alive (no crash since). */
  isLive(generation: number): boolean;
  /** Waits as long as a sync takes. */
  completeAfterDelay(): Promise<void>;
  /** The file system's counters. */
  counters: FaultyFileSystemCounters;
}

class FaultyFileHandle implements FileHandle {
  #closed = false;

  constructor(
    readonly path: string,
    private readonly fs: HandleContext,
    private readonly inode: Inode,
    private readonly writable: boolean,
    private readonly generation: number,
  ) {}

  #check(): void {
    if (this.#closed) throw new Error(`${this.path}: file handle used after close`);
    if (!this.fs.isLive(this.generation)) {
      throw new Error(`${this.path}: file handle is dead (opened before a crash)`);
    }
  }

  #checkWritable(operation: string): void {
    this.#check();
    if (!this.writable) {
      throw new Error(`${this.path}: ${operation} on a handle opened "read"; use "append"`);
    }
  }

  readAt(buffer: Uint8Array, position: number): number {
    this.#check();
    if (!Number.isInteger(position) || position < 0) {
      throw new RangeError(`${this.path}: read position must be an integer >= 0, got ${position}`);
    }
    const bytes = this.inode.bytes();
    if (position >= bytes.length) return 0;
    const count = Math.min(buffer.length, bytes.length - position);
    buffer.set(bytes.subarray(position, position + count));
    return count;
  }

  append(data: Uint8Array): void {
    this.#checkWritable("append");
    this.fs.countOperation("append", this.path);
    this.inode.append(data);
    this.fs.counters.appends++;
    this.fs.counters.appended_bytes += data.length;
  }

  async sync(): Promise<void> {
    this.#check();
    this.fs.countOperation("sync", this.path);
    const target_length_bytes = this.inode.length_bytes;
    const epoch = this.inode.truncate_epoch;
    await this.fs.completeAfterDelay();
    if (!this.fs.isLive(this.generation)) {
      throw new Error(`${this.path}: sync was cut short by a crash`);
    }
    // A truncate while the sync was in flight makes the captured length meaningless: treat
    // the sync as covering everything (fdatasync may write back more than it must).
    const stale = epoch !== this.inode.truncate_epoch;
    this.inode.markDurable(stale ? this.inode.length_bytes : target_length_bytes);
    this.fs.counters.syncs++;
  }

  size(): number {
    this.#check();
    return this.inode.length_bytes;
  }

  truncate(length_bytes: number): void {
    this.#checkWritable("truncate");
    if (!Number.isInteger(length_bytes) || length_bytes < 0) {
      throw new RangeError(`${this.path}: truncate length must be an integer >= 0`);
    }
    this.fs.countOperation("truncate", this.path);
    this.inode.truncate(length_bytes);
  }

  close(): void {
    this.#closed = true;
  }
}
