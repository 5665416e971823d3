import assert from "node:assert/strict";
import { encodeInternalKey, ValueType } from "../internal_key.ts";
import type { TableFileMeta } from "../manifest.ts";
import { GrandparentOverlap } from "./grandparent_overlap.ts";

const text = new TextEncoder();
const ikey = (user_key: string) => encodeInternalKey(text.encode(user_key), 5, ValueType.Value);
const grandparent = (n: number, low: string, high: string): TableFileMeta => ({
  file_number: n,
  size_bytes: 100,
  smallest_key: ikey(low),
  largest_key: ikey(high),
});

Deno.test("GrandparentOverlap: stops once the output has passed more than the limit", () => {
  const grandparents = [
    grandparent(1, "a", "b"),
    grandparent(2, "c", "d"),
    grandparent(3, "e", "f"),
    grandparent(4, "g", "h"),
  ];
  const overlap = new GrandparentOverlap(grandparents, 150);
  assert.equal(overlap.shouldStopBefore(ikey("a")), false); // first key: nothing passed
  assert.equal(overlap.shouldStopBefore(ikey("c")), false); // passed file 1: 100 bytes
  assert.equal(overlap.shouldStopBefore(ikey("e")), true); // passed file 2: 200 > 150
  assert.equal(overlap.shouldStopBefore(ikey("e1")), false); // count restarted
  assert.equal(overlap.shouldStopBefore(ikey("z")), true); // passed files 3 and 4
});

Deno.test("GrandparentOverlap: the first key never counts the files it skips", () => {
  const grandparents = [grandparent(1, "a", "b"), grandparent(2, "c", "d")];
  const overlap = new GrandparentOverlap(grandparents, 50);
  assert.equal(overlap.shouldStopBefore(ikey("x")), false);
  assert.equal(overlap.shouldStopBefore(ikey("y")), false);
  assert.equal(new GrandparentOverlap([], 0).shouldStopBefore(ikey("a")), false);
});
