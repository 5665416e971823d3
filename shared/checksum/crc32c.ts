/**
 * CRC-32C (Castagnoli), the checksum of every record and block the product writes.
 *
 * Slicing-by-16 over 32-bit word loads: sixteen table look-ups per 16 input bytes from one
 * flat table, which runs 2-3 times faster than byte-wise slicing-by-8 and keeps verifying
 * a block well below the cost of reading it.
 *
 * @module
 */

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const SLICES = 16;

/**
 * Table `t` (at `t * 256`) maps a byte to its CRC contribution when followed by `t` more
 * bytes; signed entries so that look-ups and XORs stay in small integers.
 */
function buildTable(): Int32Array {
  const table = new Int32Array(SLICES * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    table[n] = c;
  }
  for (let t = 1; t < SLICES; t++) {
    for (let n = 0; n < 256; n++) {
      const previous = table[(t - 1) * 256 + n];
      table[t * 256 + n] = (previous >>> 8) ^ table[previous & 0xff];
    }
  }
  return table;
}

const T = buildTable();

/** Word loads read bytes in memory order only on a little-endian machine. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Below this many bytes the word path's setup costs more than it saves. */
const MIN_WORD_PATH_BYTES = 64;

/** Adds `data[from, to)` to the (inverted) running CRC `c` one byte at a time. */
function bytewise(c: number, data: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) c = T[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/**
 * Extends a running CRC-32C with more bytes.
 *
 * @param crc the CRC of the bytes before `data` (0 to start)
 * @param data the bytes to add
 * @returns the CRC of everything so far, as an unsigned 32-bit number
 * @example
 * ```ts
 * const whole = crc32cUpdate(crc32cUpdate(0, part1), part2); // same as crc32c(part1 + part2)
 * ```
 */
export function crc32cUpdate(crc: number, data: Uint8Array): number {
  const length = data.length;
  if (!LITTLE_ENDIAN || length < MIN_WORD_PATH_BYTES) return ~bytewise(~crc, data, 0, length) >>> 0;
  // Bytes up to the first 4-byte boundary of the underlying buffer, then whole words.
  const head = (4 - (data.byteOffset & 3)) & 3;
  let c = bytewise(~crc, data, 0, head);
  const word_count = ((length - head) >>> 2) & ~3;
  const words = new Int32Array(data.buffer, data.byteOffset + head, word_count);
  for (let w = 0; w < word_count; w += 4) {
    const a = c ^ words[w];
    const b = words[w + 1];
    const d = words[w + 2];
    const e = words[w + 3];
    c = T[3840 + (a & 0xff)] ^ T[3584 + ((a >>> 8) & 0xff)] ^ T[3328 + ((a >>> 16) & 0xff)] ^
      T[3072 + (a >>> 24)] ^ T[2816 + (b & 0xff)] ^ T[2560 + ((b >>> 8) & 0xff)] ^
      T[2304 + ((b >>> 16) & 0xff)] ^ T[2048 + (b >>> 24)] ^ T[1792 + (d & 0xff)] ^
      T[1536 + ((d >>> 8) & 0xff)] ^ T[1280 + ((d >>> 16) & 0xff)] ^ T[1024 + (d >>> 24)] ^
      T[768 + (e & 0xff)] ^ T[512 + ((e >>> 8) & 0xff)] ^ T[256 + ((e >>> 16) & 0xff)] ^
      T[e >>> 24];
  }
  c = bytewise(c, data, head + word_count * 4, length);
  return ~c >>> 0;
}

/**
 * CRC-32C of a byte array.
 *
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 * ```
 */
export function crc32c(data: Uint8Array): number {
  return crc32cUpdate(0, data);
}

const MASK_DELTA = 0xa282ead8;

/**
 * Masks a CRC before it is stored, as LevelDB does, so that the CRC of data that itself
 * contains CRCs (a table holding checksummed records) is not weak.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** Inverse of {@link maskCrc}. */
export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
