/**
 * Crash tests: random workloads on a FaultyFileSystem (inline background), a power cut at a
 * random point (sometimes tearing the unsynced tail), then reopen. After every crash:
 * the store opens, every write acknowledged with sync is present, and the state equals the
 * model after some prefix of the write history (unsynced writes may be lost, but only from
 * the end, and never half a batch).
 */
import assert from "node:assert/strict";
import {
  FaultyFileSystem,
  type FileHandle,
  type FileLock,
  type FileSystem,
  type OpenMode,
  type Rng,
  seededRng,
} from "../../../shared/fs/mod.ts";
import { Storage, type StorageOptions, WriteBatch } from "../mod.ts";

const SEEDS = Number(Deno.env.get("STORAGE_CRASH_SEEDS") ?? 45);
const CRASHES_PER_SEED = 5;
const FIRST_SEED = Number(Deno.env.get("STORAGE_CRASH_FIRST_SEED") ?? 1);

/**
 * The file system as one process sees it: after the process "dies" (kill), every call
 * throws, so the old Storage object cannot touch the directory the recovered one uses.
 */
class ProcessView implements FileSystem {
  #dead = false;

  constructor(private readonly fs: FileSystem) {}

  kill(): void {
    this.#dead = true;
  }

  #check(): void {
    if (this.#dead) throw new Error("process is dead (simulated crash)");
  }

  open(path: string, mode: OpenMode): FileHandle {
    this.#check();
    const handle = this.fs.open(path, mode);
    const check = () => this.#check();
    return {
      path: handle.path,
      readAt: (buffer, position) => (check(), handle.readAt(buffer, position)),
      append: (data) => (check(), handle.append(data)),
      sync: async () => {
        check();
        await handle.sync();
        check();
      },
      size: () => (check(), handle.size()),
      truncate: (length_bytes) => (check(), handle.truncate(length_bytes)),
      close: () => handle.close(),
    };
  }
  readFile(path: string): Uint8Array {
    this.#check();
    return this.fs.readFile(path);
  }
  rename(from: string, to: string): void {
    this.#check();
    this.fs.rename(from, to);
  }
  remove(path: string): void {
    this.#check();
    this.fs.remove(path);
  }
  list(dir: string): string[] {
    this.#check();
    return this.fs.list(dir);
  }
  mkdir(dir: string): void {
    this.#check();
    this.fs.mkdir(dir);
  }
  exists(path: string): boolean {
    this.#check();
    return this.fs.exists(path);
  }
  async syncDir(dir: string): Promise<void> {
    this.#check();
    await this.fs.syncDir(dir);
    this.#check();
  }
  lock(path: string): FileLock {
    this.#check();
    return this.fs.lock(path);
  }
}

type Model = Map<string, string>;
/** One write of the history: its operations (value null = delete) and what the caller saw. */
interface HistoryEntry {
  ops: [string, string | null][];
  sync: boolean;
  acknowledged: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const OPTIONS: Omit<StorageOptions, "fs"> = {
  background: "inline",
  memtable_size_bytes: 2 << 10,
  target_file_size_bytes: 2 << 10,
  block_size_bytes: 256,
  max_bytes_for_level_base: 8 << 10,
  l0_compaction_trigger: 2,
  l0_slowdown_trigger: 3,
  l0_stop_trigger: 5,
};

function randomWrite(rng: Rng, serial: number): [string, string | null][] {
  const count = rng() < 0.25 ? 1 + Math.floor(rng() * 5) : 1;
  const ops: [string, string | null][] = [];
  for (let i = 0; i < count; i++) {
    const key = `k${Math.floor(rng() * 40)}`;
    const value = rng() < 0.2 ? null : `v${serial}.${i}-${"x".repeat(Math.floor(rng() * 120))}`;
    ops.push([key, value]);
  }
  return ops;
}

function applyTo(model: Model, ops: [string, string | null][]): void {
  for (const [key, value] of ops) value === null ? model.delete(key) : model.set(key, value);
}

function readAll(db: Storage): Model {
  const state: Model = new Map();
  for (const { key, value } of db.scan()) state.set(decoder.decode(key), decoder.decode(value));
  return state;
}

function sameState(a: Model, b: Model): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

/**
 * The recovered state must equal base + history[0..k) for some k at least one past the last
 * acknowledged synced write. Returns that state (the next round's base).
 */
function checkRecovered(db: Storage, base: Model, history: HistoryEntry[], label: string): Model {
  const recovered = readAll(db);
  let required = 0;
  history.forEach((entry, i) => {
    if (entry.sync && entry.acknowledged) required = i + 1;
  });
  const model = new Map(base);
  for (let k = 0; k <= history.length; k++) {
    if (k > 0) applyTo(model, history[k - 1].ops);
    if (k >= required && sameState(model, recovered)) return recovered;
  }
  assert.fail(
    `${label}: recovered state (${recovered.size} keys) is no prefix of the history of ` +
      `${history.length} writes with at least ${required} writes (last acknowledged synced one)`,
  );
}

async function yieldTimes(rng: Rng, max: number): Promise<void> {
  const count = Math.floor(rng() * max);
  for (let i = 0; i < count; i++) {
    if (rng() < 0.2) await new Promise((resolve) => setTimeout(resolve, 0));
    else await Promise.resolve();
  }
}

/** Issues a random workload, some writes awaited and some left in flight, then returns. */
async function workload(
  db: Storage,
  rng: Rng,
  history: HistoryEntry[],
  serial_base: number,
): Promise<void> {
  const write_count = Math.floor(rng() * 60);
  for (let i = 0; i < write_count; i++) {
    const ops = randomWrite(rng, serial_base + i);
    const entry: HistoryEntry = { ops, sync: rng() < 0.3, acknowledged: false };
    const batch = new WriteBatch();
    for (const [key, value] of ops) {
      value === null
        ? batch.delete(encoder.encode(key))
        : batch.put(encoder.encode(key), encoder.encode(value));
    }
    history.push(entry);
    const done = db.write(batch, { sync: entry.sync }).then(
      () => (entry.acknowledged = true),
      () => {},
    );
    if (rng() < 0.5) await done;
    if (rng() < 0.05) await db.flush().catch(() => {});
    if (rng() < 0.02) await db.compactRange().catch(() => {});
  }
}

Deno.test(`storage survives ${SEEDS * CRASHES_PER_SEED} random crashes`, async () => {
  let crash_points = 0;
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const rng = seededRng(seed);
    const fs = new FaultyFileSystem();
    let base: Model = new Map();
    let history: HistoryEntry[] = [];
    for (let round = 0; round <= CRASHES_PER_SEED; round++) {
      const label = `seed ${seed} round ${round} (replay: STORAGE_CRASH_FIRST_SEED=${seed} ` +
        `STORAGE_CRASH_SEEDS=1)`;
      const process = new ProcessView(fs);
      let db: Storage;
      try {
        // Odd seeds let two full memtables wait for their flush.
        const max_immutable_memtables = 1 + (seed % 2);
        db = await Storage.open("/db", { ...OPTIONS, fs: process, max_immutable_memtables });
      } catch (err) {
        throw new Error(`${label}: the store did not open after a crash: ${err}`);
      }
      base = checkRecovered(db, base, history, label);
      history = [];
      if (round === CRASHES_PER_SEED) {
        await db.close();
        break;
      }
      await workload(db, rng, history, round * 1000);
      await yieldTimes(rng, 30);
      process.kill();
      fs.crash(rng, { tear_last_write: rng() < 0.5 });
      crash_points++;
      await db.close().catch(() => {});
    }
  }
  assert.equal(crash_points, SEEDS * CRASHES_PER_SEED);
});
