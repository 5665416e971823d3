/**
 * Flushes and compactions run concurrently: these tests hold table syncs at chosen points
 * (a file system whose sync waits for the test) to force each interleaving of a flush
 * install and a compaction install, reading every key in between, then reopen.
 */
import assert from "node:assert/strict";
import {
  FaultyFileSystem,
  type FileHandle,
  type FileLock,
  type FileSystem,
  type OpenMode,
} from "../../../shared/fs/mod.ts";
import { Storage } from "../mod.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (
  b: Uint8Array | undefined,
) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** Bounds every wait for the background to reach a point (each pass yields one timer turn). */
const MAX_WAIT_TURNS = 5_000;

/** A file system whose table syncs, while holding is on, wait until the test releases them. */
class GatedFileSystem implements FileSystem {
  holding = false;
  readonly #held = new Map<string, () => void>();

  constructor(private readonly inner: FileSystem) {}

  /** Paths of the table syncs waiting, in arrival order. */
  get held(): string[] {
    return [...this.#held.keys()];
  }

  /** Lets the held sync of `path` finish. */
  release(path: string): void {
    const resume = this.#held.get(path);
    if (resume === undefined) throw new Error(`no sync of ${path} is held`);
    this.#held.delete(path);
    resume();
  }

  open(path: string, mode: OpenMode): FileHandle {
    const handle = this.inner.open(path, mode);
    if (!path.endsWith(".sst")) return handle;
    const sync = async () => {
      if (this.holding) await new Promise<void>((resume) => this.#held.set(path, resume));
      await handle.sync();
    };
    return {
      path: handle.path,
      readAt: (buffer, position) => handle.readAt(buffer, position),
      append: (data) => handle.append(data),
      sync,
      size: () => handle.size(),
      truncate: (length_bytes) => handle.truncate(length_bytes),
      close: () => handle.close(),
    };
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.inner.remove(path);
  }
  list(dir: string): string[] {
    return this.inner.list(dir);
  }
  mkdir(dir: string): void {
    this.inner.mkdir(dir);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }
  lock(path: string): FileLock {
    return this.inner.lock(path);
  }
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < MAX_WAIT_TURNS; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  throw new Error(`background never reached: ${what}`);
}

function options(fs: FileSystem) {
  return {
    fs,
    background: "inline" as const,
    memtable_size_bytes: 64 << 10,
    target_file_size_bytes: 4 << 10,
    block_size_bytes: 512,
    l0_compaction_trigger: 2,
    // Level 1 never fills: the only compaction is the level-0 one under test.
    max_bytes_for_level_base: 64 << 20,
  };
}

const KEYS_PER_BATCH = 200;
const key = (i: number) => bytes(`key${String(i).padStart(5, "0")}`);
const value = (i: number, batch: number) => `value-${i}-batch-${batch}`;

/** Batch b writes keys b, b + 3, b + 6, ...: batches overlap in key range, not in keys. */
async function writeBatch(db: Storage, batch: number): Promise<void> {
  for (let n = 0; n < KEYS_PER_BATCH; n++) {
    const i = n * 3 + batch;
    await db.put(key(i), bytes(value(i, batch)));
  }
}

function assertAllReadable(db: Storage, batches: number, when: string): void {
  for (let batch = 0; batch < batches; batch++) {
    for (let n = 0; n < KEYS_PER_BATCH; n++) {
      const i = n * 3 + batch;
      assert.equal(text(db.get(key(i))), value(i, batch), `${when}: get key ${i}`);
    }
  }
  assert.equal([...db.scan()].length, batches * KEYS_PER_BATCH, `${when}: scan count`);
}

/**
 * Two level-0 tables (batches 0 and 1), whose compaction is then held at its output sync.
 * Returns the held compaction output path and the promise of the flush that triggered it.
 */
async function startHeldCompaction(
  fs: GatedFileSystem,
  db: Storage,
): Promise<{ compaction_output: string; flushed: Promise<void> }> {
  await writeBatch(db, 0);
  await db.flush();
  await writeBatch(db, 1);
  fs.holding = true;
  const flushed = db.flush();
  await waitFor("second flush at its sync", () => fs.held.length === 1);
  fs.release(fs.held[0]);
  await waitFor("compaction at its output sync", () => fs.held.length === 1);
  assert.equal(db.stats().flushes, 2);
  assert.equal(db.stats().levels[0].files, 2);
  return { compaction_output: fs.held[0], flushed };
}

Deno.test("a flush installed while a compaction runs keeps its table after the compaction installs", async () => {
  const fs = new GatedFileSystem(new FaultyFileSystem());
  const db = await Storage.open("/db", options(fs));
  const { compaction_output, flushed } = await startHeldCompaction(fs, db);
  await writeBatch(db, 2);
  const flushed_third = db.flush();
  await waitFor("third flush at its sync", () => fs.held.length === 2);
  fs.release(fs.held.find((path) => path !== compaction_output)!);
  await waitFor("third flush installed", () => db.stats().flushes === 3);
  assert.equal(db.stats().compactions, 0, "the compaction is still held");
  assert.equal(db.stats().levels[0].files, 3);
  assertAllReadable(db, 3, "flush installed, compaction running");
  fs.holding = false;
  fs.release(compaction_output);
  await flushed;
  await flushed_third;
  const stats = db.stats();
  assert.equal(stats.compactions, 1);
  assert.equal(stats.levels[0].files, 1, "the third flush's table stays in level 0");
  assert.ok(stats.levels[1].files > 0);
  assertAllReadable(db, 3, "both installed");
  await db.close();
  const reopened = await Storage.open("/db", options(fs));
  assertAllReadable(reopened, 3, "after reopen");
  await reopened.close();
});

Deno.test("a flush that started before a compaction installs and finishes after keeps the compaction", async () => {
  const fs = new GatedFileSystem(new FaultyFileSystem());
  const db = await Storage.open("/db", options(fs));
  const { compaction_output, flushed } = await startHeldCompaction(fs, db);
  await writeBatch(db, 2);
  const flushed_third = db.flush();
  await waitFor("third flush at its sync", () => fs.held.length === 2);
  const third_table = fs.held.find((path) => path !== compaction_output)!;
  // Release every compaction output (there are several) but keep the flush held.
  await waitFor("compaction installed", () => {
    for (const path of fs.held) if (path !== third_table) fs.release(path);
    return db.stats().compactions === 1;
  });
  assert.equal(db.stats().flushes, 2, "the third flush is still held");
  assert.equal(db.stats().levels[0].files, 0);
  assertAllReadable(db, 3, "compaction installed, flush running");
  fs.holding = false;
  fs.release(third_table);
  await flushed;
  await flushed_third;
  const stats = db.stats();
  assert.equal(stats.flushes, 3);
  assert.equal(stats.levels[0].files, 1, "only the third flush's table is in level 0");
  assertAllReadable(db, 3, "both installed");
  await db.close();
  const reopened = await Storage.open("/db", options(fs));
  assertAllReadable(reopened, 3, "after reopen");
  await reopened.close();
});

Deno.test("a flush installed during compactRange survives the forced compaction", async () => {
  const fs = new GatedFileSystem(new FaultyFileSystem());
  const db = await Storage.open("/db", { ...options(fs), l0_compaction_trigger: 4 });
  await writeBatch(db, 0);
  await db.flush();
  await writeBatch(db, 1);
  await db.flush();
  fs.holding = true;
  const compacted = db.compactRange();
  await waitFor("forced compaction at its output sync", () => fs.held.length === 1);
  const compaction_output = fs.held[0];
  const flushes_before = db.stats().flushes;
  await writeBatch(db, 2);
  const flushed = db.flush();
  await waitFor("flush at its sync", () => fs.held.length === 2);
  fs.release(fs.held.find((path) => path !== compaction_output)!);
  await waitFor("flush installed", () => db.stats().flushes === flushes_before + 1);
  assertAllReadable(db, 3, "flush installed during compactRange");
  fs.holding = false;
  fs.release(compaction_output);
  await compacted;
  await flushed;
  assertAllReadable(db, 3, "after compactRange");
  await db.close();
  const reopened = await Storage.open("/db", options(fs));
  assertAllReadable(reopened, 3, "after reopen");
  await reopened.close();
});
