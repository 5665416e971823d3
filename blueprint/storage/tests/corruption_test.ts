/**
 * Corruption tests: one flipped byte in a table file or in the MANIFEST must surface as a
 * CorruptionError naming that file, never as a wrong value.
 */
import assert from "node:assert/strict";
import { FaultyFileSystem } from "../../../shared/fs/mod.ts";
import { CorruptionError, Storage, type StorageOptions } from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEY_COUNT = 300;
const OFFSETS_PER_TABLE = 24;

const OPTIONS: Omit<StorageOptions, "fs"> = {
  background: "inline",
  memtable_size_bytes: 8 << 10,
  target_file_size_bytes: 8 << 10,
  block_size_bytes: 512,
  max_bytes_for_level_base: 1 << 20,
};

const keyOf = (i: number) => `key${String(i).padStart(4, "0")}`;
const valueOf = (i: number) => `value${i}-${"v".repeat(i % 40)}`;

/** A closed database with tables in L1 (compacted) and L0 (flushed later), WAL empty. */
async function buildDatabase(): Promise<FaultyFileSystem> {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", { ...OPTIONS, fs });
  for (let i = 0; i < KEY_COUNT; i += 2) {
    await db.put(encoder.encode(keyOf(i)), encoder.encode(valueOf(i)));
  }
  await db.compactRange();
  for (let i = 1; i < KEY_COUNT; i += 2) {
    await db.put(encoder.encode(keyOf(i)), encoder.encode(valueOf(i)));
  }
  await db.flush();
  const levels = db.stats().levels;
  assert.ok(levels[0].files >= 1 && levels[1].files >= 1, JSON.stringify(levels));
  await db.close();
  return fs;
}

/** Either the right answer or a CorruptionError naming `file`; anything else fails. */
function expectRightOrCorruption(file: string, read: () => void, what: string): boolean {
  try {
    read();
    return false;
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw new Error(`${what}: unexpected error ${err}`);
    assert.ok(err.message.includes(file), `${what}: "${err.message}" does not name ${file}`);
    return true;
  }
}

async function checkAllReads(fs: FaultyFileSystem, file: string, what: string): Promise<boolean> {
  const db = await Storage.open("/db", { ...OPTIONS, fs });
  let detected = false;
  try {
    for (let i = 0; i < KEY_COUNT; i++) {
      detected = expectRightOrCorruption(file, () => {
        const value = db.get(encoder.encode(keyOf(i)));
        assert.equal(value && decoder.decode(value), valueOf(i), `${what}: get ${keyOf(i)}`);
      }, what) || detected;
    }
    for (const reverse of [false, true]) {
      detected = expectRightOrCorruption(file, () => {
        const keys = [...db.scan({ reverse })].map((e) => decoder.decode(e.key));
        assert.equal(keys.length, KEY_COUNT, `${what}: scan length`);
      }, what) || detected;
    }
  } finally {
    await db.close();
  }
  return detected;
}

Deno.test("a flipped byte in a table gives a CorruptionError naming it, never a wrong value", async () => {
  const fs = await buildDatabase();
  const tables = fs.list("/db").filter((name) => name.endsWith(".sst"));
  assert.ok(tables.length >= 2);
  let trials = 0;
  let detected = 0;
  for (const table of tables) {
    const path = `/db/${table}`;
    const size = fs.readFile(path).length;
    const offsets = new Set<number>();
    for (let i = 0; i < OFFSETS_PER_TABLE; i++) {
      offsets.add(Math.floor((i * size) / OFFSETS_PER_TABLE));
    }
    for (let back = 1; back <= 48; back += 3) offsets.add(size - back);
    for (const offset of offsets) {
      fs.flipByte(path, offset);
      try {
        if (await checkAllReads(fs, table, `${table} byte ${offset}`)) detected++;
      } finally {
        fs.flipByte(path, offset);
      }
      trials++;
    }
  }
  // Every byte of a table is covered by a checksum, so each flip must be noticed by a full read.
  assert.equal(detected, trials, `${detected} of ${trials} flips detected`);
});

Deno.test("a flipped byte in the MANIFEST fails open with a CorruptionError naming it", async () => {
  const fs = await buildDatabase();
  const size = fs.readFile("/db/MANIFEST").length;
  for (let offset = 0; offset < size; offset++) {
    fs.flipByte("/db/MANIFEST", offset);
    try {
      await assert.rejects(
        Storage.open("/db", { ...OPTIONS, fs }),
        (err) => err instanceof CorruptionError && err.message.includes("MANIFEST"),
        `MANIFEST byte ${offset}`,
      );
    } finally {
      fs.flipByte("/db/MANIFEST", offset);
    }
  }
  const db = await Storage.open("/db", { ...OPTIONS, fs });
  assert.equal(decoder.decode(db.get(encoder.encode(keyOf(7)))!), valueOf(7));
  await db.close();
});

Deno.test("a damaged WAL record before valid ones fails open naming the log; a damaged last one is dropped", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", { ...OPTIONS, fs });
  for (let i = 0; i < 5; i++) {
    await db.put(encoder.encode(keyOf(i)), encoder.encode(valueOf(i)), { sync: true });
  }
  await db.close();
  const log = fs.list("/db").find((name) => name.endsWith(".log"))!;
  const size = fs.readFile(`/db/${log}`).length;
  fs.flipByte(`/db/${log}`, 10);
  await assert.rejects(
    Storage.open("/db", { ...OPTIONS, fs }),
    (err) => err instanceof CorruptionError && err.message.includes(log),
  );
  fs.flipByte(`/db/${log}`, 10);
  fs.flipByte(`/db/${log}`, size - 2);
  const reopened = await Storage.open("/db", { ...OPTIONS, fs });
  const keys = [...reopened.scan()].map((e) => decoder.decode(e.key));
  assert.deepEqual(keys, [0, 1, 2, 3].map(keyOf), "only the damaged last write is dropped");
  await reopened.close();
});

Deno.test("a table missing from the directory fails open naming the MANIFEST and the table", async () => {
  const fs = await buildDatabase();
  const table = fs.list("/db").find((name) => name.endsWith(".sst"))!;
  fs.remove(`/db/${table}`);
  await assert.rejects(
    Storage.open("/db", { ...OPTIONS, fs }),
    (err) =>
      err instanceof CorruptionError && err.message.includes("MANIFEST") &&
      err.message.includes(table),
  );
});
