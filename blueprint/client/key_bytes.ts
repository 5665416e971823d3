/**
 * Keys and values as bytes: strings are UTF-8, and the end of a prefix range as etcd computes
 * it.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A key or value: a string (sent as UTF-8) or raw bytes. */
export type Bytes = string | Uint8Array;

/**
 * The bytes of a key or value.
 *
 * @example
 * ```ts
 * toBytes("a"); // Uint8Array [97]
 * ```
 */
export function toBytes(value: Bytes): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new TypeError(
    `a key or value is ${typeof value}; allowed: a string (sent as UTF-8) or a Uint8Array`,
  );
}

/**
 * Bytes as text (UTF-8, with U+FFFD for invalid sequences), for printing.
 *
 * @example
 * ```ts
 * toText(new Uint8Array([104, 105])); // "hi"
 * ```
 */
export function toText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * The `range_end` that selects every key starting with `prefix`: the prefix with its last
 * byte below 0xff incremented and what follows dropped; `\0` (every key) when there is none.
 *
 * @example
 * ```ts
 * prefixEnd(toBytes("a/")); // "a0" as bytes
 * ```
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let index = prefix.length - 1; index >= 0; index--) {
    if (prefix[index] < 0xff) {
      const end = prefix.slice(0, index + 1);
      end[index]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}
