/**
 * Versions: immutable sets of live table files, reference counted so that a table file is
 * deleted only when no version (the current one, or one pinned by a snapshot scan or an open
 * iterator) still references it.
 *
 * Each version holds one reference to each of its files; a file whose count drops to zero is
 * handed to `on_obsolete` (the DB closes its reader and deletes it).
 *
 * @module
 */
import { NUM_LEVELS, type TableFileMeta } from "./manifest.ts";
import { compareByteRanges, TRAILER_SIZE_BYTES, ValueType } from "./internal_key.ts";

/** The newest entry for a user key found in a table. */
export interface TableHit {
  /** Value or deletion. */
  type: ValueType;
  /** Sequence number of the write. */
  sequence: number;
  /** Value (empty for a deletion). */
  value: Uint8Array;
}

/** Point lookup in one table, as `TableReader.get` does it. */
export type TableLookup = (
  meta: TableFileMeta,
  user_key: Uint8Array,
  snapshot_sequence: number,
) => TableHit | undefined;

/** Compares `user_key` with the user-key part of internal key `ikey`, without a view. */
function compareUserKey(user_key: Uint8Array, ikey: Uint8Array): number {
  return compareByteRanges(user_key, 0, user_key.length, ikey, 0, ikey.length - TRAILER_SIZE_BYTES);
}

/** Whether `user_key` lies within the table's [smallest, largest] user-key range. */
export function mayContain(meta: TableFileMeta, user_key: Uint8Array): boolean {
  return compareUserKey(user_key, meta.smallest_key) >= 0 &&
    compareUserKey(user_key, meta.largest_key) <= 0;
}

/**
 * Index of the first file in a sorted, non-overlapping level whose largest user key is >=
 * `user_key` (levels.length if none).
 */
export function findFile(files: readonly TableFileMeta[], user_key: Uint8Array): number {
  let low = 0;
  let high = files.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareUserKey(user_key, files[mid].largest_key) > 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * One immutable set of table files by level. Obtain it from {@link VersionSet}; call
 * {@link Version.unref} once for each {@link Version.ref}.
 */
export class Version {
  #refs = 0;

  /** @internal use VersionSet.install */
  constructor(
    readonly levels: readonly (readonly TableFileMeta[])[],
    private readonly on_dead: (version: Version) => void,
  ) {
    if (levels.length !== NUM_LEVELS) {
      throw new Error(`version needs ${NUM_LEVELS} levels, got ${levels.length}`);
    }
  }

  /** Pins this version (and so its files). */
  ref(): this {
    if (this.#refs <= 0) throw new Error("version: ref of a dead version");
    this.#refs++;
    return this;
  }

  /** Releases one pin; the last release frees files no other version uses. */
  unref(): void {
    if (this.#refs <= 0) throw new Error("version: unref without a matching ref");
    this.#refs--;
    if (this.#refs === 0) this.on_dead(this);
  }

  /** @internal first reference, taken by the VersionSet. */
  adoptFirstRef(): void {
    if (this.#refs !== 0) throw new Error("version: adopted twice");
    this.#refs = 1;
  }

  /** Current pin count (for tests and assertions). */
  get refs(): number {
    return this.#refs;
  }

  /**
   * The newest entry for `user_key` at `snapshot_sequence` across the tables: level 0 newest
   * file first (files may overlap), then one candidate file per deeper level.
   */
  get(user_key: Uint8Array, snapshot_sequence: number, lookup: TableLookup): TableHit | undefined {
    const level0 = this.levels[0];
    for (let i = level0.length - 1; i >= 0; i--) {
      const meta = level0[i];
      if (!mayContain(meta, user_key)) continue;
      const hit = lookup(meta, user_key, snapshot_sequence);
      if (hit !== undefined) return hit;
    }
    for (let level = 1; level < NUM_LEVELS; level++) {
      const files = this.levels[level];
      const index = findFile(files, user_key);
      if (index >= files.length || !mayContain(files[index], user_key)) continue;
      const hit = lookup(files[index], user_key, snapshot_sequence);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** Every table of this version. */
  *files(): Generator<TableFileMeta> {
    for (const level of this.levels) yield* level;
  }
}

/**
 * The current version plus every older version still pinned, with per-file reference counts.
 *
 * @example
 * ```ts
 * const versions = new VersionSet(state.levels, (n) => deleteTable(n));
 * const pinned = versions.current.ref();
 * versions.install(next_levels);   // files only in the old version stay until...
 * pinned.unref();                  // ...here, when on_obsolete is called for them
 * ```
 */
export class VersionSet {
  #current: Version;
  readonly #file_refs = new Map<number, number>();
  #live_versions = 0;

  /**
   * @param levels the tables of the first current version
   * @param on_obsolete called with each file number no live version references any more
   */
  constructor(
    levels: readonly (readonly TableFileMeta[])[],
    private readonly on_obsolete: (file_number: number) => void,
  ) {
    this.#current = this.#create(levels);
  }

  /** The newest version. Reading it without ref() is safe only within one synchronous call. */
  get current(): Version {
    return this.#current;
  }

  /** Versions alive (current + pinned older ones). */
  get liveVersionCount(): number {
    return this.#live_versions;
  }

  /** Whether any live version references `file_number`. */
  isLive(file_number: number): boolean {
    return this.#file_refs.has(file_number);
  }

  /** Makes `levels` the current version; the previous one lives on while pinned. */
  install(levels: readonly (readonly TableFileMeta[])[]): Version {
    const previous = this.#current;
    this.#current = this.#create(levels);
    previous.unref();
    return this.#current;
  }

  #create(levels: readonly (readonly TableFileMeta[])[]): Version {
    const frozen = levels.map((files) => Object.freeze([...files]));
    const version = new Version(frozen, (dead) => this.#release(dead));
    for (const meta of version.files()) {
      this.#file_refs.set(meta.file_number, (this.#file_refs.get(meta.file_number) ?? 0) + 1);
    }
    version.adoptFirstRef();
    this.#live_versions++;
    return version;
  }

  #release(version: Version): void {
    this.#live_versions--;
    for (const meta of version.files()) {
      const refs = this.#file_refs.get(meta.file_number);
      if (refs === undefined) throw new Error(`version: file ${meta.file_number} not counted`);
      if (refs > 1) {
        this.#file_refs.set(meta.file_number, refs - 1);
        continue;
      }
      this.#file_refs.delete(meta.file_number);
      this.on_obsolete(meta.file_number);
    }
  }
}
