/**
 * LevelDB's bloom filter: one filter per table over user keys.
 *
 * k = round(bits_per_key * ln 2) probes, clamped to 1..30, by double hashing from one 32-bit
 * hash (delta = hash rotated right by 17). Layout: the bit array, then one byte holding k.
 * At 10 bits per key about 1% of absent keys pass.
 *
 * @module
 */
import { StorageError } from "../errors.ts";

const HASH_SEED = 0xbc9f1d34;
const HASH_MULTIPLIER = 0xc6a4a793;

/** Most probes a filter may use; a larger stored k means "reserved format": always match. */
export const MAX_PROBES = 30;

/** Largest bits_per_key accepted (filters above this waste space for no gain). */
export const MAX_BITS_PER_KEY = 100;

/** LevelDB's 32-bit hash (a Murmur variant) of `bytes[start, end)`, computed in place. */
export function bloomHash(bytes: Uint8Array, start: number, end: number): number {
  const n = end - start;
  let h = (HASH_SEED ^ Math.imul(n, HASH_MULTIPLIER)) >>> 0;
  let i = start;
  const end4 = start + (n & ~3);
  for (; i < end4; i += 4) {
    const word = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    h = Math.imul((h + word) | 0, HASH_MULTIPLIER);
    h ^= h >>> 16;
  }
  const rest = end - i;
  if (rest > 0) {
    if (rest === 3) h = (h + (bytes[i + 2] << 16)) | 0;
    if (rest >= 2) h = (h + (bytes[i + 1] << 8)) | 0;
    h = Math.imul((h + bytes[i]) | 0, HASH_MULTIPLIER);
    h ^= h >>> 24;
  }
  return h >>> 0;
}

/** Number of probes for `bits_per_key`: round(bits_per_key * ln 2), clamped to 1..30. */
export function probeCount(bits_per_key: number): number {
  return Math.min(MAX_PROBES, Math.max(1, Math.round(bits_per_key * Math.LN2)));
}

/** Checks a bits_per_key option: an integer in 0..100 (0 = no filter). */
export function checkBitsPerKey(bits_per_key: number): void {
  if (!Number.isInteger(bits_per_key) || bits_per_key < 0 || bits_per_key > MAX_BITS_PER_KEY) {
    throw new StorageError(
      `bloom_bits_per_key must be an integer in 0..${MAX_BITS_PER_KEY} (0 disables the filter), got ${bits_per_key}`,
    );
  }
}

/** Collects key hashes while a table is built, then lays out the filter. */
export class BloomFilterBuilder {
  #hashes: Uint32Array = new Uint32Array(1024);
  #count = 0;

  /** @param bits_per_key filter bits per distinct key (1..100) */
  constructor(readonly bits_per_key: number) {
    checkBitsPerKey(bits_per_key);
    if (bits_per_key === 0) throw new StorageError("a bloom filter needs bits_per_key >= 1");
  }

  /** Keys added so far. */
  keyCount(): number {
    return this.#count;
  }

  /** Adds the key `bytes[start, end)`. */
  addKey(bytes: Uint8Array, start: number, end: number): void {
    if (this.#count === this.#hashes.length) {
      const grown = new Uint32Array(this.#hashes.length * 2);
      grown.set(this.#hashes);
      this.#hashes = grown;
    }
    this.#hashes[this.#count++] = bloomHash(bytes, start, end);
  }

  /** The filter bytes: bit array (at least 64 bits) followed by the probe count. */
  finish(): Uint8Array {
    const probes = probeCount(this.bits_per_key);
    const bit_count_wanted = Math.max(64, this.#count * this.bits_per_key);
    const byte_count = Math.ceil(bit_count_wanted / 8);
    const bit_count = byte_count * 8;
    const filter = new Uint8Array(byte_count + 1);
    filter[byte_count] = probes;
    for (let i = 0; i < this.#count; i++) {
      let h = this.#hashes[i];
      const delta = ((h >>> 17) | (h << 15)) >>> 0;
      for (let j = 0; j < probes; j++) {
        const bit = h % bit_count;
        filter[bit >>> 3] |= 1 << (bit & 7);
        h = (h + delta) >>> 0;
      }
    }
    return filter;
  }
}

/**
 * Whether the key `bytes[start, end)` may be in the set `filter` was built from. False means
 * certainly absent. A filter too short to hold bits, or with a reserved probe count, matches
 * everything (never a false negative).
 */
export function bloomMayContain(
  filter: Uint8Array,
  bytes: Uint8Array,
  start: number,
  end: number,
): boolean {
  const length = filter.length;
  if (length < 2) return true;
  const probes = filter[length - 1];
  if (probes > MAX_PROBES || probes === 0) return true;
  const bit_count = (length - 1) * 8;
  let h = bloomHash(bytes, start, end);
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < probes; j++) {
    const bit = h % bit_count;
    if ((filter[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}
