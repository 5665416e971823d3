import assert from "node:assert/strict";
import { StorageError } from "../errors.ts";
import { BloomFilterBuilder, bloomHash, bloomMayContain, probeCount } from "./bloom.ts";

const encodeKey = (i: number) => new TextEncoder().encode(`key-${i}`);

function buildFilter(keys: Uint8Array[], bits_per_key: number): Uint8Array {
  const builder = new BloomFilterBuilder(bits_per_key);
  for (const k of keys) builder.addKey(k, 0, k.length);
  return builder.finish();
}

Deno.test("bloomHash matches LevelDB's hash test vectors", () => {
  const cases: [number[], number][] = [
    [[], 0xbc9f1d34],
    [[0x62], 0xef1345c4],
    [[0xc3, 0x97], 0x5b663814],
    [[0xe2, 0x99, 0xa5], 0x323c078f],
    [[0xe1, 0x80, 0xb9, 0x32], 0xed21633a],
  ];
  for (const [bytes, expected] of cases) {
    const data = new Uint8Array(bytes);
    assert.equal(bloomHash(data, 0, data.length), expected, `hash of [${bytes}]`);
  }
});

Deno.test("probe count is round(bits_per_key * ln 2) clamped to 1..30", () => {
  assert.equal(probeCount(1), 1);
  assert.equal(probeCount(10), 7);
  assert.equal(probeCount(16), 11);
  assert.equal(probeCount(100), 30);
});

Deno.test("a filter has no false negatives", () => {
  for (const count of [0, 1, 10, 1000, 20_000]) {
    const keys = Array.from({ length: count }, (_, i) => encodeKey(i));
    const filter = buildFilter(keys, 10);
    for (const k of keys) assert.ok(bloomMayContain(filter, k, 0, k.length), `key of ${count}`);
  }
});

Deno.test("at 10 bits per key about 1% of absent keys pass", () => {
  const present = Array.from({ length: 10_000 }, (_, i) => encodeKey(i));
  const filter = buildFilter(present, 10);
  let passed = 0;
  const probes = 100_000;
  for (let i = 0; i < probes; i++) {
    const absent = encodeKey(1_000_000_000 + i);
    if (bloomMayContain(filter, absent, 0, absent.length)) passed++;
  }
  const rate = passed / probes;
  assert.ok(rate > 0.004 && rate < 0.02, `false positive rate ${rate} should be about 0.01`);
  assert.equal(filter.length, 10_000 * 10 / 8 + 1);
});

Deno.test("a tiny filter still uses 64 bits; short or reserved filters match everything", () => {
  assert.equal(buildFilter([encodeKey(1)], 10).length, 9);
  const k = encodeKey(5);
  assert.ok(bloomMayContain(new Uint8Array(1), k, 0, k.length));
  const reserved = new Uint8Array(9);
  reserved[8] = 31;
  assert.ok(bloomMayContain(reserved, k, 0, k.length));
  const empty_set = buildFilter([], 10);
  assert.equal(bloomMayContain(empty_set, k, 0, k.length), false);
});

Deno.test("bits per key outside 1..100 is rejected", () => {
  assert.throws(() => new BloomFilterBuilder(0), StorageError);
  assert.throws(() => new BloomFilterBuilder(101), /integer in 0\.\.100/);
  assert.throws(() => new BloomFilterBuilder(2.5), StorageError);
});
