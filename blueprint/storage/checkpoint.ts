/**
 * Checkpoints: a consistent copy of the store at one sequence number in a new directory,
 * openable with `Storage.open`. The DB captures what to copy (see `Storage.checkpoint`);
 * this file holds the parts that do not need the DB's internals: the checkpoint's manifest
 * and the description of the files written.
 *
 * @module
 */
import { crc32cUpdate } from "../../shared/checksum/crc32c.ts";
import { COPY_CHUNK_BYTES, type FileSystem } from "../../shared/fs/mod.ts";
import type { ManifestState, TableFileMeta } from "./manifest.ts";

/** One file of a checkpoint, as {@link CheckpointInfo} lists it. */
export interface CheckpointFile {
  /** File name inside the checkpoint directory (no directory part). */
  readonly name: string;
  /** Size in bytes. */
  readonly size_bytes: number;
  /** CRC-32C (Castagnoli) of the whole file, unmasked. */
  readonly crc32c: number;
}

/**
 * A consistent copy of the store at one sequence number, openable with `Storage.open`.
 *
 * @example
 * ```ts
 * const info = await db.checkpoint("/var/lib/draft/snap-42");
 * for (const file of info.files) send(info.dir, file.name, file.crc32c);
 * ```
 */
export interface CheckpointInfo {
  /** The checkpoint directory (created by the checkpoint; it must not exist before). */
  readonly dir: string;
  /** Every file in `dir`, sorted by name. */
  readonly files: readonly CheckpointFile[];
  /** Last sequence number included: the checkpoint holds exactly the writes up to it. */
  readonly sequence: number;
  /** Sum of the files' sizes. */
  readonly size_bytes: number;
}

/**
 * The manifest of a checkpoint: the captured version's tables, plus the table written from
 * the memtables (newest in level 0), and no live WAL (`log_number` = `next_file_number`, so
 * opening it replays nothing).
 *
 * @param levels the tables of the captured version, per level
 * @param memtable_table the table holding the captured memtables, or null if they were empty
 * @param sequence last sequence number the checkpoint includes
 * @param next_file_number a number above every file number used (tables and the source's WALs)
 * @param compact_pointers the source's compaction cursors
 * @example
 * ```ts
 * const state = checkpointManifestState(version.levels, table, 42, 17, pointers);
 * await writeManifest(fs, "/ckpt", state);
 * ```
 */
export function checkpointManifestState(
  levels: readonly (readonly TableFileMeta[])[],
  memtable_table: TableFileMeta | null,
  sequence: number,
  next_file_number: number,
  compact_pointers: readonly (Uint8Array | null)[],
): ManifestState {
  const copied = levels.map((files) => [...files]);
  if (memtable_table !== null) {
    const newest = copied[0].at(-1);
    if (newest !== undefined && newest.file_number >= memtable_table.file_number) {
      throw new Error(
        `checkpoint: memtable table ${memtable_table.file_number} must be newer than level-0 ` +
          `table ${newest.file_number}`,
      );
    }
    copied[0].push(memtable_table);
  }
  return {
    next_file_number,
    last_sequence: sequence,
    log_number: next_file_number,
    levels: copied,
    compact_pointers: [...compact_pointers],
  };
}

/** Size and CRC-32C of the file at `path`, read in bounded chunks. */
export function describeFile(fs: FileSystem, path: string): { size_bytes: number; crc32c: number } {
  const file = fs.open(path, "read");
  try {
    const size_bytes = file.size();
    const buffer = new Uint8Array(Math.min(COPY_CHUNK_BYTES, Math.max(size_bytes, 1)));
    let crc = 0;
    // Bounded: each step reads a chunk or reaches the end.
    for (let position = 0; position < size_bytes;) {
      const read = file.readAt(buffer.subarray(0, size_bytes - position), position);
      if (read === 0) throw new Error(`${path}: file ended at ${position} of ${size_bytes}`);
      crc = crc32cUpdate(crc, buffer.subarray(0, read));
      position += read;
    }
    return { size_bytes, crc32c: crc };
  } finally {
    file.close();
  }
}

/**
 * Lists every file of a finished checkpoint directory with its size and CRC-32C.
 *
 * @example
 * ```ts
 * const info = describeCheckpoint(fs, "/ckpt", 42);
 * info.files.map((f) => f.name); // ["000007.sst", "000012.sst", "MANIFEST"]
 * ```
 */
export function describeCheckpoint(fs: FileSystem, dir: string, sequence: number): CheckpointInfo {
  const files = fs.list(dir).map((name) => ({ name, ...describeFile(fs, `${dir}/${name}`) }));
  return {
    dir,
    files,
    sequence,
    size_bytes: files.reduce((sum, file) => sum + file.size_bytes, 0),
  };
}
