/**
 * CRC-32C (Castagnoli), the checksum of every record and block the product writes.
 *
 * Slicing-by-8 tables: eight table look-ups per 8 input bytes, which keeps checksumming well
 * below the cost of the I/O it protects.
 *
 * @module
 */

const POLYNOMIAL_REFLECTED = 0x82f63b78;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    first[n] = c >>> 0;
  }
  tables.push(first);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1];
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) next[n] = (prev[n] >>> 8) ^ first[prev[n] & 0xff];
    tables.push(next);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables();

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
  let c = ~crc;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  while (i < end8) {
    const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    c = T7[lo & 0xff] ^ T6[(lo >>> 8) & 0xff] ^ T5[(lo >>> 16) & 0xff] ^ T4[lo >>> 24] ^
      T3[data[i + 4]] ^ T2[data[i + 5]] ^ T1[data[i + 6]] ^ T0[data[i + 7]];
    i += 8;
  }
  while (i < data.length) c = T0[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
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
