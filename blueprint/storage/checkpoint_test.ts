import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32c } from "../../shared/checksum/crc32c.ts";
import {
  FaultyFileSystem,
  type FileSystem,
  NodeFileSystem,
  type Rng,
  seededRng,
} from "../../shared/fs/mod.ts";
import {
  type CheckpointInfo,
  CorruptionError,
  Storage,
  StorageError,
  type StorageOptions,
  WriteBatch,
} from "./mod.ts";

type Model = Map<string, string>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);

function small(fs: FileSystem, max_immutable_memtables = 2): StorageOptions {
  return {
    fs,
    background: "inline",
    memtable_size_bytes: 4 << 10,
    target_file_size_bytes: 4 << 10,
    block_size_bytes: 512,
    max_bytes_for_level_base: 16 << 10,
    max_immutable_memtables,
  };
}

/** Everything the store holds, read by a full scan. */
function contents(db: Storage): Model {
  const model: Model = new Map();
  for (const { key, value } of db.scan()) model.set(decoder.decode(key), decoder.decode(value));
  return model;
}

/** One random write (put, delete or batch) applied to the store and the model. */
async function randomWrite(db: Storage, model: Model, rng: Rng, step: number): Promise<void> {
  const key = () => `key-${Math.floor(rng() * 300).toString().padStart(4, "0")}`;
  const value = () => `v${step}-${"x".repeat(Math.floor(rng() * 120))}`;
  const choice = rng();
  if (choice < 0.6) {
    const [k, v] = [key(), value()];
    await db.put(bytes(k), bytes(v));
    model.set(k, v);
  } else if (choice < 0.75) {
    const k = key();
    await db.delete(bytes(k));
    model.delete(k);
  } else {
    const batch = new WriteBatch();
    const applied: [string, string | null][] = [];
    for (let i = 1 + Math.floor(rng() * 8); i > 0; i--) {
      const k = key();
      if (rng() < 0.8) {
        const v = value();
        batch.put(bytes(k), bytes(v));
        applied.push([k, v]);
      } else {
        batch.delete(bytes(k));
        applied.push([k, null]);
      }
    }
    await db.write(batch);
    for (const [k, v] of applied) v === null ? model.delete(k) : model.set(k, v);
  }
}

function assertDescribes(fs: FileSystem, info: CheckpointInfo): void {
  assert.deepEqual(info.files.map((f) => f.name), fs.list(info.dir));
  for (const file of info.files) {
    const data = fs.readFile(join(info.dir, file.name));
    assert.equal(file.size_bytes, data.length, file.name);
    assert.equal(file.crc32c, crc32c(data), file.name);
  }
  assert.equal(info.size_bytes, info.files.reduce((sum, f) => sum + f.size_bytes, 0));
  assert.ok(info.files.some((f) => f.name === "MANIFEST"));
  assert.ok(!info.files.some((f) => f.name.endsWith(".log")), "a checkpoint has no WAL");
}

async function assertHolds(fs: FileSystem, dir: string, expected: Model, label: string) {
  const copy = await Storage.open(dir, small(fs));
  try {
    assert.deepEqual(contents(copy), expected, label);
    for (const [key, value] of expected) {
      assert.equal(decoder.decode(copy.get(bytes(key))), value, `${label}: get ${key}`);
    }
  } finally {
    await copy.close();
  }
}

const SEEDS = Number(Deno.env.get("STORAGE_CHECKPOINT_SEEDS") ?? 12);
const FIRST_SEED = Number(Deno.env.get("STORAGE_CHECKPOINT_FIRST_SEED") ?? 1);

Deno.test("checkpoint under concurrent writes holds exactly the state at its sequence", async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const label = `seed ${seed} (replay: STORAGE_CHECKPOINT_FIRST_SEED=${seed} ` +
      `STORAGE_CHECKPOINT_SEEDS=1)`;
    try {
      const rng = seededRng(seed);
      const fs = new FaultyFileSystem();
      const db = await Storage.open("/db", small(fs, 1 + (seed % 2)));
      const model: Model = new Map();
      /** The model after each write, by the last sequence number it ends at. */
      const history = new Map<number, Model>([[0, new Map()]]);
      const checkpoints: { done: Promise<CheckpointInfo>; writes_after: number }[] = [];
      for (let step = 0; step < 400; step++) {
        if (step === 150 || step === 300) {
          checkpoints.push({ done: db.checkpoint(`/ckpt-${step}`), writes_after: 0 });
        }
        if (step === 200 && seed % 3 === 0) await db.compactRange();
        await randomWrite(db, model, rng, step);
        history.set(db.stats().last_sequence, new Map(model));
      }
      for (const [index, checkpoint] of checkpoints.entries()) {
        const info = await checkpoint.done;
        const expected = history.get(info.sequence);
        assert.ok(expected !== undefined, `${label}: sequence ${info.sequence} ends no write`);
        assert.ok(info.sequence > 0 && info.sequence < db.stats().last_sequence, label);
        assertDescribes(fs, info);
        // Everything synced: a crash of the machine keeps the checkpoint whole.
        await assertHolds(fs, info.dir, expected, `${label} checkpoint ${index}`);
      }
      await db.close();
      fs.crash(rng);
      for (const checkpoint of checkpoints) {
        const info = await checkpoint.done;
        await assertHolds(fs, info.dir, history.get(info.sequence)!, `${label} after crash`);
      }
    } catch (err) {
      console.error(`checkpoint model check failed at ${label}`);
      throw err;
    }
  }
});

Deno.test("a checkpoint survives compaction and deletion of the source (copied files)", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  const model: Model = new Map();
  const rng = seededRng(7);
  for (let step = 0; step < 300; step++) await randomWrite(db, model, rng, step);
  const info = await db.checkpoint("/snapshots/one");
  const expected = new Map(model);
  assert.equal(info.sequence, db.stats().last_sequence);
  for (let step = 300; step < 600; step++) await randomWrite(db, model, rng, step);
  await db.compactRange();
  assert.deepEqual(contents(db), model);
  await db.close();
  for (const name of fs.list("/db")) fs.remove(`/db/${name}`);
  await assertHolds(fs, info.dir, expected, "after the source is gone");
  // Opening a checkpoint makes it a store of its own: it takes writes and reopens.
  const copy = await Storage.open(info.dir, small(fs));
  await copy.put(bytes("new"), bytes("value"), { sync: true });
  await copy.close();
  expected.set("new", "value");
  await assertHolds(fs, info.dir, expected, "after writing to the checkpoint");
});

Deno.test("a checkpoint on the real disk hard-links the tables", async () => {
  const root = await Deno.makeTempDir();
  try {
    const db = await Storage.open(join(root, "db"), { memtable_size_bytes: 64 << 10 });
    const model: Model = new Map();
    const rng = seededRng(11);
    for (let step = 0; step < 1500; step++) await randomWrite(db, model, rng, step);
    await db.flush();
    for (let step = 1500; step < 1600; step++) await randomWrite(db, model, rng, step);
    const info = await db.checkpoint(join(root, "ckpt"));
    const expected = new Map(model);
    const fs = new NodeFileSystem();
    assertDescribes(fs, info);
    const tables = info.files.filter((f) => f.name.endsWith(".sst"));
    const linked = tables.filter((f) => Deno.statSync(join(info.dir, f.name)).nlink === 2);
    // Every table of the source is linked; only the memtables' table is new.
    assert.equal(linked.length, tables.length - 1, `linked ${linked.length} of ${tables.length}`);
    for (let step = 1600; step < 3000; step++) await randomWrite(db, model, rng, step);
    await db.compactRange();
    await db.close();
    await Deno.remove(join(root, "db"), { recursive: true });
    const copy = await Storage.open(info.dir);
    try {
      assert.deepEqual(contents(copy), expected);
    } finally {
      await copy.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a corrupted file in a checkpoint is a CorruptionError naming the file", async (t) => {
  async function build(): Promise<{ fs: FaultyFileSystem; info: CheckpointInfo }> {
    const fs = new FaultyFileSystem();
    const db = await Storage.open("/db", small(fs));
    const rng = seededRng(3);
    for (let step = 0; step < 200; step++) await randomWrite(db, new Map(), rng, step);
    const info = await db.checkpoint("/ckpt");
    await db.close();
    return { fs, info };
  }

  await t.step("a table", async () => {
    const { fs, info } = await build();
    const tables = info.files.filter((f) => f.name.endsWith(".sst"));
    assert.ok(tables.length > 1);
    for (const table of tables) {
      const path = `/ckpt/${table.name}`;
      fs.flipByte(path, 10);
      assert.notEqual(crc32c(fs.readFile(path)), table.crc32c, "the listed CRC catches it");
      const copy = await Storage.open("/ckpt", small(fs));
      try {
        assert.throws(
          () => contents(copy),
          (err: Error) => err instanceof CorruptionError && err.message.includes(path),
        );
      } finally {
        await copy.close();
      }
      fs.flipByte(path, 10);
    }
  });

  await t.step("the manifest", async () => {
    const { fs } = await build();
    fs.flipByte("/ckpt/MANIFEST", 20);
    await assert.rejects(
      Storage.open("/ckpt", small(fs)),
      (err: Error) => err instanceof CorruptionError && err.message.includes("/ckpt/MANIFEST"),
    );
  });
});

Deno.test("checkpoint refuses a directory that exists, a bad path and a closed store", async () => {
  const fs = new FaultyFileSystem();
  const db = await Storage.open("/db", small(fs));
  await db.put(bytes("a"), bytes("1"));
  fs.mkdir("/taken");
  await assert.rejects(
    db.checkpoint("/taken"),
    (err: Error) => err instanceof StorageError && /\/taken already exists/.test(err.message),
  );
  await assert.rejects(db.checkpoint(""), /dir must be a non-empty path string/);
  await assert.rejects(db.checkpoint("/db"), /\/db already exists/);
  const empty_fs = new FaultyFileSystem();
  const empty = await Storage.open("/empty", small(empty_fs));
  const info = await empty.checkpoint("/empty-ckpt");
  assert.equal(info.sequence, 0);
  assert.deepEqual(info.files.map((f) => f.name), ["MANIFEST"]);
  await empty.close();
  await db.close();
  await assert.rejects(db.checkpoint("/later"), /closed/);
});
