/**
 * The manifest: which tables make up the database, in which level, and the counters that
 * must survive a restart. Stored as one whole-state snapshot in `DIR/MANIFEST`, replaced
 * atomically (write `MANIFEST.tmp`, sync, rename, sync the directory).
 *
 * @module
 */

/** Number of LSM levels (L0 to L6). */
export const NUM_LEVELS = 7;

/** One table file as the manifest records it. */
export interface TableFileMeta {
  /** File number; the file is `NNNNNN.sst` in the database directory. */
  file_number: number;
  /** Size of the file in bytes. */
  size_bytes: number;
  /** Smallest internal key in the table. */
  smallest_key: Uint8Array;
  /** Largest internal key in the table. */
  largest_key: Uint8Array;
}

/** Everything the manifest records. */
export interface ManifestState {
  /** Next unused file number (for WAL files and tables alike). */
  next_file_number: number;
  /** Largest sequence number ever assigned to a write. */
  last_sequence: number;
  /** WAL files with a number >= log_number are live and replayed on open. */
  log_number: number;
  /**
   * Tables per level, NUM_LEVELS entries. L0 is ordered by file_number ascending (newest
   * last) and may overlap; L1+ are sorted by key and do not overlap.
   */
  levels: TableFileMeta[][];
  /** Per level, the round-robin compaction cursor (largest key of the last compaction). */
  compact_pointers: (Uint8Array | null)[];
}

/**
 * The state of a brand-new database: no tables, file numbers from 1.
 *
 * @example
 * ```ts
 * const state = emptyManifestState();
 * state.levels.length; // NUM_LEVELS
 * ```
 */
export function emptyManifestState(): ManifestState {
  return {
    next_file_number: 1,
    last_sequence: 0,
    log_number: 0,
    levels: Array.from({ length: NUM_LEVELS }, () => []),
    compact_pointers: Array.from({ length: NUM_LEVELS }, () => null),
  };
}
