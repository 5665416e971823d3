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

/**
 * The `range_end` to send for a key, a prefix or an explicit range end; `undefined` for one
 * key. The field must then be left out, not sent empty: etcd decodes an empty `range_end`
 * that is present on the wire as "every key >= key" (its own client never sends one).
 *
 * @param key the key, prefix or range start
 * @param options `prefix`, or an explicit `range_end` (an empty one means one key)
 * @example
 * ```ts
 * rangeEndFor(toBytes("a/"), { prefix: true }); // "a0" as bytes
 * rangeEndFor(toBytes("a"), {}); // undefined: just "a"
 * ```
 */
export function rangeEndFor(
  key: Uint8Array,
  options: { readonly prefix?: boolean; readonly range_end?: Bytes },
): Uint8Array | undefined {
  if (options.prefix && options.range_end !== undefined) {
    throw new RangeError("give either prefix or range_end, not both");
  }
  if (options.prefix) return prefixEnd(key);
  if (options.range_end === undefined) return undefined;
  const end = toBytes(options.range_end);
  return end.length === 0 ? undefined : end;
}
