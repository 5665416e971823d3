import assert from "node:assert/strict";
import { FaultyFileSystem, NodeFileSystem } from "../../shared/fs/mod.ts";
import { CorruptionError, Storage, StorageError, WriteBatch } from "./mod.ts";
import { Wal } from "./wal.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (
  b: Uint8Array | undefined,
) => (b === undefined ? undefined : new TextDecoder().decode(b));

function small(fs: FaultyFileSystem) {
  return {
    fs,
    background: "inline" as const,
    memtable_size_bytes: 4 << 10,
    target_file_size_bytes: 4 << 10,
    block_size_bytes: 512,
    max_bytes_for_level_base: 16 << 10,
  };
}

Deno.test("put, get, delete and reopen", async () => {
  const fs = new FaultyFileSystem();
  let db = await Storage.open("/db", small(fs));
  await db.put(bytes("a"), bytes("1"));
  await db.put(bytes("b"), bytes("2"), { sync: true });
  await db.delete(bytes("a"), { sync: true });
  assert.equal(db.get(bytes("a")), undefined);
  assert.equal(text(db.get(bytes("b"))), "2");
  await db.close();
  db = await Storage.open("/db", small(fs));
  assert.equal(db.get(bytes("a")), undefined);
  assert.equal(text(db.get(bytes("b"))), "2");
  await db.close();
});

Deno.test("many writes flush and compact, and every value stays readable", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  const value = (i: number, round: number) => `value-${i}-${round}-${"x".repeat(i % 50)}`;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 600; i++) {
      await db.put(bytes(`key${String(i).padStart(5, "0")}`), bytes(value(i, round)));
    }
  }
  for (let i = 0; i < 600; i += 7) await db.delete(bytes(`key${String(i).padStart(5, "0")}`));
  const stats = db.stats();
  assert.ok(stats.flushes > 3, `flushes: ${stats.flushes}`);
  assert.ok(stats.compactions > 0, `compactions: ${stats.compactions}`);
  for (let i = 0; i < 600; i++) {
    const got = text(db.get(bytes(`key${String(i).padStart(5, "0")}`)));
    assert.equal(got, i % 7 === 0 ? undefined : value(i, 2), `key ${i}`);
  }
  const scanned = [...db.scan()].map((e) => text(e.key));
  assert.equal(scanned.length, 600 - Math.ceil(600 / 7));
  await db.compactRange();
  const after = db.stats();
  assert.equal(after.levels.filter((l) => l.files > 0).length, 1);
  assert.deepEqual([...db.scan()].map((e) => text(e.key)), scanned);
  await db.close();
});

Deno.test("bad input is refused with a clear error and nothing changes", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", { ...small(fs), max_key_bytes: 8, max_value_bytes: 16 });
  await db.put(bytes("ok"), bytes("1"));
  await assert.rejects(
    db.put(new Uint8Array(0), bytes("v")),
    (e) =>
      e instanceof StorageError &&
      /key must not be empty \(allowed: 1 to 8 bytes\)/.test(e.message),
  );
  await assert.rejects(
    db.put(bytes("123456789"), bytes("v")),
    /key of 9 bytes is longer than max_key_bytes \(8\)/,
  );
  await assert.rejects(
    db.put(bytes("k"), new Uint8Array(17)),
    /value of 17 bytes is longer than max_value_bytes \(16\)/,
  );
  const batch = new WriteBatch().put(bytes("good"), bytes("1")).put(
    bytes("toolongkey"),
    bytes("2"),
  );
  await assert.rejects(db.write(batch), StorageError);
  assert.equal(db.get(bytes("good")), undefined, "a refused batch writes nothing");
  assert.throws(() => db.get(new Uint8Array(0)), /key must not be empty/);
  assert.throws(() => db.scan({ limit: -1 }), /limit must be a non-negative integer/);
  assert.equal(db.stats().last_sequence, 1);
  await db.close();
  await assert.rejects(
    db.put(bytes("ok"), bytes("2")),
    /closed; no reads or writes are allowed after close/,
  );
  assert.throws(() => db.get(bytes("ok")), /closed/);
  await assert.rejects(
    Storage.open("/db", { fs, memtable_size_bytes: -1 }),
    /memtable_size_bytes must be an integer/,
  );
  await assert.rejects(
    Storage.open("/db", { fs, bogus: 1 } as never),
    /unknown storage option "bogus"/,
  );
});

Deno.test("a second open of one directory is refused while the first is open", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  await assert.rejects(
    Storage.open("/db", small(fs)),
    (e) => e instanceof StorageError && e.message.includes("/db is in use by another process"),
  );
  await db.close();
  const again = await Storage.open("/db", small(fs));
  await again.close();
});

Deno.test("snapshots keep their view while writes, flushes and compactions continue", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  for (let i = 0; i < 100; i++) await db.put(bytes(`k${i}`), bytes(`old${i}`));
  const snapshot = db.snapshot();
  const scan = db.scan({ snapshot, prefix: bytes("k1") });
  for (let i = 0; i < 100; i++) await db.put(bytes(`k${i}`), bytes(`new${i}`));
  await db.delete(bytes("k10"));
  await db.compactRange();
  assert.equal(text(db.get(bytes("k10"), { snapshot })), "old10");
  assert.equal(db.get(bytes("k10")), undefined);
  const seen = [...scan].map((e) => `${text(e.key)}=${text(e.value)}`);
  assert.equal(seen.length, 11);
  assert.ok(seen.every((s) => s.includes("=old")));
  const reverse = [...db.scan({ snapshot, start: bytes("k5"), end: bytes("k6"), reverse: true })];
  assert.deepEqual(reverse.map((e) => text(e.key)), [
    "k59",
    "k58",
    "k57",
    "k56",
    "k55",
    "k54",
    "k53",
    "k52",
    "k51",
    "k50",
    "k5",
  ]);
  snapshot.release();
  assert.throws(() => db.get(bytes("k1"), { snapshot }), /live snapshot/);
  await db.close();
});

Deno.test("a flipped byte in a table gives a CorruptionError naming the file", async () => {
  const fs = new FaultyFileSystem();
  let db = await Storage.open("/db", small(fs));
  for (let i = 0; i < 50; i++) await db.put(bytes(`key${i}`), bytes(`value${i}`));
  await db.flush();
  await db.close();
  const table = fs.list("/db").find((n) => n.endsWith(".sst"))!;
  fs.flipByte(`/db/${table}`, 10);
  db = await Storage.open("/db", small(fs));
  assert.throws(() => {
    for (let i = 0; i < 50; i++) db.get(bytes(`key${i}`));
  }, (e) => e instanceof CorruptionError && e.message.includes(table));
  await db.close();
});

Deno.test("concurrent synced writes share fdatasyncs (group commit)", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  const before = fs.counters.syncs;
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => db.put(bytes(`k${i}`), bytes("v"), { sync: true })),
  );
  const syncs = fs.counters.syncs - before;
  assert.ok(syncs >= 1 && syncs <= 5, `50 concurrent synced writes took ${syncs} syncs`);
  assert.equal(text(db.get(bytes("k49"))), "v");
  await db.close();
});

Deno.test("an open scan keeps its tables; they are deleted once it finishes", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  for (let i = 0; i < 40; i++) await db.put(bytes(`k${i}`), bytes(`v${i}`));
  await db.flush();
  const tables_before = fs.list("/db").filter((n) => n.endsWith(".sst"));
  const scan = db.scan();
  assert.equal(text(scan.next().value?.key), "k0");
  for (let i = 0; i < 40; i++) await db.put(bytes(`k${i}`), bytes(`w${i}`));
  await db.compactRange();
  assert.ok(db.stats().live_versions > 1, "the scan pins an old version");
  for (const name of tables_before) assert.ok(fs.exists(`/db/${name}`), `${name} still pinned`);
  const rest = [...scan].map((e) => text(e.value));
  assert.equal(rest.length, 39);
  assert.ok(rest.every((v) => v!.startsWith("v")), "the scan kept its view");
  assert.equal(db.stats().live_versions, 1);
  for (const name of tables_before) assert.ok(!fs.exists(`/db/${name}`), `${name} deleted`);
  await db.close();
});

Deno.test("writes stall while the memtable flush is slow, and the stall is counted", async () => {
  const fs = new FaultyFileSystem({ sync_delay_ms: 2 });
  const db = await Storage.open("/db", small(fs));
  const value = new Uint8Array(200);
  await Promise.all(Array.from({ length: 200 }, (_, i) => db.put(bytes(`k${i}`), value)));
  const stats = db.stats();
  assert.ok(stats.write_stops > 0, `write_stops ${stats.write_stops}`);
  assert.ok(stats.write_stall_ms > 0);
  assert.equal(db.get(bytes("k199"))?.length, 200);
  await db.close();
});

Deno.test("on the real disk a second open is refused and the data survives reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "storage_db_test_" });
  try {
    const options = { fs: new NodeFileSystem(), background: "inline" as const };
    const db = await Storage.open(dir, options);
    await db.put(bytes("k"), bytes("v"), { sync: true });
    await assert.rejects(Storage.open(dir, options), /is in use by another process/);
    await db.close();
    const again = await Storage.open(dir, options);
    assert.equal(text(again.get(bytes("k"))), "v");
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reads see memtables still waiting for their flush", async () => {
  const fs = new FaultyFileSystem({ sync_delay_ms: 5 });
  const db = await Storage.open("/db", { ...small(fs), max_immutable_memtables: 2 });
  const value = (i: number) => bytes(`value${i}-${"x".repeat(100)}`);
  const writes: Promise<void>[] = [];
  let most_waiting_bytes = 0;
  for (let i = 0; i < 150; i++) {
    writes.push(db.put(bytes(`k${i}`), value(i)));
    if (i % 10 === 9) {
      await writes[writes.length - 1];
      const waiting = db.stats().immutable_memtable_bytes;
      most_waiting_bytes = Math.max(most_waiting_bytes, waiting);
      for (let j = 0; j <= i; j++) assert.deepEqual(db.get(bytes(`k${j}`)), value(j), `k${j}`);
      assert.equal([...db.scan({ prefix: bytes("k") })].length, i + 1);
    }
  }
  await Promise.all(writes);
  assert.ok(most_waiting_bytes > 4 << 10, `two memtables waited (${most_waiting_bytes} bytes)`);
  await db.close();
});

Deno.test("recovery keeps a prefix when an older log lost writes that a newer log continues", async (t) => {
  /**
   * Builds the directory a crash can leave after a memtable switch with unsynced writes:
   * the retired log holds `old_log` (sequences from 1), the newer log opens with the empty
   * batch naming its first sequence (`newer_first`) and holds key "d" at that sequence.
   */
  async function recover(old_log: string[], newer_first: number): Promise<Storage> {
    const fs = new FaultyFileSystem();
    await (await Storage.open("/db", small(fs))).close();
    const logs = fs.list("/db").filter((name) => name.endsWith(".log"));
    assert.equal(logs.length, 1);
    const old_number = Number(logs[0].slice(0, -".log".length));
    const log_path = (n: number) => `/db/${String(n).padStart(6, "0")}.log`;
    const old_wal = Wal.create(fs, log_path(old_number));
    old_log.forEach((key, i) =>
      old_wal.append(new WriteBatch().put(bytes(key), bytes(key)).encode(i + 1), false)
    );
    await old_wal.close();
    const newer_wal = Wal.create(fs, log_path(old_number + 1));
    newer_wal.append(new WriteBatch().encode(newer_first), false);
    newer_wal.append(new WriteBatch().put(bytes("d"), bytes("d")).encode(newer_first), false);
    await newer_wal.close();
    return await Storage.open("/db", small(fs));
  }

  await t.step("a newer log that continues the older one is replayed", async () => {
    const db = await recover(["a", "b", "c"], 4);
    assert.deepEqual(["a", "b", "c", "d"].map((k) => text(db.get(bytes(k)))), ["a", "b", "c", "d"]);
    await db.close();
  });

  await t.step("a newer log after a lost tail is dropped", async () => {
    const db = await recover(["a", "b"], 4);
    assert.deepEqual(["a", "b", "c", "d"].map((k) => text(db.get(bytes(k)))), [
      "a",
      "b",
      undefined,
      undefined,
    ]);
    await db.close();
  });

  await t.step("a newer log after an emptied log is dropped", async () => {
    const db = await recover([], 4);
    assert.equal(db.get(bytes("d")), undefined);
    await db.close();
  });
});

Deno.test("a synced write after a memtable switch makes the retired log's writes durable", async () => {
  // Slow syncs keep the retired memtable's flush from committing before the crash, so the
  // unsynced write survives only if the synced one made its retired log durable.
  const fs = new FaultyFileSystem({ sync_delay_ms: 40 });
  const db = await Storage.open("/db", small(fs));
  await db.put(bytes("unsynced"), new Uint8Array(8 << 10));
  await db.put(bytes("synced"), bytes("1"), { sync: true });
  assert.equal(db.stats().flushes, 0, "the retired memtable must still wait for its flush");
  fs.crash(() => 0);
  const recovered = await Storage.open("/db", small(fs));
  assert.equal(recovered.get(bytes("unsynced"))?.length, 8 << 10);
  assert.equal(text(recovered.get(bytes("synced"))), "1");
  await recovered.close();
});
