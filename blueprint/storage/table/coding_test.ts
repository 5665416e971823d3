import assert from "node:assert/strict";
import { fc } from "../../../dev_deps.ts";
import {
  readUint32LE,
  readUint64LE,
  varintLength,
  VarintReader,
  writeUint32LE,
  writeUint64LE,
  writeVarint,
} from "./coding.ts";

Deno.test("varints round-trip every safe integer and report their length", () => {
  const reader = new VarintReader();
  fc.assert(fc.property(fc.oneof(fc.nat(300), fc.nat(), fc.maxSafeNat()), (value) => {
    const out = new Uint8Array(12);
    const end = writeVarint(out, 1, value);
    assert.equal(end - 1, varintLength(value));
    assert.equal(reader.read(out, 1, end), value);
    assert.equal(reader.position, end);
  }));
});

Deno.test("a truncated or overlong varint is reported with position -1", () => {
  const reader = new VarintReader();
  const out = new Uint8Array(8);
  const end = writeVarint(out, 0, 300);
  reader.read(out, 0, end - 1);
  assert.equal(reader.position, -1);
  reader.read(new Uint8Array(9).fill(0x80), 0, 9);
  assert.equal(reader.position, -1);
});

Deno.test("fixed-width integers are little-endian", () => {
  const out = new Uint8Array(8);
  writeUint32LE(out, 0, 0x04030201);
  assert.deepEqual([...out.subarray(0, 4)], [1, 2, 3, 4]);
  assert.equal(readUint32LE(out, 0), 0x04030201);
  writeUint64LE(out, 0, 2 ** 40 + 7);
  assert.deepEqual([...out], [7, 0, 0, 0, 0, 1, 0, 0]);
  assert.equal(readUint64LE(out, 0), 2 ** 40 + 7);
  assert.ok(Number.isNaN(readUint64LE(new Uint8Array(8).fill(0xff), 0)));
});
