/**
 * Table file layout constants and the pieces every block shares: block handles, the 5-byte
 * block trailer (type + masked CRC-32C) and the 48-byte footer. See FORMAT.md.
 *
 * @module
 */
import { crc32c, crc32cUpdate, maskCrc } from "../../../shared/checksum/crc32c.ts";
import type { FileHandle } from "../../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "../errors.ts";
import {
  readUint32LE,
  readUint64LE,
  VarintReader,
  writeUint32LE,
  writeUint64LE,
} from "./coding.ts";

/** Bytes after every block: 1 type byte + 4 bytes of masked CRC-32C. */
export const BLOCK_TRAILER_SIZE_BYTES = 5;

/** The only block type written: contents stored uncompressed. */
export const BLOCK_TYPE_UNCOMPRESSED = 0;

/** Bytes of the footer at the end of every table file. */
export const FOOTER_SIZE_BYTES = 48;

/** Table format version stored in the footer. */
export const TABLE_FORMAT_VERSION = 1;

/** The footer's last 8 bytes: ASCII "DRAFTSST". */
export const TABLE_MAGIC: Uint8Array = new TextEncoder().encode("DRAFTSST");

/** Largest block a reader accepts; anything bigger is a damaged handle. */
export const MAX_BLOCK_SIZE_BYTES = 64 << 20;

/** Where a block lives in the table file: contents only, the trailer follows. */
export interface BlockHandle {
  /** Offset of the block's first byte. */
  offset: number;
  /** Bytes of contents, trailer excluded. */
  size_bytes: number;
}

/** What the footer records. */
export interface Footer {
  /** The filter block, or size 0 when the table has no filter. */
  filter: BlockHandle;
  /** The index block. */
  index: BlockHandle;
}

/**
 * Masked CRC-32C stored in a block trailer: over the contents, then the type byte, as LevelDB.
 */
export function blockChecksum(contents: Uint8Array, type: number): number {
  const type_byte = TYPE_BYTE_SCRATCH;
  type_byte[0] = type;
  return maskCrc(crc32cUpdate(crc32c(contents), type_byte));
}

const TYPE_BYTE_SCRATCH = new Uint8Array(1);

/** Writes the 5-byte trailer for `contents` into `out` at `offset`. */
export function writeBlockTrailer(out: Uint8Array, offset: number, contents: Uint8Array): void {
  out[offset] = BLOCK_TYPE_UNCOMPRESSED;
  writeUint32LE(out, offset + 1, blockChecksum(contents, BLOCK_TYPE_UNCOMPRESSED));
}

/** Encodes the footer (handles as fixed uint64 LE, version, masked CRC-32C, magic). */
export function encodeFooter(footer: Footer): Uint8Array {
  const out = new Uint8Array(FOOTER_SIZE_BYTES);
  writeUint64LE(out, 0, footer.filter.offset);
  writeUint64LE(out, 8, footer.filter.size_bytes);
  writeUint64LE(out, 16, footer.index.offset);
  writeUint64LE(out, 24, footer.index.size_bytes);
  writeUint32LE(out, 32, TABLE_FORMAT_VERSION);
  writeUint32LE(out, 36, maskCrc(crc32c(out.subarray(0, 36))));
  out.set(TABLE_MAGIC, 40);
  return out;
}

/**
 * Decodes and checks a footer read from the last {@link FOOTER_SIZE_BYTES} of a file of
 * `file_size_bytes`: magic, checksum, version, and that both handles lie inside the file.
 */
export function decodeFooter(bytes: Uint8Array, path: string, file_size_bytes: number): Footer {
  const footer_offset = file_size_bytes - FOOTER_SIZE_BYTES;
  const corrupt = (detail: string) => new CorruptionError(path, footer_offset, detail);
  for (let i = 0; i < TABLE_MAGIC.length; i++) {
    if (bytes[40 + i] !== TABLE_MAGIC[i]) throw corrupt("bad table magic number (not a table?)");
  }
  if (readUint32LE(bytes, 36) !== maskCrc(crc32c(bytes.subarray(0, 36)))) {
    throw corrupt("footer checksum mismatch");
  }
  const version = readUint32LE(bytes, 32);
  if (version !== TABLE_FORMAT_VERSION) {
    throw corrupt(`table format version ${version}; this build reads ${TABLE_FORMAT_VERSION}`);
  }
  const footer: Footer = {
    filter: { offset: readUint64LE(bytes, 0), size_bytes: readUint64LE(bytes, 8) },
    index: { offset: readUint64LE(bytes, 16), size_bytes: readUint64LE(bytes, 24) },
  };
  checkHandle(footer.index, path, footer_offset, footer_offset, "index");
  if (footer.filter.size_bytes > 0) {
    checkHandle(footer.filter, path, footer_offset, footer_offset, "filter");
  }
  return footer;
}

/**
 * Throws CorruptionError unless the block `handle` (plus trailer) ends at or before
 * `limit_offset` and is of a plausible size.
 */
export function checkHandle(
  handle: BlockHandle,
  path: string,
  where_offset: number,
  limit_offset: number,
  what: string,
): void {
  const end = handle.offset + handle.size_bytes + BLOCK_TRAILER_SIZE_BYTES;
  if (
    !Number.isSafeInteger(end) || handle.size_bytes > MAX_BLOCK_SIZE_BYTES ||
    end > limit_offset
  ) {
    throw new CorruptionError(
      path,
      where_offset,
      `${what} block handle (offset ${handle.offset}, ${handle.size_bytes} bytes) ` +
        `lies outside the ${limit_offset} bytes it may use`,
    );
  }
}

/**
 * Decodes a block handle (two varints: offset, size) from `bytes[start, end)`; the value of
 * an index entry. Writes into `out` to avoid allocating on the read path.
 */
export function decodeBlockHandle(
  bytes: Uint8Array,
  start: number,
  end: number,
  varint: VarintReader,
  out: BlockHandle,
): boolean {
  out.offset = varint.read(bytes, start, end);
  if (varint.position < 0) return false;
  out.size_bytes = varint.read(bytes, varint.position, end);
  return varint.position === end;
}

/**
 * Reads the block at `handle` and verifies its trailer; returns the contents (a view of a
 * fresh buffer). Throws CorruptionError for a short read, unknown type or checksum mismatch.
 */
export function readBlockContents(file: FileHandle, handle: BlockHandle): Uint8Array {
  return readBlockContentsInto(
    file,
    handle,
    new Uint8Array(handle.size_bytes + BLOCK_TRAILER_SIZE_BYTES),
  );
}

/**
 * {@link readBlockContents} into `buffer` of exactly the block's size plus trailer (a room
 * lent by the block cache); returns the contents as a view of it.
 */
export function readBlockContentsInto(
  file: FileHandle,
  handle: BlockHandle,
  buffer: Uint8Array,
): Uint8Array {
  const total = handle.size_bytes + BLOCK_TRAILER_SIZE_BYTES;
  if (buffer.length !== total) {
    throw new StorageError(`block buffer of ${buffer.length} bytes for a ${total}-byte block`);
  }
  const read = file.readAt(buffer, handle.offset);
  if (read !== total) {
    throw new CorruptionError(
      file.path,
      handle.offset,
      `block truncated: read ${read} of ${total} bytes`,
    );
  }
  const contents = buffer.subarray(0, handle.size_bytes);
  const type = buffer[handle.size_bytes];
  if (type !== BLOCK_TYPE_UNCOMPRESSED) {
    throw new CorruptionError(
      file.path,
      handle.offset,
      `unknown block type ${type}; only 0 (uncompressed) is written`,
    );
  }
  if (readUint32LE(buffer, handle.size_bytes + 1) !== blockChecksum(contents, type)) {
    throw new CorruptionError(file.path, handle.offset, "block checksum mismatch");
  }
  return contents;
}
