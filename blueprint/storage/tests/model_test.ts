/**
 * Model-based property test: random sequences of writes, reads, scans, snapshots, reopens,
 * flushes and compactions against an in-memory Map. Small memtables and files make flushes
 * and compactions frequent.
 */
import assert from "node:assert/strict";
import { fc } from "../../../dev_deps.ts";
import { FaultyFileSystem } from "../../../shared/fs/mod.ts";
import {
  type ScanOptions,
  type Snapshot,
  Storage,
  type StorageOptions,
  WriteBatch,
} from "../mod.ts";
import { compareBytes } from "../internal_key.ts";

type Model = Map<string, Uint8Array>;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

/** Keys from a small alphabet so that writes overlap and prefixes match often. */
const keyArb = fc.uint8Array({ minLength: 1, maxLength: 4, min: 0x61, max: 0x6a });
const valueArb = fc.oneof(
  fc.uint8Array({ maxLength: 8 }),
  fc.uint8Array({ minLength: 100, maxLength: 400 }),
  fc.uint8Array({ minLength: 100, maxLength: 400 }),
);
const boundArb = fc.option(fc.uint8Array({ maxLength: 2, min: 0x60, max: 0x67 }), {
  nil: undefined,
});
const scanArb = fc.record({
  start: boundArb,
  end: boundArb,
  prefix: fc.option(fc.uint8Array({ maxLength: 2, min: 0x61, max: 0x66 }), { nil: undefined }),
  reverse: fc.boolean(),
  limit: fc.option(fc.nat(20), { nil: undefined }),
  fill_cache: fc.option(fc.boolean(), { nil: undefined }),
});

type Op =
  | { kind: "put"; key: Uint8Array; value: Uint8Array; sync: boolean }
  | { kind: "delete"; key: Uint8Array; sync: boolean }
  | { kind: "batch"; ops: { key: Uint8Array; value: Uint8Array | null }[] }
  | { kind: "get"; key: Uint8Array; at_snapshot: boolean }
  | { kind: "scan"; options: ScanOptions; at_snapshot: boolean; writes_during: Uint8Array[] }
  | { kind: "snapshot" }
  | { kind: "release" }
  | { kind: "reopen" }
  | { kind: "flush" }
  | { kind: "compact" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      key: keyArb,
      value: valueArb,
      sync: fc.boolean(),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyArb, sync: fc.boolean() }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      ops: fc.array(fc.record({ key: keyArb, value: fc.option(valueArb, { nil: null }) }), {
        maxLength: 6,
      }),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("get" as const),
      key: keyArb,
      at_snapshot: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("scan" as const),
      options: scanArb,
      at_snapshot: fc.boolean(),
      writes_during: fc.array(keyArb, { maxLength: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: "snapshot" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "release" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "flush" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "compact" as const }) },
);

/** The entries a scan must return, from the model. */
function expectedScan(model: Model, options: ScanOptions): [string, Uint8Array][] {
  const inRange = (key: Uint8Array) =>
    (options.start === undefined || compareBytes(key, options.start) >= 0) &&
    (options.end === undefined || compareBytes(key, options.end) < 0) &&
    (options.prefix === undefined ||
      (key.length >= options.prefix.length &&
        compareBytes(key.subarray(0, options.prefix.length), options.prefix) === 0));
  const entries = [...model.entries()]
    .filter(([k]) => inRange(unhex(k)))
    .sort(([a], [b]) => compareBytes(unhex(a), unhex(b)));
  if (options.reverse) entries.reverse();
  return entries.slice(0, options.limit ?? Infinity);
}

interface Run {
  db: Storage;
  model: Model;
  snapshot: { handle: Snapshot; model: Model } | null;
}

async function applyOp(run: Run, op: Op, open: () => Promise<Storage>): Promise<void> {
  const { model } = run;
  switch (op.kind) {
    case "put":
      await run.db.put(op.key, op.value, { sync: op.sync });
      model.set(hex(op.key), op.value);
      return;
    case "delete":
      await run.db.delete(op.key, { sync: op.sync });
      model.delete(hex(op.key));
      return;
    case "batch": {
      const batch = new WriteBatch();
      for (const { key, value } of op.ops) {
        value === null ? batch.delete(key) : batch.put(key, value);
      }
      await run.db.write(batch);
      for (const { key, value } of op.ops) {
        value === null ? model.delete(hex(key)) : model.set(hex(key), value);
      }
      return;
    }
    case "get": {
      const at = op.at_snapshot ? run.snapshot : null;
      const got = run.db.get(op.key, { snapshot: at?.handle });
      assert.deepEqual(got, (at?.model ?? model).get(hex(op.key)), `get ${hex(op.key)}`);
      return;
    }
    case "scan":
      return await checkScan(run, op);
    case "snapshot":
      run.snapshot?.handle.release();
      run.snapshot = { handle: run.db.snapshot(), model: new Map(model) };
      return;
    case "release":
      run.snapshot?.handle.release();
      run.snapshot = null;
      return;
    case "reopen":
      run.snapshot?.handle.release();
      run.snapshot = null;
      await run.db.close();
      run.db = await open();
      return;
    case "flush":
      return await run.db.flush();
    case "compact":
      return await run.db.compactRange();
  }
}

/** Scans, with writes landing between steps: the scan must keep the view it started with. */
async function checkScan(run: Run, op: Extract<Op, { kind: "scan" }>): Promise<void> {
  const at = op.at_snapshot ? run.snapshot : null;
  const view = new Map(at?.model ?? run.model);
  const scan = run.db.scan({ ...op.options, snapshot: at?.handle });
  const got: [string, Uint8Array][] = [];
  let writes = [...op.writes_during];
  for (const { key, value } of scan) {
    got.push([hex(key), value]);
    const key_to_write = writes.shift();
    if (key_to_write === undefined) continue;
    await run.db.put(key_to_write, new Uint8Array([1, 2, 3]));
    run.model.set(hex(key_to_write), new Uint8Array([1, 2, 3]));
  }
  writes = [];
  assert.deepEqual(got, expectedScan(view, op.options), `scan ${JSON.stringify(op.options)}`);
}

const SMALL: Omit<StorageOptions, "fs"> = {
  background: "inline",
  memtable_size_bytes: 2 << 10,
  target_file_size_bytes: 2 << 10,
  block_size_bytes: 256,
  max_bytes_for_level_base: 8 << 10,
  l0_compaction_trigger: 2,
  l0_slowdown_trigger: 4,
  l0_stop_trigger: 6,
  max_immutable_memtables: 2,
};

/** Work the engine did across all runs, so the test can show it exercised what it claims. */
const work = { flushes: 0, compactions: 0, reopens: 0 };

async function runOps(ops: Op[], open: () => Promise<Storage>): Promise<void> {
  const counted_open = async () => {
    work.reopens++;
    return await open();
  };
  const run: Run = { db: await open(), model: new Map(), snapshot: null };
  const count = () => {
    work.flushes += run.db.stats().flushes;
    work.compactions += run.db.stats().compactions;
  };
  try {
    for (const op of ops) {
      if (op.kind === "reopen") count();
      await applyOp(run, op, counted_open);
    }
    count();
    assert.deepEqual(
      [...run.db.scan()].map(({ key, value }) => [hex(key), value]),
      expectedScan(run.model, {}),
      "final state",
    );
    await run.db.close();
    run.db = await open();
    assert.deepEqual(
      [...run.db.scan()].map(({ key, value }) => [hex(key), value]),
      expectedScan(run.model, {}),
      "state after the last reopen",
    );
  } finally {
    await run.db.close();
  }
}

Deno.test("storage matches a Map model under random operations (inline, in memory)", async () => {
  const seed = Number(Deno.env.get("STORAGE_MODEL_SEED") ?? 20261126);
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 100, maxLength: 300 }), async (ops) => {
      const fs = new FaultyFileSystem();
      await runOps(ops, () => Storage.open("/db", { ...SMALL, fs }));
    }),
    { seed, numRuns: 60 },
  );
  assert.ok(work.flushes > 200, `flushes: ${work.flushes}`);
  assert.ok(work.compactions > 50, `compactions: ${work.compactions}`);
  assert.ok(work.reopens > 20, `reopens: ${work.reopens}`);
});

Deno.test("storage matches a Map model with the background worker on disk", async () => {
  const seed = Number(Deno.env.get("STORAGE_MODEL_SEED") ?? 7);
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 200 }), async (ops) => {
      const dir = await Deno.makeTempDir({ prefix: "storage_model_" });
      try {
        await runOps(ops, () => Storage.open(dir, { ...SMALL, background: "worker" }));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
    { seed, numRuns: 4 },
  );
});
