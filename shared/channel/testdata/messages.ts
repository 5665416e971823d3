/**
 * Messages for the channel tests whose bytes tell their number and size, so that a test can
 * check every byte of what arrives.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Message number `index` with `size_bytes` bytes, each derived from index and position. */
export function numberedMessage(index: number, size_bytes: number): Uint8Array {
  const message = new Uint8Array(size_bytes);
  for (let i = 0; i < size_bytes; i++) message[i] = (index * 31 + i * 7) & 0xff;
  return message;
}

/** Asserts that `actual` is exactly message number `index` of `size_bytes` bytes. */
export function assertNumberedMessage(
  actual: Uint8Array | null,
  index: number,
  size_bytes: number,
): void {
  assert.ok(actual !== null, `message ${index} missing`);
  assert.equal(actual.length, size_bytes, `message ${index} length`);
  for (let i = 0; i < size_bytes; i++) {
    if (actual[i] !== ((index * 31 + i * 7) & 0xff)) {
      assert.fail(`message ${index} differs at byte ${i} of ${size_bytes}`);
    }
  }
}

/** Lets the event loop run a few turns, so that anything ready to settle has settled. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
