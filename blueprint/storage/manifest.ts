/**
 * The manifest: which tables make up the database, in which level, and the counters that
 * must survive a restart. Stored as one whole-state snapshot in `DIR/MANIFEST`, replaced
 * atomically (write `MANIFEST.tmp`, sync, rename, sync the directory).
 *
 * @module
 */
import { join } from "node:path";
import { crc32c, maskCrc } from "../../shared/checksum/crc32c.ts";
import { FileNotFoundError, type FileSystem } from "../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "./errors.ts";
import {
  compareInternalKeys,
  formatInternalKey,
  MAX_SEQUENCE,
  TRAILER_SIZE_BYTES,
} from "./internal_key.ts";

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

/** File name of the manifest inside the database directory. */
export const MANIFEST_FILE_NAME = "MANIFEST";
/** File name the next manifest is written under before it replaces {@link MANIFEST_FILE_NAME}. */
export const MANIFEST_TEMP_FILE_NAME = "MANIFEST.tmp";
/** First bytes of every manifest: ASCII "DRAFTMAN". */
export const MANIFEST_MAGIC = new Uint8Array([0x44, 0x52, 0x41, 0x46, 0x54, 0x4d, 0x41, 0x4e]);
/** Version of the manifest encoding this code writes and reads. */
export const MANIFEST_FORMAT_VERSION = 1;
/** Most tables one level may hold; bounds what a reader allocates whatever the file says. */
export const MAX_FILES_PER_LEVEL = 1 << 20;
/** Longest internal key a manifest may hold: the largest user key allowed plus the trailer. */
export const MAX_MANIFEST_KEY_BYTES: number = (1 << 20) + TRAILER_SIZE_BYTES;

const MAGIC_AND_VERSION_BYTES = MANIFEST_MAGIC.length + 4;
const CRC_BYTES = 4;

/** Accumulates varints and byte strings into a growing buffer. */
class ManifestEncoder {
  #buffer = new Uint8Array(1024);
  #length = 0;

  #reserve(more_bytes: number): void {
    if (this.#length + more_bytes <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#length + more_bytes, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }

  bytes(data: Uint8Array): void {
    this.#reserve(data.length);
    this.#buffer.set(data, this.#length);
    this.#length += data.length;
  }

  uint32(value: number): void {
    this.#reserve(4);
    new DataView(this.#buffer.buffer).setUint32(this.#length, value, true);
    this.#length += 4;
  }

  /** A non-negative safe integer, 7 bits per byte, low bits first (at most 8 bytes). */
  varint(value: number): void {
    this.#reserve(10);
    let rest = value;
    // Bounded: a safe integer has at most 53 bits, so at most 8 passes.
    while (rest >= 0x80) {
      this.#buffer[this.#length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buffer[this.#length++] = rest;
  }

  lengthPrefixed(data: Uint8Array): void {
    this.varint(data.length);
    this.bytes(data);
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

/** Reads what {@link ManifestEncoder} wrote, throwing CorruptionError on any overrun. */
class ManifestDecoder {
  offset: number;

  constructor(readonly data: Uint8Array, readonly end: number, readonly path: string, at: number) {
    this.offset = at;
  }

  fail(detail: string): never {
    throw new CorruptionError(this.path, this.offset, `${detail} in the manifest`);
  }

  varint(field: string, max: number): number {
    let value = 0;
    let scale = 1;
    // Bounded: at most 8 bytes (56 bits) before the value must have ended.
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.end) this.fail(`${field} runs past the end`);
      const byte = this.data[this.offset++];
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (value > max) this.fail(`${field} is ${value}, more than the limit ${max}`);
        return value;
      }
      scale *= 0x80;
    }
    this.fail(`${field} is not a valid varint`);
  }

  lengthPrefixed(field: string, max_bytes: number): Uint8Array {
    const length = this.varint(`${field} length`, max_bytes);
    if (this.offset + length > this.end) this.fail(`${field} runs past the end`);
    const bytes = this.data.slice(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }
}

/**
 * Encodes a state as manifest bytes (magic, version, varint fields, masked CRC-32C), without
 * checking it; {@link writeManifest} checks first. Exported for tools and tests.
 */
export function encodeManifest(state: ManifestState): Uint8Array {
  const out = new ManifestEncoder();
  out.bytes(MANIFEST_MAGIC);
  out.uint32(MANIFEST_FORMAT_VERSION);
  out.varint(state.next_file_number);
  out.varint(state.last_sequence);
  out.varint(state.log_number);
  out.varint(state.levels.length);
  for (const level of state.levels) {
    out.varint(level.length);
    for (const file of level) {
      out.varint(file.file_number);
      out.varint(file.size_bytes);
      out.lengthPrefixed(file.smallest_key);
      out.lengthPrefixed(file.largest_key);
    }
  }
  for (const pointer of state.compact_pointers) {
    out.varint(pointer === null ? 0 : 1);
    if (pointer !== null) out.lengthPrefixed(pointer);
  }
  const body = out.finish();
  const crc = maskCrc(crc32c(body));
  const encoded = new Uint8Array(body.length + CRC_BYTES);
  encoded.set(body);
  new DataView(encoded.buffer).setUint32(body.length, crc, true);
  return encoded;
}

/**
 * Decodes and checks manifest bytes, as {@link readManifest} does for a file.
 *
 * @param path the file the bytes came from, for error messages
 * @throws CorruptionError naming `path` for a checksum, format or rule violation
 */
export function decodeManifest(data: Uint8Array, path: string): ManifestState {
  if (data.length < MAGIC_AND_VERSION_BYTES + CRC_BYTES) {
    throw new CorruptionError(path, 0, `manifest of ${data.length} bytes is too short`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const body_end = data.length - CRC_BYTES;
  const stored_crc = view.getUint32(body_end, true);
  if (stored_crc !== maskCrc(crc32c(data.subarray(0, body_end)))) {
    throw new CorruptionError(path, body_end, "manifest checksum mismatch");
  }
  if (MANIFEST_MAGIC.some((byte, i) => data[i] !== byte)) {
    throw new CorruptionError(path, 0, "not a manifest (bad magic)");
  }
  const version = view.getUint32(MANIFEST_MAGIC.length, true);
  if (version !== MANIFEST_FORMAT_VERSION) {
    throw new CorruptionError(
      path,
      MANIFEST_MAGIC.length,
      `manifest format version ${version}; this code reads version ${MANIFEST_FORMAT_VERSION}`,
    );
  }
  const input = new ManifestDecoder(data, body_end, path, MAGIC_AND_VERSION_BYTES);
  const next_file_number = input.varint("next_file_number", Number.MAX_SAFE_INTEGER);
  const last_sequence = input.varint("last_sequence", MAX_SEQUENCE);
  const log_number = input.varint("log_number", Number.MAX_SAFE_INTEGER);
  const level_count = input.varint("level count", NUM_LEVELS);
  if (level_count !== NUM_LEVELS) input.fail(`level count ${level_count}, expected ${NUM_LEVELS}`);
  const levels = Array.from({ length: NUM_LEVELS }, (_, level) => decodeLevel(input, level));
  const compact_pointers = Array.from(
    { length: NUM_LEVELS },
    (_, level) => decodeCompactPointer(input, level),
  );
  if (input.offset !== body_end) input.fail(`${body_end - input.offset} unexpected bytes`);
  const state = { next_file_number, last_sequence, log_number, levels, compact_pointers };
  const problem = manifestStateProblem(state);
  if (problem !== undefined) throw new CorruptionError(path, 0, `invalid manifest: ${problem}`);
  return state;
}

function decodeLevel(input: ManifestDecoder, level: number): TableFileMeta[] {
  const count = input.varint(`L${level} file count`, MAX_FILES_PER_LEVEL);
  const files: TableFileMeta[] = [];
  for (let i = 0; i < count; i++) {
    files.push({
      file_number: input.varint(`L${level} file number`, Number.MAX_SAFE_INTEGER),
      size_bytes: input.varint(`L${level} file size`, Number.MAX_SAFE_INTEGER),
      smallest_key: input.lengthPrefixed(`L${level} smallest key`, MAX_MANIFEST_KEY_BYTES),
      largest_key: input.lengthPrefixed(`L${level} largest key`, MAX_MANIFEST_KEY_BYTES),
    });
  }
  return files;
}

function decodeCompactPointer(input: ManifestDecoder, level: number): Uint8Array | null {
  const present = input.varint(`L${level} compact pointer flag`, 1) === 1;
  return present ? input.lengthPrefixed(`L${level} compact pointer`, MAX_MANIFEST_KEY_BYTES) : null;
}

function isCount(value: unknown, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= max;
}

function internalKeyProblem(key: unknown, what: string): string | undefined {
  if (!(key instanceof Uint8Array)) return `${what} is not a Uint8Array`;
  if (key.length < TRAILER_SIZE_BYTES || key.length > MAX_MANIFEST_KEY_BYTES) {
    return `${what} is ${key.length} bytes; an internal key has ${TRAILER_SIZE_BYTES} to ${MAX_MANIFEST_KEY_BYTES}`;
  }
  return undefined;
}

function fileProblem(
  file: TableFileMeta,
  where: string,
  next_file_number: number,
): string | undefined {
  if (!isCount(file.file_number, next_file_number - 1) || file.file_number === 0) {
    return `${where}: file number ${file.file_number} is not in 1..${
      next_file_number - 1
    } (below next_file_number)`;
  }
  if (!isCount(file.size_bytes, Number.MAX_SAFE_INTEGER)) {
    return `${where}: size_bytes ${file.size_bytes} is not a non-negative integer`;
  }
  const key_problem = internalKeyProblem(file.smallest_key, `${where} smallest_key`) ??
    internalKeyProblem(file.largest_key, `${where} largest_key`);
  if (key_problem !== undefined) return key_problem;
  if (compareInternalKeys(file.smallest_key, file.largest_key) > 0) {
    return `${where}: smallest_key ${formatInternalKey(file.smallest_key)} is after largest_key ${
      formatInternalKey(file.largest_key)
    }`;
  }
  return undefined;
}

/** Checks the ordering rules of one level (files already checked one by one). */
function levelOrderProblem(files: TableFileMeta[], level: number): string | undefined {
  for (let i = 1; i < files.length; i++) {
    const previous = files[i - 1];
    const file = files[i];
    if (level === 0 && previous.file_number >= file.file_number) {
      return `L0 files must be in ascending file number order; ${file.file_number} follows ${previous.file_number}`;
    }
    if (level > 0 && compareInternalKeys(previous.largest_key, file.smallest_key) >= 0) {
      return `L${level} files ${previous.file_number} and ${file.file_number} overlap or are out of order (${
        formatInternalKey(previous.largest_key)
      } >= ${formatInternalKey(file.smallest_key)})`;
    }
  }
  return undefined;
}

/**
 * Why `state` is not a valid manifest state, or undefined if it is: NUM_LEVELS levels and
 * compaction pointers, counters in range, every table numbered below next_file_number and
 * listed once, keys well formed with smallest <= largest, L0 in file number order, L1+
 * sorted and non-overlapping.
 *
 * @example
 * ```ts
 * manifestStateProblem(emptyManifestState()); // undefined
 * ```
 */
export function manifestStateProblem(state: ManifestState): string | undefined {
  if (!isCount(state.next_file_number, Number.MAX_SAFE_INTEGER) || state.next_file_number < 1) {
    return `next_file_number ${state.next_file_number} must be an integer >= 1`;
  }
  if (!isCount(state.last_sequence, MAX_SEQUENCE)) {
    return `last_sequence ${state.last_sequence} must be an integer in 0..${MAX_SEQUENCE}`;
  }
  if (!isCount(state.log_number, state.next_file_number)) {
    return `log_number ${state.log_number} must be an integer in 0..next_file_number (${state.next_file_number})`;
  }
  if (!Array.isArray(state.levels) || state.levels.length !== NUM_LEVELS) {
    return `levels must have ${NUM_LEVELS} entries, got ${state.levels?.length}`;
  }
  if (!Array.isArray(state.compact_pointers) || state.compact_pointers.length !== NUM_LEVELS) {
    return `compact_pointers must have ${NUM_LEVELS} entries, got ${state.compact_pointers?.length}`;
  }
  const seen_file_numbers = new Set<number>();
  for (let level = 0; level < NUM_LEVELS; level++) {
    const files = state.levels[level];
    if (files.length > MAX_FILES_PER_LEVEL) {
      return `L${level} has ${files.length} files; at most ${MAX_FILES_PER_LEVEL}`;
    }
    for (const [i, file] of files.entries()) {
      const problem = fileProblem(file, `L${level} file #${i}`, state.next_file_number);
      if (problem !== undefined) return problem;
      if (seen_file_numbers.has(file.file_number)) {
        return `file number ${file.file_number} is listed more than once`;
      }
      seen_file_numbers.add(file.file_number);
    }
    const order_problem = levelOrderProblem(files, level);
    if (order_problem !== undefined) return order_problem;
    const pointer = state.compact_pointers[level];
    if (pointer !== null) {
      const problem = internalKeyProblem(pointer, `L${level} compact pointer`);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/**
 * Reads `DIR/MANIFEST`.
 *
 * @returns the recorded state, or undefined when the directory has no manifest (a new
 *   database; a leftover `MANIFEST.tmp` is an unfinished write and is ignored)
 * @throws CorruptionError naming MANIFEST when the file fails its checksum or the rules of
 *   {@link manifestStateProblem}
 * @example
 * ```ts
 * const state = readManifest(fs, "db") ?? emptyManifestState();
 * ```
 */
export function readManifest(fs: FileSystem, dir: string): ManifestState | undefined {
  const path = join(dir, MANIFEST_FILE_NAME);
  let data: Uint8Array;
  try {
    data = fs.readFile(path);
  } catch (err) {
    if (err instanceof FileNotFoundError) return undefined;
    throw err;
  }
  return decodeManifest(data, path);
}

/**
 * Replaces `DIR/MANIFEST` by `state` atomically: after a crash at any point the directory
 * holds either the old manifest or the new one, never a mix. Writes `MANIFEST.tmp`, syncs
 * it, renames it over `MANIFEST`, and syncs the directory; resolves when the new manifest is
 * durable.
 *
 * @throws StorageError when `state` breaks the rules of {@link manifestStateProblem}
 * @example
 * ```ts
 * await writeManifest(fs, "db", { ...state, last_sequence: 42 });
 * ```
 */
export async function writeManifest(
  fs: FileSystem,
  dir: string,
  state: ManifestState,
): Promise<void> {
  const problem = manifestStateProblem(state);
  if (problem !== undefined) throw new StorageError(`refusing to write manifest: ${problem}`);
  const encoded = encodeManifest(state);
  const temp_path = join(dir, MANIFEST_TEMP_FILE_NAME);
  const file = fs.open(temp_path, "create");
  try {
    file.append(encoded);
    await file.sync();
  } finally {
    file.close();
  }
  fs.rename(temp_path, join(dir, MANIFEST_FILE_NAME));
  await fs.syncDir(dir);
}
