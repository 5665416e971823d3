/**
 * The snapshot descriptor: what a Raft snapshot message carries instead of the state itself.
 * It names a checkpoint (a directory of files on the sender) and lists every file with its
 * size and CRC-32C, so the receiver can fetch the files in chunks and verify them.
 *
 * ```
 * descriptor := magic "BPCK" | version u8 | crc32c u32le (of the JSON bytes) | JSON (UTF-8)
 * JSON       := { checkpoint_id, applied_index, applied_term, size_bytes,
 *                 files: [{ name, size_bytes, crc32c }] }
 * ```
 * JSON keeps the format readable in a hex dump and easy to extend; the descriptor is small
 * (one line per file), so its size is irrelevant beside the files it describes.
 *
 * @module
 */
import { crc32c } from "../../../shared/checksum/crc32c.ts";

/** Version of the descriptor format this code writes and reads. */
export const DESCRIPTOR_FORMAT_VERSION = 1;

/** Most files one descriptor may list (an LSM checkpoint holds tens to a few thousand). */
export const MAX_DESCRIPTOR_FILES = 100_000;

/** What checkpoint ids look like: `c` + 16-digit applied index + `-` + 8 hex digits. */
export const CHECKPOINT_ID_PATTERN = /^c(\d{16})-([0-9a-f]{8})$/;

/** What file names inside a checkpoint look like (flat: no separators, no `..`). */
export const FILE_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

const MAGIC = [0x42, 0x50, 0x43, 0x4b]; // "BPCK"
const HEADER_BYTES = 9;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** One file of a checkpoint. */
export interface DescribedFile {
  /** File name inside the checkpoint directory. */
  readonly name: string;
  /** Its size. */
  readonly size_bytes: number;
  /** CRC-32C of its whole contents (unmasked). */
  readonly crc32c: number;
}

/** A checkpoint as the Raft snapshot's data describes it. */
export interface SnapshotDescriptor {
  /** Directory name of the checkpoint on its sender (see {@link CHECKPOINT_ID_PATTERN}). */
  readonly checkpoint_id: string;
  /** Raft index of the last entry the checkpoint contains. */
  readonly applied_index: number;
  /** Its term. */
  readonly applied_term: number;
  /** Every file of the checkpoint. */
  readonly files: readonly DescribedFile[];
  /** Sum of the files' sizes. */
  readonly size_bytes: number;
}

/** A descriptor is malformed; the message names the field and what is allowed. */
export class DescriptorError extends Error {
  /** @param message what is wrong */
  constructor(message: string) {
    super(`snapshot descriptor: ${message}`);
    this.name = "DescriptorError";
  }
}

/** A fresh checkpoint id for a checkpoint at `applied_index`. */
export function newCheckpointId(applied_index: number): string {
  checkCount("applied_index", applied_index);
  const random = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
  return `c${String(applied_index).padStart(16, "0")}-${random}`;
}

/** The applied index a checkpoint id encodes, or undefined if `id` is not a checkpoint id. */
export function checkpointIndexOf(id: string): number | undefined {
  const match = CHECKPOINT_ID_PATTERN.exec(id);
  return match ? Number(match[1]) : undefined;
}

/** Whether snapshot data is a descriptor (starts with the magic), as opposed to inline state. */
export function isDescriptor(data: Uint8Array): boolean {
  return data.length >= HEADER_BYTES && MAGIC.every((byte, i) => data[i] === byte);
}

/**
 * Encodes a descriptor after checking it.
 *
 * @example
 * ```ts
 * const bytes = encodeDescriptor({
 *   checkpoint_id: newCheckpointId(42), applied_index: 42, applied_term: 3,
 *   files: [{ name: "000007.sst", size_bytes: 10, crc32c: 0x1234 }], size_bytes: 10,
 * });
 * decodeDescriptor(bytes).applied_index; // 42
 * ```
 * @throws DescriptorError naming the bad field
 */
export function encodeDescriptor(descriptor: SnapshotDescriptor): Uint8Array {
  const checked = checkDescriptor(descriptor);
  const json = encoder.encode(JSON.stringify(checked));
  const out = new Uint8Array(HEADER_BYTES + json.length);
  out.set(MAGIC, 0);
  out[4] = DESCRIPTOR_FORMAT_VERSION;
  new DataView(out.buffer).setUint32(5, crc32c(json), true);
  out.set(json, HEADER_BYTES);
  return out;
}

/**
 * Decodes and checks a descriptor.
 *
 * @throws DescriptorError for a bad magic, version, checksum or field
 */
export function decodeDescriptor(bytes: Uint8Array): SnapshotDescriptor {
  if (!isDescriptor(bytes)) throw new DescriptorError("missing the BPCK magic");
  if (bytes[4] !== DESCRIPTOR_FORMAT_VERSION) {
    throw new DescriptorError(
      `format version ${bytes[4]} (supported: ${DESCRIPTOR_FORMAT_VERSION})`,
    );
  }
  const json = bytes.subarray(HEADER_BYTES);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + 5, 4).getUint32(0, true);
  if (crc32c(json) !== stored) throw new DescriptorError("checksum mismatch (damaged bytes)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(json));
  } catch (error) {
    throw new DescriptorError(`not valid JSON: ${(error as Error).message}`);
  }
  return checkDescriptor(parsed as SnapshotDescriptor);
}

/** Checks every field; returns a clean copy (no extra fields). */
export function checkDescriptor(descriptor: SnapshotDescriptor): SnapshotDescriptor {
  if (typeof descriptor !== "object" || descriptor === null) {
    throw new DescriptorError("must be an object");
  }
  const { checkpoint_id, applied_index, applied_term, files, size_bytes } = descriptor;
  const index_in_id = typeof checkpoint_id === "string"
    ? checkpointIndexOf(checkpoint_id)
    : undefined;
  if (index_in_id === undefined) {
    throw new DescriptorError(
      `checkpoint_id ${JSON.stringify(checkpoint_id)} must match ${CHECKPOINT_ID_PATTERN}`,
    );
  }
  checkCount("applied_index", applied_index);
  checkCount("applied_term", applied_term);
  if (index_in_id !== applied_index) {
    throw new DescriptorError(
      `checkpoint_id ${checkpoint_id} names index ${index_in_id}, applied_index is ${applied_index}`,
    );
  }
  if (!Array.isArray(files) || files.length === 0 || files.length > MAX_DESCRIPTOR_FILES) {
    throw new DescriptorError(`files must list 1 to ${MAX_DESCRIPTOR_FILES} files`);
  }
  const names = new Set<string>();
  let total = 0;
  const clean = files.map((file, i) => {
    if (typeof file?.name !== "string" || !FILE_NAME_PATTERN.test(file.name)) {
      throw new DescriptorError(`files[${i}].name must match ${FILE_NAME_PATTERN}`);
    }
    if (names.has(file.name)) throw new DescriptorError(`file ${file.name} is listed twice`);
    names.add(file.name);
    checkCount(`files[${i}].size_bytes`, file.size_bytes);
    if (!Number.isInteger(file.crc32c) || file.crc32c < 0 || file.crc32c > 0xffff_ffff) {
      throw new DescriptorError(`files[${i}].crc32c must be a u32, got ${file.crc32c}`);
    }
    total += file.size_bytes;
    return { name: file.name, size_bytes: file.size_bytes, crc32c: file.crc32c };
  });
  if (size_bytes !== total) {
    throw new DescriptorError(`size_bytes ${size_bytes} is not the files' total ${total}`);
  }
  return { checkpoint_id, applied_index, applied_term, files: clean, size_bytes };
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DescriptorError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}
