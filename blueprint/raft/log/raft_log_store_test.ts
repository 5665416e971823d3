import assert from "node:assert/strict";
import {
  type CrashOptions,
  FaultyFileSystem,
  type FileHandle,
  type FileLock,
  type FileSystem,
  InjectedFaultError,
  NodeFileSystem,
  type OpenMode,
  type Rng,
  seededRng,
} from "../../../shared/fs/mod.ts";
import {
  CompactedError,
  type Entry,
  EntryType,
  type HardState,
  UnavailableError,
} from "../core/mod.ts";
import { type LogUpdate, RaftLogCorruptionError, RaftLogStore, RaftLogUsageError } from "./mod.ts";

const DIR = "/raft";
const CONF = { voters: ["a", "b", "c"], learners: [] };

function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

function range(lo: number, hi: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(entry(i, term));
  return out;
}

function allEntries(log: RaftLogStore): Entry[] {
  if (log.lastIndex() < log.firstIndex()) return [];
  return log.entries(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
}

function describe(entries: Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`);
}

async function reopen(fs: FaultyFileSystem, log: RaftLogStore, options = {}) {
  log.close();
  return await RaftLogStore.open(fs, DIR, options);
}

Deno.test("RaftLogStore basics", async (t) => {
  await t.step("a new log is empty and holds the bootstrap membership", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR, { initial_conf_state: CONF });
    assert.equal(log.firstIndex(), 1);
    assert.equal(log.lastIndex(), 0);
    assert.equal(log.term(0), 0);
    assert.deepEqual(log.initialState(), {
      hard_state: { term: 0, vote: null, commit: 0 },
      conf_state: CONF,
    });
    assert.throws(() => log.term(1), UnavailableError);
    const again = await reopen(fs, log, { initial_conf_state: { voters: ["x"], learners: [] } });
    assert.deepEqual(again.initialState().conf_state, CONF, "stored membership wins");
    again.close();
  });

  await t.step("entries, terms and hard state survive reopen", async () => {
    const fs = new FaultyFileSystem();
    let log = await RaftLogStore.open(fs, DIR, { initial_conf_state: CONF });
    const hard: HardState = { term: 2, vote: "b", commit: 3 };
    await log.save({ hard_state: hard, entries: range(1, 5, 1) });
    await log.save({ entries: range(6, 7, 2) });
    assert.equal(log.lastIndex(), 7);
    assert.equal(log.term(7), 2);
    log = await reopen(fs, log);
    assert.deepEqual(log.initialState().hard_state, hard);
    assert.deepEqual(describe(allEntries(log)), describe([...range(1, 5, 1), ...range(6, 7, 2)]));
    assert.throws(() => log.entries(0, 2, 100), CompactedError);
    assert.throws(() => log.entries(1, 9, 100), UnavailableError);
    log.close();
  });

  await t.step("entries() returns at least one entry and stops at max_bytes", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR, { cache_size_bytes: 0 });
    await log.save({ entries: range(1, 10, 1) }); // 4-byte data + 16 counted = 20 each
    assert.equal(log.entries(1, 11, 0).length, 1);
    assert.equal(log.entries(1, 11, 45).length, 2);
    assert.equal(log.entries(3, 11, 1000).length, 8);
    log.close();
  });

  await t.step("a conflicting suffix is replaced and never comes back", async () => {
    const fs = new FaultyFileSystem();
    let log = await RaftLogStore.open(fs, DIR);
    await log.save({ entries: range(1, 10, 1) });
    await log.save({ hard_state: { term: 2, vote: null, commit: 0 }, entries: range(6, 7, 2) });
    const expected = describe([...range(1, 5, 1), ...range(6, 7, 2)]);
    assert.deepEqual(describe(allEntries(log)), expected);
    log = await reopen(fs, log);
    assert.deepEqual(describe(allEntries(log)), expected);
    fs.crash(seededRng(1), { tear_last_write: true });
    log = await RaftLogStore.open(fs, DIR);
    assert.deepEqual(describe(allEntries(log)), expected);
    log.close();
  });

  await t.step("bad arguments get clear errors", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR);
    await assert.rejects(log.save({ entries: [entry(3, 1)] }), /must be in \[1, 1\]/);
    await assert.rejects(
      log.save({ entries: [entry(1, 1), entry(3, 1)] }),
      /consecutive indices; 1 is followed by 3/,
    );
    await assert.rejects(log.createSnapshot(1, CONF, new Uint8Array()), RaftLogUsageError);
    assert.throws(() => log.compact(1), /at most the snapshot index 0/);
    await assert.rejects(
      RaftLogStore.open(fs, "/other", { segment_size_bytes: 10 }),
      /segment_size_bytes must be at least 4096/,
    );
    log.close();
    assert.throws(() => log.entries(1, 1, 0), /closed/);
  });

  await t.step(
    "an unsynced commit-only hard state becomes durable with the next sync",
    async () => {
      const fs = new FaultyFileSystem();
      let log = await RaftLogStore.open(fs, DIR);
      await log.save({ hard_state: { term: 1, vote: "a", commit: 0 }, entries: range(1, 3, 1) });
      const syncs = fs.counters.syncs;
      await log.save({ hard_state: { term: 1, vote: "a", commit: 2 }, entries: [], sync: false });
      assert.equal(fs.counters.syncs, syncs, "no fsync for a commit-only update");
      await assert.rejects(
        log.save({ entries: [entry(4, 1)], sync: false }),
        /only for a hard state update/,
      );
      await log.save({ hard_state: { term: 1, vote: "a", commit: 3 }, entries: [], sync: false });
      assert.equal(log.lastIndex(), 3, "a refused save has no effect");
      await log.save({ entries: [entry(4, 1)] });
      fs.crash(seededRng(3), { tear_last_write: true });
      log = await RaftLogStore.open(fs, DIR);
      assert.deepEqual(log.initialState().hard_state, { term: 1, vote: "a", commit: 3 });
      log.close();
    },
  );

  await t.step("a second open of the same directory is refused", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR);
    await assert.rejects(RaftLogStore.open(fs, DIR), /locked/);
    log.close();
  });

  await t.step("the real disk round-trips entries", async () => {
    const dir = await Deno.makeTempDir({ prefix: "raft_log_" });
    try {
      const fs = new NodeFileSystem();
      let log = await RaftLogStore.open(fs, dir, { segment_size_bytes: 4096 });
      for (let i = 1; i <= 300; i += 10) await log.save({ entries: range(i, i + 9, 1) });
      log.close();
      log = await RaftLogStore.open(fs, dir, { segment_size_bytes: 4096 });
      assert.equal(log.lastIndex(), 300);
      assert.ok(log.stats().segments > 1);
      assert.deepEqual(describe(allEntries(log)), describe(range(1, 300, 1)));
      log.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("RaftLogStore segments, snapshots and compaction", async (t) => {
  await t.step("segments roll over and every segment starts with the hard state", async () => {
    const fs = new FaultyFileSystem();
    let log = await RaftLogStore.open(fs, DIR, { segment_size_bytes: 4096 });
    await log.save({ hard_state: { term: 1, vote: "a", commit: 0 }, entries: [] });
    for (let i = 1; i <= 500; i += 50) await log.save({ entries: range(i, i + 49, 1) });
    assert.ok(log.stats().segments >= 3, `segments: ${log.stats().segments}`);
    await log.createSnapshot(400, CONF, new Uint8Array([7]));
    log.compact(400);
    assert.equal(log.firstIndex(), 401);
    assert.equal(log.term(400), 1);
    assert.throws(() => log.term(399), CompactedError);
    const names = fs.list(DIR).filter((n) => n.startsWith("segment_"));
    assert.ok(!names.includes("segment_0000000000000001.log"), "first segment removed");
    log = await reopen(fs, log, { segment_size_bytes: 4096 });
    assert.deepEqual(log.initialState().hard_state, { term: 1, vote: "a", commit: 400 });
    assert.equal(log.firstIndex(), 401);
    assert.equal(log.snapshot().meta.index, 400);
    assert.deepEqual(log.snapshot().data, new Uint8Array([7]));
    assert.deepEqual(describe(allEntries(log)), describe(range(401, 500, 1)));
    log.close();
  });

  await t.step("an installed snapshot replaces the log, also after reopen", async () => {
    const fs = new FaultyFileSystem();
    let log = await RaftLogStore.open(fs, DIR, { initial_conf_state: CONF });
    await log.save({ entries: range(1, 20, 1) });
    const conf = { voters: ["a", "b"], learners: ["d"] };
    const snapshot = { meta: { index: 15, term: 3, conf_state: conf }, data: new Uint8Array([1]) };
    await log.save({ snapshot, entries: range(16, 17, 3) });
    assert.equal(log.firstIndex(), 16);
    assert.equal(log.term(15), 3);
    log = await reopen(fs, log);
    assert.equal(log.firstIndex(), 16);
    assert.deepEqual(log.initialState().conf_state, conf);
    assert.deepEqual(describe(allEntries(log)), describe(range(16, 17, 3)));
    assert.equal(fs.list(DIR).filter((n) => n.endsWith(".snap")).length, 1);
    log.close();
  });

  await t.step("a damaged snapshot file fails open clearly", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR);
    await log.save({ entries: range(1, 3, 1) });
    await log.createSnapshot(2, CONF, new Uint8Array(100));
    log.close();
    fs.flipByte(`${DIR}/snapshot_0000000000000002.snap`, 60);
    await assert.rejects(
      RaftLogStore.open(fs, DIR),
      (err: Error) =>
        err instanceof RaftLogCorruptionError && /snapshot_0+2\.snap/.test(err.message),
    );
  });
});

Deno.test("RaftLogStore recovery", async (t) => {
  await t.step("a torn tail is dropped and the log stays writable", async () => {
    const fs = new FaultyFileSystem();
    let log = await RaftLogStore.open(fs, DIR);
    await log.save({ entries: range(1, 5, 1) });
    const pending = log.save({ entries: range(6, 50, 1) }).catch(() => {});
    fs.crash(seededRng(7), { tear_last_write: true });
    await pending;
    log = await RaftLogStore.open(fs, DIR);
    assert.ok(log.lastIndex() >= 5 && log.lastIndex() <= 50);
    await log.save({ entries: [entry(log.lastIndex() + 1, 2)] });
    const last = log.lastIndex();
    log = await reopen(fs, log);
    assert.equal(log.lastIndex(), last);
    assert.equal(log.term(last), 2);
    log.close();
  });

  await t.step(
    "a suffix truncated below a later snapshot stays truncated after reopen",
    async () => {
      // Entries 5..10 of term 1 are replaced by 3..4 of term 2; the snapshot at 4 then covers
      // the truncating record, whose truncation must still hold on replay.
      const fs = new FaultyFileSystem();
      let log = await RaftLogStore.open(fs, DIR, { segment_size_bytes: 4096 });
      await log.save({ entries: range(1, 10, 1) });
      await log.save({ hard_state: { term: 2, vote: null, commit: 0 }, entries: range(3, 4, 2) });
      await log.createSnapshot(4, CONF, new Uint8Array([4]));
      log.compact(4);
      assert.equal(log.lastIndex(), 4);
      log = await reopen(fs, log, { segment_size_bytes: 4096 });
      assert.equal(log.firstIndex(), 5);
      assert.equal(log.lastIndex(), 4, "entries 5..10 of term 1 came back");
      await log.save({ entries: range(5, 6, 2) });
      fs.crash(seededRng(11), { tear_last_write: true });
      log = await RaftLogStore.open(fs, DIR, { segment_size_bytes: 4096 });
      assert.deepEqual(describe(allEntries(log)), describe(range(5, 6, 2)));
      log.close();
    },
  );

  await t.step(
    "a snapshot file whose mark was lost keeps the old log only if it matches the snapshot",
    async (t) => {
      for (const snapshot_term of [1, 3]) {
        await t.step(`snapshot at 15 of term ${snapshot_term}, log of term 1`, async () => {
          const fs = new FaultyFileSystem();
          const log = await RaftLogStore.open(fs, DIR);
          await log.save({ entries: range(1, 20, 1) });
          const meta = { index: 15, term: snapshot_term, conf_state: CONF };
          // The snapshot file takes 7 operations (create, 3 appends, sync, rename, syncDir);
          // the 8th, the append of the batch holding the mark, fails and the power goes.
          fs.failAfter(7);
          await assert.rejects(
            log.save({ snapshot: { meta, data: new Uint8Array([15]) }, entries: [] }),
            InjectedFaultError,
          );
          fs.crash(seededRng(5));
          const again = await RaftLogStore.open(fs, DIR);
          assert.equal(again.snapshot().meta.index, 15, "the snapshot file is durable");
          assert.equal(again.term(15), snapshot_term);
          const expected = snapshot_term === 1 ? range(16, 20, 1) : [];
          assert.deepEqual(describe(allEntries(again)), describe(expected));
          // What is saved after the recovery is never taken for the replaced history.
          await again.save({ entries: [entry(again.lastIndex() + 1, 4)] });
          const saved = allEntries(again);
          fs.crash(seededRng(6));
          const third = await RaftLogStore.open(fs, DIR);
          assert.deepEqual(describe(allEntries(third)), describe(saved));
          assert.deepEqual(third.initialState().conf_state, CONF);
          third.close();
        });
      }
    },
  );

  await t.step("damage followed by valid records is corruption", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR);
    await log.save({ entries: range(1, 20, 1) });
    log.close();
    fs.flipByte(`${DIR}/segment_0000000000000001.log`, 100);
    await assert.rejects(
      RaftLogStore.open(fs, DIR),
      (err: Error) =>
        err instanceof RaftLogCorruptionError && /segment_0+1\.log at offset \d+/.test(err.message),
    );
  });

  await t.step("damage in a segment that is not the last is corruption", async () => {
    const fs = new FaultyFileSystem();
    const log = await RaftLogStore.open(fs, DIR, { segment_size_bytes: 4096 });
    for (let i = 1; i <= 300; i += 30) await log.save({ entries: range(i, i + 29, 1) });
    log.close();
    const first = `${DIR}/segment_0000000000000001.log`;
    fs.flipByte(first, fs.readFile(first).length - 3);
    await assert.rejects(RaftLogStore.open(fs, DIR), /not the last/);
  });

  await t.step("concurrent saves share one fdatasync", async () => {
    const fs = new FaultyFileSystem({ sync_delay_ms: 1 });
    const log = await RaftLogStore.open(fs, DIR);
    const syncs_before = fs.counters.syncs;
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) saves.push(log.save({ entries: [entry(i, 1)] }));
    await Promise.all(saves);
    const syncs = fs.counters.syncs - syncs_before;
    assert.ok(syncs <= 3, `50 concurrent saves took ${syncs} syncs`);
    assert.equal(log.lastIndex(), 50);
    log.close();
  });
});

/** What the log must hold: everything after the compaction point `base`, and the hard state. */
interface Model {
  base: number;
  entries: Entry[];
  hard_state: HardState;
}

const OPTIONS = { segment_size_bytes: 8192, cache_size_bytes: 2048 };

function lastOf(model: Model): number {
  return model.base + model.entries.length;
}

/** The model after `update` with only its first `entry_count` entries written. */
function applyToModel(model: Model, update: LogUpdate, entry_count: number): Model {
  const entries = update.entries.slice(0, entry_count);
  const hard_state = update.hard_state ?? model.hard_state;
  if (update.snapshot) return { base: update.snapshot.meta.index, entries, hard_state };
  const kept = entries.length === 0
    ? model.entries
    : model.entries.filter((e) => e.index < entries[0].index);
  return { base: model.base, entries: [...kept, ...entries], hard_state };
}

/** The model with everything up to `index` compacted away (a snapshot taken or kept). */
function compactModel(model: Model, index: number): Model {
  return { ...model, base: index, entries: model.entries.filter((e) => e.index > index) };
}

function randomEntries(rng: () => number, start: number, term: number): Entry[] {
  const count = 1 + Math.floor(rng() * 40);
  return Array.from(
    { length: count },
    (_, i) => entry(start + i, term, "x".repeat(Math.floor(rng() * 300))),
  );
}

function randomUpdate(rng: () => number, model: Model, term: number): LogUpdate {
  const hard_state = rng() < 0.5 ? { term, vote: "a", commit: 0 } : undefined;
  if (rng() < 0.15) {
    const index = model.base + 1 + Math.floor(rng() * (model.entries.length + 10));
    const meta = { index, term, conf_state: CONF };
    const snapshot = { meta, data: new Uint8Array([index % 256]) };
    // Without entries, only the snapshot mark can drop the old entries above the snapshot.
    const entries = rng() < 0.4 ? [] : randomEntries(rng, index + 1, term);
    return { snapshot, entries, hard_state };
  }
  const last = lastOf(model);
  const start = model.entries.length === 0 || rng() < 0.7
    ? last + 1
    : model.base + 1 + Math.floor(rng() * model.entries.length);
  return { entries: randomEntries(rng, start, term), hard_state };
}

/** Every state a crash during `update` may leave: before, or any prefix of it after. */
function crashCandidates(model: Model, update: LogUpdate): Model[] {
  const candidates = [model];
  if (update.snapshot) {
    // The snapshot file is durable before its mark. Kept without the mark, the old entries
    // above it stay only if the log holds the snapshot's last entry with its term (as Raft
    // keeps a log that matches a snapshot); any other log is replaced, as by the mark.
    const meta = update.snapshot.meta;
    const at_snapshot = model.entries.find((e) => e.index === meta.index);
    if (at_snapshot !== undefined && at_snapshot.term === meta.term) {
      candidates.push(compactModel(model, meta.index));
    }
    candidates.push(applyToModel(model, update, 0));
  }
  for (let k = 1; k <= update.entries.length; k++) candidates.push(applyToModel(model, update, k));
  return candidates;
}

function describeModel(model: Model): string {
  return [model.base, ...describe(model.entries)].join();
}

function describeLog(log: RaftLogStore): string {
  return [log.firstIndex() - 1, ...describe(allEntries(log))].join();
}

/**
 * Microtask turns a save or snapshot may run before the crash. Everything in the property is
 * deterministic (no timers: the faulty file system completes syncs on the microtask queue), so
 * a seed replays exactly; the number of turns decides how far the write got.
 */
const MAX_CRASH_DELAY_TURNS = 24;

/** Seeds run by default (RAFT_LOG_SEED=<n> replays one instead). */
const CRASH_PROPERTY_SEEDS = Array.from({ length: 20 }, (_, i) => 1 + i * 7919);

/**
 * Seeds that failed with at most one turn before the crash (the property's first form), when
 * replay dropped the truncation done by entry records at or below the snapshot index.
 */
const SEEDS_OF_THE_LOST_TRUNCATION = [14, 76, 392, 412, 495, 593];

/** RAFT_LOG_SEED=<n> replays one seed in each crash property test; otherwise `seeds` run. */
function crashPropertySeeds(seeds: number[]): number[] {
  const text = Deno.env.get("RAFT_LOG_SEED");
  if (text === undefined) return seeds;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0) {
    throw new Error(`RAFT_LOG_SEED must be an integer >= 0, got ${JSON.stringify(text)}`);
  }
  return [seed];
}

Deno.test("RaftLogStore crash property: nothing synced is lost, no truncated suffix returns", async () => {
  for (const seed of crashPropertySeeds(CRASH_PROPERTY_SEEDS)) {
    await runCrashProperty(seed, MAX_CRASH_DELAY_TURNS);
  }
});

Deno.test("RaftLogStore crash property: a suffix truncated below a snapshot stays gone", async () => {
  // Seed 593: round 11 truncates 53..108 with entries 14..52, round 14 snapshots and compacts
  // at 59, round 15 reopens after a crash. Replay skipped the truncating records (all at or
  // below 59) and brought back 60..108 of term 3.
  for (const seed of crashPropertySeeds(SEEDS_OF_THE_LOST_TRUNCATION)) {
    await runCrashProperty(seed, 1);
  }
});

/**
 * One run of a process on a disk. A power cut stops the process as well as the disk: every
 * later call of the run fails, so a write in flight cannot go on into the rebooted disk (a
 * dead process runs nothing) nor be acknowledged after the cut.
 */
class ProcessRun implements FileSystem {
  #alive = true;

  constructor(readonly disk: FaultyFileSystem) {}

  /** Cuts the power: the disk keeps only what was durable and this run is over. */
  powerCut(rng: Rng, options: CrashOptions): void {
    this.#alive = false;
    this.disk.crash(rng, options);
  }

  #live(): FaultyFileSystem {
    if (!this.#alive) throw new Error("the process died in a power cut");
    return this.disk;
  }

  open(path: string, mode: OpenMode): FileHandle {
    return this.#live().open(path, mode);
  }
  readFile(path: string): Uint8Array {
    return this.#live().readFile(path);
  }
  rename(from: string, to: string): void {
    this.#live().rename(from, to);
  }
  remove(path: string): void {
    this.#live().remove(path);
  }
  list(dir: string): string[] {
    return this.#live().list(dir);
  }
  mkdir(dir: string): void {
    this.#live().mkdir(dir);
  }
  exists(path: string): boolean {
    return this.#live().exists(path);
  }
  async syncDir(dir: string): Promise<void> {
    await this.#live().syncDir(dir);
    this.#live(); // a cut during the sync: the process never saw it complete
  }
  lock(path: string): FileLock {
    return this.#live().lock(path);
  }
}

/** Cuts the power under `log` (tearing unsynced tails) and opens it in a new process run. */
async function powerCutAndReopen(run: ProcessRun, rng: Rng): Promise<[ProcessRun, RaftLogStore]> {
  run.powerCut(rng, { tear_last_write: true });
  const next = new ProcessRun(run.disk);
  return [next, await RaftLogStore.open(next, DIR, OPTIONS)];
}

/** Lets a write in flight run `0..max_turns` microtask turns (chosen by `rng`). */
async function runUpTo(rng: () => number, max_turns: number): Promise<void> {
  const turns = Math.min(max_turns, Math.floor((1 - rng()) * (max_turns + 1)));
  for (let turn = 0; turn < turns; turn++) await Promise.resolve();
}

/**
 * 80 rounds of random saves, snapshots and crashes, each checked against the model; a crash
 * comes after at most `max_crash_delay_turns` microtask turns of the write in flight.
 */
async function runCrashProperty(seed: number, max_crash_delay_turns: number): Promise<void> {
  try {
    const rng = seededRng(seed);
    let run = new ProcessRun(new FaultyFileSystem());
    let log = await RaftLogStore.open(run, DIR, OPTIONS);
    let model: Model = { base: 0, entries: [], hard_state: { term: 0, vote: null, commit: 0 } };
    let term = 1;
    for (let round = 0; round < 80; round++) {
      if (rng() < 0.3) term++;
      const roll = rng();
      if (roll < 0.1 && model.entries.length > 0) {
        // A local snapshot and compaction; with a crash in flight, either outcome is fine.
        const index = model.base + 1 + Math.floor(rng() * model.entries.length);
        const snapshotting = log; // `log` is the next run's store once the power is cut
        const done = snapshotting.createSnapshot(index, CONF, new Uint8Array([1]))
          .then(() => snapshotting.compact(index)).then(() => true, () => false);
        if (rng() < 0.3) {
          await runUpTo(rng, max_crash_delay_turns);
          [run, log] = await powerCutAndReopen(run, rng);
          const acknowledged = await done;
          const found = describeLog(log);
          const compacted = compactModel(model, index);
          assert.ok(
            [describeModel(model), describeModel(compacted)].includes(found),
            `round ${round}: recovered ${found.slice(0, 80)} after a snapshot at ${index}`,
          );
          if (acknowledged) {
            assert.equal(found, describeModel(compacted), `round ${round}: snapshot lost`);
          }
          if (found === describeModel(compacted)) model = compacted;
        } else {
          assert.ok(await done);
          model = compactModel(model, index);
        }
        assert.equal(describeLog(log), describeModel(model), `round ${round}`);
        continue;
      }
      const update = randomUpdate(rng, model, term);
      if (roll < 0.3) {
        // Crash with this save in flight: the log must hold the old state or a prefix of it.
        const pending = log.save(update).then(() => true, () => false);
        await runUpTo(rng, max_crash_delay_turns);
        [run, log] = await powerCutAndReopen(run, rng);
        const acknowledged = await pending;
        const found = describeLog(log);
        const candidates = crashCandidates(model, update);
        const match = candidates.find((c) => describeModel(c) === found);
        assert.ok(match, `round ${round}: recovered ${found.slice(0, 80)} matches no candidate`);
        if (acknowledged) {
          const complete = describeModel(candidates[candidates.length - 1]);
          assert.equal(found, complete, `round ${round}: part of an acknowledged save is lost`);
        }
        const hard = log.initialState().hard_state;
        assert.ok(hard.term === model.hard_state.term || hard.term === update.hard_state?.term);
        model = { ...match, hard_state: hard };
      } else {
        await log.save(update);
        model = applyToModel(model, update, update.entries.length);
        if (rng() < 0.2) {
          [run, log] = await powerCutAndReopen(run, rng);
        }
        assert.equal(describeLog(log), describeModel(model), `round ${round}`);
        assert.equal(log.initialState().hard_state.term, model.hard_state.term);
      }
    }
    log.close();
  } catch (err) {
    console.error(
      `crash property failed with seed ${seed}, max_crash_delay_turns ${max_crash_delay_turns}` +
        ` (rerun with RAFT_LOG_SEED=${seed})`,
    );
    throw err;
  }
}
