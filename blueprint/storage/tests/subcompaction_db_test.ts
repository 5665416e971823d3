/**
 * Compactions split into key-range parts, on the inline executor and across background
 * workers: every write is read back, scans see each key once and in order.
 */
import assert from "node:assert/strict";
import { Storage, WriteBatch } from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const key = (i: number) => encoder.encode(`k${String(i).padStart(7, "0")}`);

for (const background of ["inline", "worker"] as const) {
  Deno.test(`storage (${background}): split compactions keep every write`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "subcompaction_" });
    const db = await Storage.open(dir, {
      background,
      memtable_size_bytes: 32 << 10,
      target_file_size_bytes: 8 << 10,
      max_bytes_for_level_base: 64 << 10,
      max_subcompactions: 3,
    });
    try {
      const latest = new Map<number, string>();
      let seed = 11;
      const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 5000;
      for (let round = 0; round < 40; round++) {
        const batch = new WriteBatch();
        for (let i = 0; i < 250; i++) {
          const k = next();
          if (i % 17 === 0) {
            batch.delete(key(k));
            latest.delete(k);
          } else {
            const value = `v${round}-${i}-${k}`;
            batch.put(key(k), encoder.encode(value));
            latest.set(k, value);
          }
        }
        await db.write(batch);
      }
      await db.compactRange();
      assert.ok(db.stats().subcompactions > 0, "some compaction was split");
      for (let k = 0; k < 5000; k++) {
        assert.equal(decoder.decode(db.get(key(k)) ?? new Uint8Array()), latest.get(k) ?? "");
      }
      const scanned = [...db.scan()].map((e) => decoder.decode(e.key));
      const expected = [...latest.keys()].sort((a, b) => a - b).map((k) => decoder.decode(key(k)));
      assert.deepEqual(scanned, expected);
    } finally {
      await db.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
