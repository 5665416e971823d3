import assert from "node:assert/strict";
import { seededRng } from "../../shared/fs/mod.ts";
import { Storage } from "../storage/mod.ts";
import { bytes, Harness, storageOptions, text } from "./test_support.ts";
import { type Watcher, type WatchEvent, WatchHub } from "./mod.ts";

const ALL = Uint8Array.of(0);
const label = (e: WatchEvent) =>
  `${e.revision}.${e.event.sub_revision}:${e.event.type}:${text(e.event.kv.key)}`;

/** Reads until `want` events arrived; fails on a cancellation. */
async function take(watcher: Watcher, want: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for (let calls = 0; out.length < want; calls++) {
    assert.ok(calls < 10_000, "watcher stopped making progress");
    const result = await watcher.next();
    assert.equal(result.type, "events", JSON.stringify(result));
    if (result.type === "events") out.push(...result.events);
  }
  return out;
}

Deno.test("watch from a past revision while live events arrive during catch-up: no gap, no duplicate", async (t) => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    await t.step(`seed ${seed}`, async () => {
      const random = seededRng(seed);
      const h = await Harness.create();
      const hub = new WatchHub(h.machine, { catch_up_chunk_events: 1 + Math.floor(random() * 3) });
      for (let i = 0; i < 12; i++) {
        await h.do({ type: "put", key: bytes(`k${i % 4}`), value: bytes(`${i}`) });
      }
      const start = 1 + Math.floor(random() * 10);
      const watcher = hub.watch({ key: bytes("k"), range_end: bytes("l"), start_revision: start });
      const delivered: WatchEvent[] = [];
      const pending: Promise<unknown>[] = [];
      for (let step = 0; step < 40; step++) {
        const r = random();
        if (r < 0.4) {
          // Applies land while the watcher is between catch-up chunks, some still in flight.
          const put = h.do({
            type: "txn",
            compare: [],
            success: [
              { type: "put", key: bytes(`k${step % 5}`), value: bytes(`s${step}`) },
              { type: "put", key: bytes(`x${step}`), value: bytes("ignored") },
            ],
            failure: [],
          });
          if (random() < 0.5) await put;
          else pending.push(put);
        } else {
          // Only ask when an event is due, or next() rightly waits for ever.
          const due = h.machine.readEvents({ revision: start, sub_revision: 0 }, 10_000)
            .filter((e) => text(e.event.kv.key).startsWith("k")).length;
          if (delivered.length >= due) continue;
          const result = await watcher.next();
          assert.equal(result.type, "events");
          if (result.type === "events") delivered.push(...result.events);
        }
      }
      await Promise.all(pending);
      const expected = h.machine.readEvents({ revision: start, sub_revision: 0 }, 10_000)
        .filter((e) => text(e.event.kv.key).startsWith("k"));
      delivered.push(...await take(watcher, expected.length - delivered.length));
      assert.deepEqual(delivered.map(label), expected.map(label), `seed ${seed}`);
      hub.close();
      await h.close();
    });
  }
});

Deno.test("watch from 0 gets only later events; a single-key watch filters", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine);
  await h.do({ type: "put", key: bytes("a"), value: bytes("old") });
  const all = hub.watch({ key: bytes("a"), range_end: ALL });
  const one = hub.watch({ key: bytes("b") });
  await h.do({ type: "put", key: bytes("a"), value: bytes("new") });
  await h.do({ type: "put", key: bytes("b"), value: bytes("b") });
  await h.do({ type: "delete_range", key: bytes("a"), range_end: ALL });
  assert.deepEqual((await take(all, 4)).map(label), [
    "2.0:put:a",
    "3.0:put:b",
    "4.0:delete:a",
    "4.1:delete:b",
  ]);
  assert.deepEqual((await take(one, 2)).map(label), ["3.0:put:b", "4.1:delete:b"]);
  hub.close();
  await h.close();
});

Deno.test("a slow watcher is cancelled with a reason and where to resume", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine, { max_buffered_events: 3 });
  const slow = hub.watch({ key: bytes("k") });
  const fast = hub.watch({ key: bytes("k") });
  for (let i = 0; i < 5; i++) {
    await h.do({ type: "put", key: bytes("k"), value: bytes(`${i}`) });
    if (i < 3) await take(fast, 1);
  }
  const result = await slow.next();
  assert.equal(result.type, "cancelled");
  assert.ok(result.type === "cancelled");
  assert.match(result.reason, /too slow: more than 3 events buffered; watch again from revision 1/);
  assert.equal(result.resume_revision, 1);
  assert.equal(slow.cancelled, true);
  assert.deepEqual((await take(fast, 2)).map(label), ["4.0:put:k", "5.0:put:k"]);
  assert.equal(hub.size, 1);
  hub.close();
  await h.close();
});

Deno.test("watch below the compact revision is cancelled with the compact revision", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine, { catch_up_chunk_events: 1 });
  for (let i = 0; i < 6; i++) await h.do({ type: "put", key: bytes("k"), value: bytes(`${i}`) });
  const catching_up = hub.watch({ key: bytes("k"), start_revision: 1 });
  await take(catching_up, 1);
  await h.do({ type: "compact", revision: 4 });
  const mid = await catching_up.next();
  assert.ok(mid.type === "cancelled" && mid.compact_revision === 4, JSON.stringify(mid));
  const late = hub.watch({ key: bytes("k"), start_revision: 2 });
  const result = await late.next();
  assert.ok(result.type === "cancelled");
  assert.equal(result.compact_revision, 4);
  assert.match(result.reason, /compacted/);
  const ok = hub.watch({ key: bytes("k"), start_revision: 4 });
  assert.deepEqual((await take(ok, 3)).map(label), ["4.0:put:k", "5.0:put:k", "6.0:put:k"]);
  hub.close();
  await h.close();
});

Deno.test("cancel ends a pending next; bad watch requests are refused", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine, { max_watchers: 1 });
  const watcher = hub.watch({ key: bytes("k") });
  const pending = watcher.next();
  watcher.cancel();
  const result = await pending;
  assert.ok(result.type === "cancelled" && /by the client/.test(result.reason));
  assert.throws(() => hub.watch({ key: new Uint8Array(0) }), /watch key must be a non-empty/);
  assert.throws(() => hub.watch({ key: bytes("k"), start_revision: -1 }), /start_revision/);
  hub.watch({ key: bytes("k") });
  assert.throws(() => hub.watch({ key: bytes("k") }), /too many watchers \(limit 1\)/);
  assert.throws(() => new WatchHub(h.machine, { max_buffered_events: 0 }), /positive integer/);
  hub.close();
  await h.close();
});

Deno.test("an event already in storage but not yet published is delivered exactly once", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine, { catch_up_chunk_events: 10 });
  for (let i = 0; i < 5; i++) await h.do({ type: "put", key: bytes("k"), value: bytes(`${i}`) });
  const in_flight = h.do({ type: "put", key: bytes("k"), value: bytes("last") });
  // Wait for the window between the storage write and the publication of revision 6.
  let polls = 0;
  while (h.machine.readEvents({ revision: 6, sub_revision: 0 }, 1).length === 0) {
    assert.ok(++polls < 1000, "revision 6 never reached storage");
    await Promise.resolve();
  }
  assert.equal(h.machine.revision, 5, "revision 6 is in storage but not yet published");
  const watcher = hub.watch({ key: bytes("k"), start_revision: 2 });
  const early = await take(watcher, 5);
  await in_flight;
  await h.do({ type: "put", key: bytes("k"), value: bytes("after") });
  const late = await take(watcher, 1);
  assert.deepEqual([...early, ...late].map((e) => e.revision), [2, 3, 4, 5, 6, 7]);
  hub.close();
  await h.close();
});

Deno.test("prev_kv: events carry the key's previous version", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine);
  await h.do({ type: "put", key: bytes("k"), value: bytes("1") });
  await h.do({ type: "put", key: bytes("k"), value: bytes("2") });
  const past = hub.watch({ key: bytes("k"), start_revision: 1, prev_kv: true });
  await h.do({ type: "delete_range", key: bytes("k") });
  const events = await take(past, 3);
  assert.deepEqual(
    events.map((e) =>
      e.prev_kv === undefined ? "-" : `${text(e.prev_kv.value)}@${e.prev_kv.mod_revision}`
    ),
    ["-", "1@1", "2@2"],
  );
  hub.close();
  await h.close();
});

Deno.test("a deletion at the compact revision is still delivered after its tombstone is purged", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine);
  await h.do({ type: "put", key: bytes("k"), value: bytes("1") });
  await h.do({ type: "delete_range", key: bytes("k") });
  await h.do({ type: "compact", revision: 2 });
  assert.equal([...h.storage.scan({ prefix: bytes("h") })].length, 0, "tombstone purged");
  const watcher = hub.watch({ key: bytes("k"), start_revision: 2 });
  const [event] = await take(watcher, 1);
  assert.equal(label(event), "2.0:delete:k");
  assert.equal(event.event.kv.mod_revision, 2);
  hub.close();
  await h.close();
});

Deno.test("after a snapshot install, watchers re-read the log and miss nothing", async () => {
  const source = await Harness.create();
  for (let i = 1; i <= 6; i++) {
    await source.do({ type: "put", key: bytes("k"), value: bytes(`${i}`) });
  }
  await source.machine.checkpoint("/checkpoint");
  const target = await Harness.create();
  await target.do({ type: "put", key: bytes("k"), value: bytes("1") });
  const hub = new WatchHub(target.machine);
  const watcher = hub.watch({ key: bytes("k"), start_revision: 2 });
  await target.machine.replaceStorage(async (current) => {
    await current.close();
    return await Storage.open("/checkpoint", storageOptions(source.fs));
  });
  target.storage = target.machine.storage;
  assert.deepEqual((await take(watcher, 5)).map(label), [2, 3, 4, 5, 6].map((r) => `${r}.0:put:k`));
  hub.close();
  await source.close();
  await target.close();
});

Deno.test("a sparse watch catches up through many chunks without a match", async () => {
  const h = await Harness.create();
  const hub = new WatchHub(h.machine, { catch_up_chunk_events: 2 });
  for (let i = 0; i < 80; i++) {
    await h.do({ type: "put", key: bytes(`other${i}`), value: bytes("v") });
  }
  await h.do({ type: "put", key: bytes("k"), value: bytes("v") });
  const watcher = hub.watch({ key: bytes("k"), start_revision: 1 });
  assert.deepEqual((await take(watcher, 1)).map(label), ["81.0:put:k"]);
  hub.close();
  await h.close();
});
