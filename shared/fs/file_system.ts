/**
 * The file layer under every durable structure (WAL, tables, manifest, Raft log).
 *
 * Reads and appends are synchronous: they hit the page cache and cost less than a promise
 * round trip. Only the calls that wait for the disk (`sync`, `syncDir`) are asynchronous, so
 * that many writers can share one `fdatasync` (group commit).
 *
 * The contract follows POSIX as crash-safe code must assume it: appended bytes are durable
 * only after `sync`; a created, renamed or removed directory entry is durable only after
 * `syncDir` of its directory. `FaultyFileSystem` enforces exactly this.
 *
 * @module
 */

/** An open file. Writes only append; `truncate` cuts a tail. */
export interface FileHandle {
  /** Path the file was opened with. */
  readonly path: string;
  /** Reads up to `buffer.length` bytes at `position`; returns how many were read (0 at end). */
  readAt(buffer: Uint8Array, position: number): number;
  /** Appends `data` at the end of the file. Durable only after {@link FileHandle.sync}. */
  append(data: Uint8Array): void;
  /** Waits until every appended byte is on stable storage (`fdatasync`). */
  sync(): Promise<void>;
  /** Current size in bytes, including appended bytes not yet synced. */
  size(): number;
  /** Cuts the file to `length_bytes`. Durable only after {@link FileHandle.sync}. */
  truncate(length_bytes: number): void;
  /** Closes the handle; later calls throw. */
  close(): void;
}

/** How {@link FileSystem.open} opens a file. */
export type OpenMode =
  /** Existing file, read only. */
  | "read"
  /** Existing file, reads and appends. */
  | "append"
  /** New empty file (an existing one is truncated), reads and appends. */
  | "create";

/** A held exclusive lock on a directory's lock file. */
export interface FileLock {
  /** Releases the lock. */
  release(): void;
}

/** The operations durable structures need from a file system. */
export interface FileSystem {
  /** Opens `path`; throws {@link FileNotFoundError} for a missing file unless `mode` is "create". */
  open(path: string, mode: OpenMode): FileHandle;
  /** Reads a whole file; throws {@link FileNotFoundError} if it is missing. */
  readFile(path: string): Uint8Array;
  /** Renames atomically, replacing `to`. Durable after `syncDir`. */
  rename(from: string, to: string): void;
  /** Removes a file; a missing file is not an error. */
  remove(path: string): void;
  /** Names (not paths) of the entries in `dir`, sorted. */
  list(dir: string): string[];
  /** Creates `dir` and its parents if missing. */
  mkdir(dir: string): void;
  /** Whether `path` exists. */
  exists(path: string): boolean;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * Takes an exclusive lock on `path` (creating it), or throws
   * {@link LockedError} at once if another holder has it.
   */
  lock(path: string): FileLock;
  /**
   * Optional: gives `existing_path`'s file a second name `new_path` (a hard link; the bytes
   * are shared, and stay after the first name is removed). Durable after `syncDir` of
   * `new_path`'s directory. Throws {@link FileNotFoundError} if `existing_path` is missing.
   * A file system without links leaves it out; {@link linkOrCopyFile} then copies.
   */
  link?(existing_path: string, new_path: string): void;
}

/** Thrown by {@link FileSystem.lock} when the lock is held elsewhere. */
export class LockedError extends Error {
  /** @param path the lock file that is held */
  constructor(readonly path: string) {
    super(`${path} is locked by another process (or another open of the same directory)`);
    this.name = "LockedError";
  }
}

/** Thrown when a file that must exist does not. */
export class FileNotFoundError extends Error {
  /** @param path the missing file */
  constructor(readonly path: string) {
    super(`${path}: no such file`);
    this.name = "FileNotFoundError";
  }
}
