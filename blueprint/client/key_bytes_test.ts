import assert from "node:assert/strict";
import { etcdCodecs, loadEtcdSchema } from "../../shared/proto/mod.ts";
import { prefixEnd, rangeEndFor, toBytes, toText } from "./key_bytes.ts";

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

Deno.test("rangeEndFor leaves range_end out for one key, so etcd does not read a range", async () => {
  const key = toBytes("k");
  assert.equal(rangeEndFor(key, {}), undefined);
  assert.equal(rangeEndFor(key, { range_end: "" }), undefined);
  assert.deepEqual(rangeEndFor(key, { prefix: true }), toBytes("l"));
  assert.deepEqual(rangeEndFor(key, { range_end: "z" }), toBytes("z"));
  assert.throws(() => rangeEndFor(key, { prefix: true, range_end: "z" }), /either prefix or/);
  // On the wire: only field 1 (the key), no field 2 present-but-empty (0x12 0x00).
  const codecs = etcdCodecs(await loadEtcdSchema());
  const bytes = codecs.RangeRequest.encode({ key, range_end: rangeEndFor(key, {}) });
  assert.deepEqual([...bytes], [0x0a, 0x01, 0x6b]);
});
