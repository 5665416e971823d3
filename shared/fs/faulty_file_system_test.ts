import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import {
  FaultyFileSystem,
  FileNotFoundError,
  InjectedFaultError,
  LockedError,
  seededRng,
} from "./mod.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("FaultyFileSystem keeps synced bytes and loses unsynced ones on crash", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  file.append(bytes(1, 2, 3));
  await file.sync();
  await fs.syncDir("/db");
  file.append(bytes(4, 5));
  deepStrictEqual([...fs.readFile("/db/a")], [1, 2, 3, 4, 5]);
  strictEqual(fs.isDurable("/db/a"), false);
  fs.crash(seededRng(1));
  deepStrictEqual([...fs.readFile("/db/a")], [1, 2, 3]);
  strictEqual(fs.counters.syncs, 1);
  strictEqual(fs.counters.dir_syncs, 1);
  strictEqual(fs.counters.crashes, 1);
});

Deno.test("FaultyFileSystem handles opened before a crash are dead", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  file.append(bytes(1));
  await file.sync();
  await fs.syncDir("/db");
  fs.crash(seededRng(1));
  throws(() => file.append(bytes(2)), /dead/);
  throws(() => file.size(), /dead/);
  throws(() => file.readAt(new Uint8Array(1), 0), /dead/);
  await rejects(file.sync(), /dead/);
  const reopened = fs.open("/db/a", "append");
  strictEqual(reopened.size(), 1);
});

Deno.test("FaultyFileSystem loses an unsynced create even if the file's bytes were synced", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  file.append(bytes(1, 2));
  await file.sync();
  fs.crash(seededRng(1));
  strictEqual(fs.exists("/db/a"), false);
  deepStrictEqual(fs.list("/db"), []);
  throws(() => fs.readFile("/db/a"), FileNotFoundError);
});

Deno.test("FaultyFileSystem loses an unsynced rename and remove", async (t) => {
  await t.step("rename reverts to the old name", async () => {
    const fs = new FaultyFileSystem();
    fs.mkdir("/db");
    const file = fs.open("/db/tmp", "create");
    file.append(bytes(7));
    await file.sync();
    await fs.syncDir("/db");
    fs.rename("/db/tmp", "/db/final");
    deepStrictEqual(fs.list("/db"), ["final"]);
    fs.crash(seededRng(1));
    deepStrictEqual(fs.list("/db"), ["tmp"]);
    deepStrictEqual([...fs.readFile("/db/tmp")], [7]);
  });
  await t.step("a synced rename replaces the target", async () => {
    const fs = new FaultyFileSystem();
    fs.mkdir("/db");
    for (const [name, value] of [["old", 1], ["new", 2]] as const) {
      const file = fs.open(`/db/${name}`, "create");
      file.append(bytes(value));
      await file.sync();
    }
    await fs.syncDir("/db");
    fs.rename("/db/new", "/db/old");
    await fs.syncDir("/db");
    fs.crash(seededRng(1));
    deepStrictEqual(fs.list("/db"), ["old"]);
    deepStrictEqual([...fs.readFile("/db/old")], [2]);
  });
  await t.step("remove comes back", async () => {
    const fs = new FaultyFileSystem();
    fs.mkdir("/db");
    const file = fs.open("/db/a", "create");
    await file.sync();
    await fs.syncDir("/db");
    fs.remove("/db/a");
    fs.remove("/db/missing");
    strictEqual(fs.exists("/db/a"), false);
    fs.crash(seededRng(1));
    strictEqual(fs.exists("/db/a"), true);
    fs.remove("/db/a");
    await fs.syncDir("/db");
    fs.crash(seededRng(1));
    strictEqual(fs.exists("/db/a"), false);
  });
});

Deno.test("FaultyFileSystem tears the unsynced tail at a random point, never into synced bytes", async () => {
  const seen_lengths = new Set<number>();
  for (let seed = 1; seed <= 60; seed++) {
    const fs = new FaultyFileSystem();
    fs.mkdir("/db");
    const file = fs.open("/db/a", "create");
    file.append(bytes(1, 2, 3));
    await file.sync();
    await fs.syncDir("/db");
    file.append(bytes(4, 5, 6, 7));
    fs.crash(seededRng(seed), { tear_last_write: true });
    const after = [...fs.readFile("/db/a")];
    ok(after.length >= 3 && after.length <= 7, `seed ${seed}: length ${after.length}`);
    deepStrictEqual(after, [1, 2, 3, 4, 5, 6, 7].slice(0, after.length), `seed ${seed}`);
    seen_lengths.add(after.length);
  }
  ok(seen_lengths.size >= 4, `torn lengths should vary, saw ${[...seen_lengths]}`);
});

Deno.test("FaultyFileSystem truncate is undone by a crash until synced", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  file.append(bytes(1, 2, 3, 4));
  await file.sync();
  await fs.syncDir("/db");
  file.truncate(1);
  file.append(bytes(9));
  deepStrictEqual([...fs.readFile("/db/a")], [1, 9]);
  fs.crash(seededRng(1), { tear_last_write: true });
  deepStrictEqual([...fs.readFile("/db/a")], [1, 2, 3, 4]);
  const again = fs.open("/db/a", "append");
  again.truncate(2);
  await again.sync();
  fs.crash(seededRng(1));
  deepStrictEqual([...fs.readFile("/db/a")], [1, 2]);
});

Deno.test("FaultyFileSystem sync covers only bytes appended before it was called", async () => {
  const fs = new FaultyFileSystem({ sync_delay_ms: 1 });
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  await fs.syncDir("/db");
  file.append(bytes(1));
  const syncing = file.sync();
  file.append(bytes(2));
  await syncing;
  fs.crash(seededRng(1));
  deepStrictEqual([...fs.readFile("/db/a")], [1]);
});

Deno.test("FaultyFileSystem a sync cut short by a crash rejects and makes nothing durable", async () => {
  const fs = new FaultyFileSystem({ sync_delay_ms: 1 });
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  await fs.syncDir("/db");
  file.append(bytes(1));
  const syncing = file.sync();
  fs.crash(seededRng(1));
  await rejects(syncing, /crash/);
  deepStrictEqual([...fs.readFile("/db/a")], []);
});

Deno.test("FaultyFileSystem flipByte corrupts current and durable contents", async () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  file.append(bytes(0, 0x0f));
  await file.sync();
  await fs.syncDir("/db");
  fs.flipByte("/db/a", 1);
  deepStrictEqual([...fs.readFile("/db/a")], [0, 0xf0]);
  fs.crash(seededRng(1));
  deepStrictEqual([...fs.readFile("/db/a")], [0, 0xf0]);
  throws(() => fs.flipByte("/db/a", 2), /offset must be/);
});

Deno.test("FaultyFileSystem failAfter fails the chosen operation without applying it", () => {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const file = fs.open("/db/a", "create");
  fs.failAfter(1);
  file.append(bytes(1));
  throws(() => file.append(bytes(2)), InjectedFaultError);
  deepStrictEqual([...fs.readFile("/db/a")], [1]);
  throws(() => file.append(bytes(3)), InjectedFaultError);
  fs.clearFault();
  file.append(bytes(3));
  deepStrictEqual([...fs.readFile("/db/a")], [1, 3]);
  throws(() => fs.failAfter(-1), /operation_count/);
});

Deno.test("FaultyFileSystem checks modes, missing files, locks and lists", () => {
  const fs = new FaultyFileSystem();
  throws(() => fs.open("/nodir/a", "create"), FileNotFoundError);
  fs.mkdir("/db/sub");
  throws(() => fs.open("/db/a", "read"), FileNotFoundError);
  throws(() => fs.open("/db/a", "append"), FileNotFoundError);
  const writer = fs.open("/db/a", "create");
  writer.append(bytes(5, 6, 7));
  const reader = fs.open("/db/a", "read");
  throws(() => reader.append(bytes(1)), /opened "read"/);
  const buffer = new Uint8Array(4);
  strictEqual(reader.readAt(buffer, 1), 2);
  deepStrictEqual([...buffer.subarray(0, 2)], [6, 7]);
  strictEqual(reader.readAt(buffer, 3), 0);
  reader.close();
  throws(() => reader.size(), /after close/);
  deepStrictEqual(fs.list("/db"), ["a", "sub"]);
  const lock = fs.lock("/db/LOCK");
  throws(() => fs.lock("/db/LOCK"), LockedError);
  lock.release();
  fs.lock("/db/LOCK");
  fs.crash(seededRng(1));
  fs.lock("/db/LOCK").release();
});

/** A deliberately naive model: every inode keeps full copies of its current and durable bytes. */
interface ModelInode {
  current: number[];
  durable: number[];
}

Deno.test("FaultyFileSystem matches a naive model over random operation sequences", async () => {
  const names = ["a", "b", "c"];
  for (let seed = 1; seed <= 30; seed++) {
    const rng = seededRng(seed);
    const pick = <T>(items: T[]): T => items[Math.floor(rng() * items.length)];
    const fs = new FaultyFileSystem();
    fs.mkdir("/d");
    let model_names = new Map<string, ModelInode>();
    let durable_names = new Map<string, ModelInode>();
    let handles: { handle: ReturnType<FaultyFileSystem["open"]>; inode: ModelInode }[] = [];
    for (let step = 0; step < 200; step++) {
      const roll = rng();
      const context = `seed ${seed} step ${step}`;
      if (roll < 0.15) {
        const name = pick(names);
        let inode = model_names.get(name);
        if (inode === undefined) {
          inode = { current: [], durable: [] };
          model_names.set(name, inode);
        } else {
          inode.current = [];
        }
        handles.push({ handle: fs.open(`/d/${name}`, "create"), inode });
      } else if (roll < 0.45 && handles.length > 0) {
        const { handle, inode } = pick(handles);
        const data = Array.from({ length: Math.floor(rng() * 5) }, () => Math.floor(rng() * 256));
        handle.append(new Uint8Array(data));
        inode.current.push(...data);
      } else if (roll < 0.6 && handles.length > 0) {
        const { handle, inode } = pick(handles);
        await handle.sync();
        inode.durable = [...inode.current];
      } else if (roll < 0.67 && handles.length > 0) {
        const { handle, inode } = pick(handles);
        const length = Math.floor(rng() * (inode.current.length + 2));
        handle.truncate(length);
        inode.current = Array.from({ length }, (_, i) => inode.current[i] ?? 0);
      } else if (roll < 0.75) {
        const [from, to] = [pick(names), pick(names)];
        const inode = model_names.get(from);
        if (inode !== undefined) {
          fs.rename(`/d/${from}`, `/d/${to}`);
          model_names.delete(from);
          model_names.set(to, inode);
        }
      } else if (roll < 0.8) {
        const name = pick(names);
        fs.remove(`/d/${name}`);
        model_names.delete(name);
      } else if (roll < 0.92) {
        await fs.syncDir("/d");
        durable_names = new Map(model_names);
      } else {
        fs.crash(rng);
        for (const inode of new Set(durable_names.values())) inode.current = [...inode.durable];
        model_names = new Map(durable_names);
        handles = [];
      }
      deepStrictEqual(fs.list("/d"), [...model_names.keys()].sort(), context);
      for (const [name, inode] of model_names) {
        deepStrictEqual([...fs.readFile(`/d/${name}`)], inode.current, `${context} ${name}`);
      }
    }
  }
});
