/**
 * Little-endian fixed-width integers and LEB128 varints, read and written in place.
 *
 * Decoders never allocate: {@link VarintReader} keeps the position after the last decoded
 * number in a field, so the read path can walk blocks without creating tuples.
 *
 * @module
 */

/** Largest byte count of a varint holding a number below 2^53. */
export const MAX_VARINT64_BYTES = 8;

/** Writes `value` (< 2^32) as a little-endian uint32 at `offset`. */
export function writeUint32LE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}

/** Reads a little-endian uint32 at `offset`. */
export function readUint32LE(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)) >>> 0;
}

/** Writes a non-negative safe integer as a little-endian uint64 at `offset`. */
export function writeUint64LE(out: Uint8Array, offset: number, value: number): void {
  writeUint32LE(out, offset, value >>> 0);
  writeUint32LE(out, offset + 4, Math.floor(value / 2 ** 32) >>> 0);
}

/** Reads a little-endian uint64 at `offset`; returns NaN above 2^53 (callers reject it). */
export function readUint64LE(bytes: Uint8Array, offset: number): number {
  const high = readUint32LE(bytes, offset + 4);
  if (high >= 2 ** 21) return NaN;
  return high * 2 ** 32 + readUint32LE(bytes, offset);
}

/** Bytes a varint of `value` takes. */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/**
 * Writes `value` (a non-negative safe integer) as a varint at `offset`; returns the offset
 * after it. The caller guarantees room for {@link varintLength} bytes.
 */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  while (value >= 128) {
    out[offset++] = (value & 0x7f) | 0x80;
    value = value < 2 ** 31 ? value >>> 7 : Math.floor(value / 128);
  }
  out[offset++] = value;
  return offset;
}

/**
 * Decodes varints from a byte range without allocating. After {@link VarintReader.read},
 * `position` is just past the number, or -1 if the varint was truncated or too long.
 */
export class VarintReader {
  /** Offset after the last decoded varint, or -1 after a malformed one. */
  position = 0;

  /**
   * Decodes the varint at `offset`, reading no byte at or after `limit`.
   * Returns the number (0 when malformed; check `position`).
   */
  read(bytes: Uint8Array, offset: number, limit: number): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < MAX_VARINT64_BYTES; i++) {
      if (offset >= limit) break;
      const byte = bytes[offset++];
      result += (byte & 0x7f) * multiplier;
      if (byte < 128) {
        this.position = offset;
        return result;
      }
      multiplier *= 128;
    }
    this.position = -1;
    return 0;
  }
}
