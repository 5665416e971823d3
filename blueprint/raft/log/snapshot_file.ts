/**
 * Snapshot files, written atomically: the bytes go to `<name>.tmp`, which is synced, renamed
 * into place and made durable with a sync of the directory. A reader therefore sees a whole
 * snapshot or none; a damaged one is corruption, never a torn write.
 *
 * ```
 * file := magic "RSNP" | version u8 | meta_length u32 | data_length u32 | crc u32 | meta | data
 * ```
 * `crc` is the masked CRC-32C of meta and data.
 *
 * @module
 */
import { join } from "node:path";
import { crc32cUpdate, maskCrc, unmaskCrc } from "../../../shared/checksum/crc32c.ts";
import type { FileSystem } from "../../../shared/fs/mod.ts";
import type { Snapshot } from "../core/mod.ts";
import { RaftLogCorruptionError } from "./errors.ts";
import { decodeSnapshotMeta, encodeSnapshotMeta } from "./payload_codec.ts";

const MAGIC = [0x52, 0x53, 0x4e, 0x50]; // "RSNP"
const VERSION = 1;
const HEADER_BYTES = 17;
const NAME_PATTERN = /^snapshot_(\d{16})\.snap$/;

/** File name of the snapshot covering up to `index`. */
export function snapshotFileName(index: number): string {
  return `snapshot_${String(index).padStart(16, "0")}.snap`;
}

/** The snapshot index a file name encodes, or undefined if it is not a snapshot file. */
export function parseSnapshotFileName(name: string): number | undefined {
  const match = NAME_PATTERN.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Writes `snapshot` into `dir` atomically and durably; returns its file name. */
export async function writeSnapshotFile(
  fs: FileSystem,
  dir: string,
  snapshot: Snapshot,
): Promise<string> {
  const meta = encodeSnapshotMeta(snapshot.meta);
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  header[4] = VERSION;
  view.setUint32(5, meta.length, true);
  view.setUint32(9, snapshot.data.length, true);
  view.setUint32(13, maskCrc(crc32cUpdate(crc32cUpdate(0, meta), snapshot.data)), true);
  const name = snapshotFileName(snapshot.meta.index);
  const tmp_path = join(dir, `${name}.tmp`);
  const file = fs.open(tmp_path, "create");
  try {
    file.append(header);
    file.append(meta);
    file.append(snapshot.data);
    await file.sync();
  } finally {
    file.close();
  }
  fs.rename(tmp_path, join(dir, name));
  await fs.syncDir(dir);
  return name;
}

/** Reads and verifies a snapshot file; throws {@link RaftLogCorruptionError} if damaged. */
export function readSnapshotFile(fs: FileSystem, path: string): Snapshot {
  const bytes = fs.readFile(path);
  const fail = (offset: number, detail: string): never => {
    throw new RaftLogCorruptionError(path, offset, `snapshot file ${detail}`);
  };
  if (bytes.length < HEADER_BYTES) fail(0, `is ${bytes.length} bytes, shorter than its header`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) fail(0, "has a bad magic number");
  if (bytes[4] !== VERSION) fail(4, `has version ${bytes[4]}; only ${VERSION} is known`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const meta_length = view.getUint32(5, true);
  const data_length = view.getUint32(9, true);
  if (HEADER_BYTES + meta_length + data_length !== bytes.length) {
    fail(5, `lengths (${meta_length} + ${data_length}) do not match its size ${bytes.length}`);
  }
  const meta_bytes = bytes.subarray(HEADER_BYTES, HEADER_BYTES + meta_length);
  const data = bytes.slice(HEADER_BYTES + meta_length);
  if (crc32cUpdate(crc32cUpdate(0, meta_bytes), data) !== unmaskCrc(view.getUint32(13, true))) {
    fail(HEADER_BYTES, "checksum mismatch");
  }
  try {
    return { meta: decodeSnapshotMeta(meta_bytes), data };
  } catch (err) {
    return fail(HEADER_BYTES, `metadata is malformed: ${(err as Error).message}`);
  }
}
