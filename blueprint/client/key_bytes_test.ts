import assert from "node:assert/strict";
import { prefixEnd, toBytes, toText } from "./key_bytes.ts";

Deno.test("prefixEnd increments the last byte below 0xff, as etcd's GetPrefixRangeEnd", () => {
  assert.deepEqual(prefixEnd(toBytes("a/")), toBytes("a0"));
  assert.deepEqual(prefixEnd(new Uint8Array([1, 0xff, 0xff])), new Uint8Array([2]));
  assert.deepEqual(prefixEnd(new Uint8Array([0xff])), new Uint8Array([0]));
  assert.deepEqual(prefixEnd(new Uint8Array()), new Uint8Array([0]));
});

Deno.test("toBytes and toText round-trip UTF-8 and reject other types", () => {
  assert.equal(toText(toBytes("héllo")), "héllo");
  const bytes = new Uint8Array([1, 2]);
  assert.equal(toBytes(bytes), bytes);
  assert.throws(() => toBytes(5 as unknown as string), /a key or value is number/);
});
