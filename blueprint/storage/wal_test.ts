import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import {
  FaultyFileSystem,
  InjectedFaultError,
  NodeFileSystem,
  seededRng,
} from "../../shared/fs/mod.ts";
import { StorageError } from "./errors.ts";
import { readLogRecords } from "./log_format.ts";
import { Wal } from "./wal.ts";

const PATH = "/db/000005.log";

function newFs(sync_delay_ms = 0): FaultyFileSystem {
  const fs = new FaultyFileSystem({ sync_delay_ms });
  fs.mkdir("/db");
  return fs;
}

/** Record `index` of a test: 4-byte index then filler, so that records are distinguishable. */
function record(index: number, length_bytes = 40): Uint8Array {
  const bytes = new Uint8Array(length_bytes);
  new DataView(bytes.buffer).setUint32(0, index, true);
  bytes.fill(index & 0xff, 4);
  return bytes;
}

function indexOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
}

Deno.test("Wal group commit: concurrent synced appends share fdatasyncs", async (t) => {
  await t.step("a burst in one turn shares one sync", async () => {
    const fs = newFs();
    const wal = Wal.create(fs, PATH);
    await Promise.all(Array.from({ length: 500 }, (_, i) => wal.append(record(i), true)));
    strictEqual(fs.counters.syncs, 1);
    strictEqual(fs.counters.dir_syncs, 1, "the new log's name is made durable once");
    strictEqual(readLogRecords(fs, PATH).records.length, 500);
    await wal.close();
  });
  await t.step("writers that arrive while a sync runs ride on the next one", async () => {
    const fs = newFs(1);
    const wal = Wal.create(fs, PATH);
    const writers = 32;
    const appends_per_writer = 20;
    const writer = async (id: number) => {
      for (let i = 0; i < appends_per_writer; i++) {
        await wal.append(record(id * appends_per_writer + i), true);
      }
    };
    await Promise.all(Array.from({ length: writers }, (_, id) => writer(id)));
    const appends = writers * appends_per_writer;
    ok(
      fs.counters.syncs * 10 < appends,
      `${fs.counters.syncs} fdatasyncs for ${appends} synced appends`,
    );
    ok(fs.counters.syncs >= appends_per_writer, "each sequential append needs its own sync");
    await wal.close();
  });
});

Deno.test("Wal: every resolved append survives a crash at any point", async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = seededRng(seed);
    const fs = newFs(seed % 2); // odd seeds: crash while a sync is in flight too
    const wal = Wal.create(fs, PATH);
    const crash_after_acks = 1 + Math.floor(rng() * 150);
    const acked: number[] = [];
    let next_index = 0;
    let crashed = false;
    const writer = async () => {
      // Bounded: each writer stops at the crash or after 100 appends.
      for (let i = 0; i < 100 && !crashed; i++) {
        const index = next_index++;
        const sync = rng() < 0.8;
        try {
          await wal.append(record(index, 8 + Math.floor(rng() * 3000)), sync);
        } catch (err) {
          ok(crashed, `seed ${seed}: append failed without a crash: ${err}`);
          return;
        }
        if (sync) acked.push(index);
        if (acked.length === crash_after_acks && !crashed) {
          crashed = true;
          fs.crash(rng, { tear_last_write: true });
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, writer));
    ok(crashed, `seed ${seed}: the crash point was reached`);
    const { records } = readLogRecords(fs, PATH);
    records.forEach((bytes, i) => strictEqual(indexOf(bytes), i, `seed ${seed}: record ${i}`));
    for (const index of acked) {
      ok(index < records.length, `seed ${seed}: acknowledged record ${index} was lost`);
    }
  }
});

Deno.test("Wal: unsynced appends are durable only after a later sync", async () => {
  const fs = newFs();
  const wal = Wal.create(fs, PATH);
  await wal.append(record(0), false);
  await wal.append(record(1), false);
  strictEqual(fs.counters.syncs, 0);
  strictEqual(wal.sizeBytes(), 2 * (7 + 40));
  fs.crash(seededRng(3));
  strictEqual(fs.exists(PATH), false, "the new log's name was never made durable");

  const fs2 = newFs();
  const wal2 = Wal.create(fs2, PATH);
  await wal2.append(record(0), false);
  await wal2.sync();
  await wal2.append(record(1), false);
  fs2.crash(seededRng(3));
  deepStrictEqual(readLogRecords(fs2, PATH).records.map(indexOf), [0]);
});

Deno.test("Wal: a failed sync fails the waiting appends and every later call", async () => {
  const fs = newFs();
  const wal = Wal.create(fs, PATH);
  fs.failAfter(2); // two appends succeed, their sync fails
  const first = wal.append(record(0), true);
  const second = wal.append(record(1), true);
  await rejects(first, InjectedFaultError);
  await rejects(second, InjectedFaultError);
  fs.clearFault();
  throws(() => wal.append(record(2), true), StorageError);
  throws(() => wal.sync(), /failed earlier/);
  await wal.close();
});

Deno.test("Wal.close waits for requested syncs, then refuses use", async () => {
  const fs = newFs(1);
  const wal = Wal.create(fs, PATH);
  const pending = wal.append(record(0), true);
  await wal.close();
  await pending;
  strictEqual(fs.counters.syncs, 1);
  throws(() => wal.append(record(1), false), /after close/);
  fs.crash(seededRng(1));
  deepStrictEqual(readLogRecords(fs, PATH).records.map(indexOf), [0]);
});

Deno.test("Wal on the real disk: concurrent synced appends read back in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wal_test_" });
  try {
    const fs = new NodeFileSystem();
    const path = `${dir}/000001.log`;
    const wal = Wal.create(fs, path);
    const sizes = [0, 10, 40_000, 100, 70_000, 8];
    await Promise.all(sizes.map((size, i) => wal.append(record(i, Math.max(8, size)), true)));
    await wal.close();
    const { records, torn_tail_offset } = readLogRecords(fs, path);
    deepStrictEqual(records.map(indexOf), [0, 1, 2, 3, 4, 5]);
    deepStrictEqual(records.map((r) => r.length), sizes.map((size) => Math.max(8, size)));
    strictEqual(torn_tail_offset, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
