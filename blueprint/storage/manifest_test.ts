import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { FaultyFileSystem, InjectedFaultError, seededRng } from "../../shared/fs/mod.ts";
import { CorruptionError, StorageError } from "./errors.ts";
import { encodeInternalKey, ValueType } from "./internal_key.ts";
import {
  decodeManifest,
  emptyManifestState,
  encodeManifest,
  type ManifestState,
  manifestStateProblem,
  NUM_LEVELS,
  readManifest,
  type TableFileMeta,
  writeManifest,
} from "./manifest.ts";

const DIR = "/db";
const text = new TextEncoder();

function ikey(user_key: string, sequence: number): Uint8Array {
  return encodeInternalKey(text.encode(user_key), sequence, ValueType.Value);
}

function table(file_number: number, smallest: string, largest: string): TableFileMeta {
  return {
    file_number,
    size_bytes: 1000 + file_number,
    smallest_key: ikey(smallest, 100 + file_number),
    largest_key: ikey(largest, 1),
  };
}

/** A state with files in L0 (overlapping), L1 and L3, and two compaction pointers. */
function sampleState(generation = 0): ManifestState {
  const state = emptyManifestState();
  state.next_file_number = 40 + generation;
  state.last_sequence = 2 ** 40 + generation;
  state.log_number = 37 + generation;
  state.levels[0] = [table(30, "a", "m"), table(33, "c", "z")];
  state.levels[1] = [table(10, "a", "f"), table(11, "g", "k"), table(12, "l", "q")];
  state.levels[3] = [table(2, "", "zz")];
  state.compact_pointers[1] = ikey("k", 5);
  state.compact_pointers[3] = ikey("", 0);
  return state;
}

function newFs(): FaultyFileSystem {
  const fs = new FaultyFileSystem();
  fs.mkdir(DIR);
  return fs;
}

Deno.test("manifest round trip", async (t) => {
  await t.step("a missing manifest reads as undefined", () => {
    strictEqual(readManifest(newFs(), DIR), undefined);
  });
  await t.step("empty state", async () => {
    const fs = newFs();
    await writeManifest(fs, DIR, emptyManifestState());
    deepStrictEqual(readManifest(fs, DIR), emptyManifestState());
  });
  await t.step("state with tables in several levels and compaction pointers", async () => {
    const fs = newFs();
    await writeManifest(fs, DIR, sampleState());
    deepStrictEqual(readManifest(fs, DIR), sampleState());
    deepStrictEqual(fs.list(DIR), ["MANIFEST"]);
    ok(fs.isDurable(`${DIR}/MANIFEST`));
  });
  await t.step("large numbers survive the varint encoding", async () => {
    const fs = newFs();
    const state = sampleState();
    state.next_file_number = Number.MAX_SAFE_INTEGER;
    state.levels[1][0].size_bytes = 2 ** 52 + 1;
    await writeManifest(fs, DIR, state);
    deepStrictEqual(readManifest(fs, DIR), state);
  });
});

Deno.test("manifest replace is atomic under a crash at every step", async () => {
  // Cut a write after each of its file operations, until one completes.
  let steps = 0;
  for (; steps < 100; steps++) {
    const fs = newFs();
    await writeManifest(fs, DIR, sampleState(0));
    fs.failAfter(steps);
    try {
      await writeManifest(fs, DIR, sampleState(1));
      break; // the whole write fits in `steps` operations
    } catch (err) {
      ok(err instanceof InjectedFaultError, `step ${steps}: ${err}`);
    }
    for (const tear of [false, true]) {
      fs.crash(seededRng(steps), { tear_last_write: tear });
      const after = readManifest(fs, DIR);
      deepStrictEqual(after, sampleState(0), `crash after ${steps} steps (tear ${tear})`);
    }
  }
  ok(steps >= 5 && steps < 100, `a write took ${steps} operations`);
  // Without a fault, a crash right after the write keeps the new state.
  const fs = newFs();
  await writeManifest(fs, DIR, sampleState(0));
  await writeManifest(fs, DIR, sampleState(1));
  fs.crash(seededRng(1), { tear_last_write: true });
  deepStrictEqual(readManifest(fs, DIR), sampleState(1));
});

Deno.test("manifest: the first write cut at any step leaves no manifest or the new one", async () => {
  for (let steps = 0; steps < 10; steps++) {
    const fs = newFs();
    fs.failAfter(steps);
    const completed = await writeManifest(fs, DIR, sampleState()).then(() => true, () => false);
    fs.crash(seededRng(steps), { tear_last_write: true });
    const after = readManifest(fs, DIR);
    if (completed) deepStrictEqual(after, sampleState());
    else strictEqual(after, undefined, `crash after ${steps} steps`);
  }
});

Deno.test("manifest: a flipped byte anywhere gives CorruptionError naming MANIFEST", async () => {
  const fs = newFs();
  await writeManifest(fs, DIR, sampleState());
  const size = fs.readFile(`${DIR}/MANIFEST`).length;
  for (let offset = 0; offset < size; offset++) {
    fs.flipByte(`${DIR}/MANIFEST`, offset);
    throws(
      () => readManifest(fs, DIR),
      (err: unknown) => err instanceof CorruptionError && /\/db\/MANIFEST/.test(err.message),
      `flip at ${offset}`,
    );
    fs.flipByte(`${DIR}/MANIFEST`, offset); // restore
  }
  deepStrictEqual(readManifest(fs, DIR), sampleState());
});

Deno.test("manifest: a well-checksummed file that breaks the rules gives CorruptionError", () => {
  const overlapping = sampleState();
  overlapping.levels[2] = [table(20, "a", "k"), table(21, "c", "d")];
  const fewer_levels = sampleState();
  fewer_levels.levels.pop();
  for (
    const [state, message] of [[overlapping, /L2 files 20 and 21 overlap/], [
      fewer_levels,
      /level count/,
    ]] as const
  ) {
    throws(
      () => decodeManifest(encodeManifest(state), "/db/MANIFEST"),
      (err: unknown) =>
        err instanceof CorruptionError && message.test(err.message) &&
        err.message.startsWith("/db/MANIFEST"),
    );
  }
});

Deno.test("manifest: a truncated file gives CorruptionError", async () => {
  const fs = newFs();
  await writeManifest(fs, DIR, sampleState());
  const full = fs.open(`${DIR}/MANIFEST`, "append");
  const size = full.size();
  for (const length of [0, 5, 12, size - 1]) {
    full.truncate(length);
    throws(() => readManifest(fs, DIR), CorruptionError, `length ${length}`);
  }
});

Deno.test("manifest validation rejects bad states on write", async (t) => {
  const cases: [string, (state: ManifestState) => void, RegExp][] = [
    ["too few levels", (s) => s.levels.pop(), /levels must have 7/],
    ["too few pointers", (s) => s.compact_pointers.pop(), /compact_pointers must have 7/],
    ["file number not below next", (s) => s.levels[1][0].file_number = 40, /file number 40/],
    ["duplicate file", (s) => s.levels[2].push(table(30, "x", "y")), /more than once/],
    ["smallest after largest", (s) => s.levels[3] = [table(2, "z", "a")], /after largest/],
    ["L0 out of order", (s) => s.levels[0].reverse(), /ascending file number/],
    ["L1 overlap", (s) => s.levels[1][1] = table(11, "e", "k"), /overlap/],
    ["L1 out of order", (s) => s.levels[1].reverse(), /overlap or are out of order/],
    ["short key", (s) => s.levels[1][0].smallest_key = new Uint8Array(3), /internal key/],
    ["negative size", (s) => s.levels[1][0].size_bytes = -1, /size_bytes/],
    ["log number", (s) => s.log_number = 41, /log_number/],
    ["sequence", (s) => s.last_sequence = 2 ** 48, /last_sequence/],
  ];
  for (const [name, spoil, message] of cases) {
    await t.step(name, async () => {
      const state = sampleState();
      spoil(state);
      ok(manifestStateProblem(state) !== undefined);
      const fs = newFs();
      await rejects(writeManifest(fs, DIR, state), (err: unknown) => {
        ok(err instanceof StorageError, String(err));
        ok(message.test(err.message), `${err.message} should match ${message}`);
        return true;
      });
      strictEqual(fs.exists(`${DIR}/MANIFEST`), false);
    });
  }
  strictEqual(manifestStateProblem(sampleState()), undefined);
  strictEqual(sampleState().levels.length, NUM_LEVELS);
});
