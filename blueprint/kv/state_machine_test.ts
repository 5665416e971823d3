import assert from "node:assert/strict";
import { Storage } from "../storage/mod.ts";
import { bytes, Harness, storageOptions, text } from "./test_support.ts";
import { encodeRequest, KvError, type KvResponse, KvStateMachine, type TxnRequest } from "./mod.ts";

const ALL = Uint8Array.of(0);

function body<T extends KvResponse["body"]["type"]>(
  response: KvResponse | undefined,
  type: T,
): Extract<KvResponse["body"], { type: T }> {
  assert.ok(response !== undefined);
  assert.equal(response.body.type, type, JSON.stringify(response.body));
  return response.body as Extract<KvResponse["body"], { type: T }>;
}

Deno.test("put: revisions, versions, create and mod revisions, prev_kv", async () => {
  const h = await Harness.create();
  const first = await h.do({ type: "put", key: bytes("a"), value: bytes("1") });
  assert.equal(first.revision, 1);
  await h.do({ type: "put", key: bytes("b"), value: bytes("x") });
  const third = await h.do({ type: "put", key: bytes("a"), value: bytes("2"), prev_kv: true });
  assert.equal(third.revision, 3);
  const prev = body(third, "put").prev_kv!;
  assert.equal(text(prev.value), "1");
  assert.deepEqual([prev.create_revision, prev.mod_revision, prev.version], [1, 1, 1]);
  const [kv] = h.machine.range(bytes("a")).kvs;
  assert.equal(text(kv.value), "2");
  assert.deepEqual([kv.create_revision, kv.mod_revision, kv.version, kv.lease], [1, 3, 2, 0]);
  assert.equal(h.machine.revision, 3);
  await h.close();
});

Deno.test("delete: one key, a range, all keys from a key; a no-op delete keeps the revision", async () => {
  const h = await Harness.create();
  for (const key of ["a", "b", "c", "d", "e"]) {
    await h.do({ type: "put", key: bytes(key), value: bytes(key) });
  }
  const none = await h.do({ type: "delete_range", key: bytes("zz") });
  assert.equal(body(none, "delete_range").deleted, 0);
  assert.equal(none.revision, 5, "a delete of nothing does not bump the revision");
  const one = await h.do({ type: "delete_range", key: bytes("a"), prev_kv: true });
  assert.equal(one.revision, 6);
  assert.deepEqual(body(one, "delete_range").prev_kvs.map((kv) => text(kv.value)), ["a"]);
  const range = await h.do({ type: "delete_range", key: bytes("b"), range_end: bytes("d") });
  assert.equal(body(range, "delete_range").deleted, 2);
  assert.equal(range.revision, 7, "a range delete is one revision");
  const rest = await h.do({ type: "delete_range", key: bytes("d"), range_end: ALL });
  assert.equal(body(rest, "delete_range").deleted, 2);
  assert.equal(h.machine.range(bytes("\0"), ALL).count, 0);
  // Recreated key starts a new life: version 1, new create_revision.
  await h.do({ type: "put", key: bytes("a"), value: bytes("again") });
  const [kv] = h.machine.range(bytes("a")).kvs;
  assert.deepEqual([kv.create_revision, kv.version], [9, 1]);
  await h.close();
});

Deno.test("range: limit, more, count, keys_only, count_only, prefix end", async () => {
  const h = await Harness.create();
  for (const key of ["p/1", "p/2", "p/3", "q"]) {
    await h.do({ type: "put", key: bytes(key), value: bytes("v" + key) });
  }
  const limited = h.machine.range(bytes("p/"), bytes("p0"), { limit: 2 });
  assert.deepEqual(limited.kvs.map((kv) => text(kv.key)), ["p/1", "p/2"]);
  assert.equal(limited.more, true);
  assert.equal(limited.count, 3);
  assert.equal(limited.revision, 4);
  const keys = h.machine.range(bytes("p/"), bytes("p0"), { keys_only: true });
  assert.equal(keys.more, false);
  assert.ok(keys.kvs.every((kv) => kv.value.length === 0));
  const counted = h.machine.range(bytes("a"), ALL, { count_only: true });
  assert.deepEqual([counted.kvs.length, counted.count, counted.more], [0, 4, false]);
  assert.equal(h.machine.range(bytes("q"), bytes("a")).count, 0, "range_end <= key is empty");
  await h.close();
});

Deno.test("range at past revisions, and clear errors for future and compacted ones", async () => {
  const h = await Harness.create();
  await h.do({ type: "put", key: bytes("k"), value: bytes("1") }); // 1
  await h.do({ type: "put", key: bytes("k"), value: bytes("2") }); // 2
  await h.do({ type: "delete_range", key: bytes("k") }); // 3
  await h.do({ type: "put", key: bytes("k"), value: bytes("4") }); // 4
  await h.do({ type: "put", key: bytes("j"), value: bytes("j") }); // 5
  const at = (revision: number) =>
    h.machine.range(bytes("a"), ALL, { revision }).kvs.map((kv) =>
      `${text(kv.key)}=${text(kv.value)}@${kv.version}`
    );
  assert.deepEqual(at(1), ["k=1@1"]);
  assert.deepEqual(at(2), ["k=2@2"]);
  assert.deepEqual(at(3), []);
  assert.deepEqual(at(4), ["k=4@1"]);
  assert.deepEqual(at(5), ["j=j@1", "k=4@1"]);
  assert.throws(
    () => h.machine.range(bytes("k"), undefined, { revision: 6 }),
    (e) =>
      e instanceof KvError && e.code === "future_revision" && /future revision/.test(e.message),
  );
  const compact = await h.do({ type: "compact", revision: 3 });
  assert.equal(body(compact, "compact").type, "compact");
  assert.equal(compact.revision, 5, "compaction does not bump the revision");
  assert.throws(
    () => h.machine.range(bytes("k"), undefined, { revision: 2 }),
    (e) => e instanceof KvError && e.code === "compacted" && e.compact_revision === 3,
  );
  assert.deepEqual(at(3), []);
  assert.deepEqual(at(4), ["k=4@1"]);
  const again = await h.do({ type: "compact", revision: 3 });
  assert.equal(body(again, "error").code, "compacted");
  const future = await h.do({ type: "compact", revision: 99 });
  assert.equal(body(future, "error").code, "future_revision");
  await h.close();
});

Deno.test("compaction keeps each key's newest version at or below the revision", async () => {
  const h = await Harness.create({ purge_batch_ops: 3 });
  for (let i = 1; i <= 6; i++) {
    await h.do({ type: "put", key: bytes("a"), value: bytes(`a${i}`) }); // 1..6
  }
  await h.do({ type: "put", key: bytes("b"), value: bytes("b") }); // 7
  await h.do({ type: "delete_range", key: bytes("b") }); // 8
  await h.do({ type: "put", key: bytes("a"), value: bytes("a9") }); // 9
  await h.do({ type: "compact", revision: 8 });
  const history = [...h.storage.scan({ prefix: bytes("h") })];
  assert.equal(history.length, 2, "a@6 and a@9 remain; b's versions and tombstone are gone");
  const events = [...h.storage.scan({ prefix: bytes("e") })];
  assert.equal(events.length, 2, "events of revisions 8 and 9 remain");
  assert.deepEqual(
    h.machine.range(bytes("a"), undefined, { revision: 8 }).kvs.map((kv) => text(kv.value)),
    ["a6"],
  );
  assert.equal(h.machine.range(bytes("b"), undefined, { revision: 8 }).count, 0);
  await h.close();
});

Deno.test("txn: compares on value, version, create, mod revision and lease", async () => {
  const h = await Harness.create();
  await h.do({ type: "put", key: bytes("x"), value: bytes("5") }); // 1
  await h.do({ type: "put", key: bytes("x"), value: bytes("6") }); // 2
  const txn = (compare: TxnRequest["compare"]): TxnRequest => ({
    type: "txn",
    compare,
    success: [{ type: "range", key: bytes("x") }],
    failure: [],
  });
  const cases: [TxnRequest["compare"][number], boolean][] = [
    [{ key: bytes("x"), target: "value", operator: "=", operand: bytes("6") }, true],
    [{ key: bytes("x"), target: "value", operator: "<", operand: bytes("7") }, true],
    [{ key: bytes("x"), target: "value", operator: ">", operand: bytes("6") }, false],
    [{ key: bytes("x"), target: "version", operator: "=", operand: 2 }, true],
    [{ key: bytes("x"), target: "create_revision", operator: "=", operand: 1 }, true],
    [{ key: bytes("x"), target: "mod_revision", operator: ">", operand: 1 }, true],
    [{ key: bytes("x"), target: "lease", operator: "!=", operand: 0 }, false],
    [{ key: bytes("nope"), target: "version", operator: "=", operand: 0 }, true],
    [{ key: bytes("nope"), target: "value", operator: "!=", operand: bytes("a") }, false],
    [
      { key: bytes("a"), range_end: bytes("z"), target: "version", operator: ">", operand: 1 },
      true,
    ],
  ];
  for (const [compare, expected] of cases) {
    const response = await h.do(txn([compare]));
    const result = body(response, "txn");
    assert.equal(result.succeeded, expected, JSON.stringify(compare));
    assert.equal(result.responses.length, expected ? 1 : 0);
    assert.equal(response.revision, 2, "a read-only txn does not bump the revision");
  }
  await h.close();
});

Deno.test("txn: one revision with sub-revisions, reads see earlier writes, nested txn", async () => {
  const h = await Harness.create();
  await h.do({ type: "put", key: bytes("a"), value: bytes("0") }); // 1
  const response = await h.do({
    type: "txn",
    compare: [{ key: bytes("a"), target: "version", operator: "=", operand: 1 }],
    success: [
      { type: "put", key: bytes("b"), value: bytes("1") },
      { type: "delete_range", key: bytes("a") },
      { type: "range", key: bytes("a"), range_end: ALL },
      {
        type: "txn",
        compare: [{ key: bytes("b"), target: "value", operator: "=", operand: bytes("1") }],
        success: [{ type: "put", key: bytes("c"), value: bytes("2") }],
        failure: [],
      },
    ],
    failure: [{ type: "put", key: bytes("f"), value: bytes("f") }],
  });
  assert.equal(response.revision, 2);
  const result = body(response, "txn");
  assert.equal(result.succeeded, true);
  const range = result.responses[2];
  assert.equal(range.type, "range");
  assert.deepEqual(range.kvs.map((kv) => text(kv.key)), ["b"], "sees the put and the delete");
  assert.equal(range.kvs[0].mod_revision, 2);
  const nested = result.responses[3];
  assert.ok(nested.type === "txn" && nested.succeeded);
  const events = h.machine.readEvents({ revision: 2, sub_revision: 0 }, 10);
  assert.deepEqual(
    events.map((e) =>
      `${e.revision}.${e.event.sub_revision} ${e.event.type} ${text(e.event.kv.key)}`
    ),
    ["2.0 put b", "2.1 delete a", "2.2 put c"],
  );
  const duplicate = await h.do({
    type: "txn",
    compare: [],
    success: [
      { type: "put", key: bytes("d"), value: bytes("1") },
      { type: "put", key: bytes("d"), value: bytes("2") },
    ],
    failure: [],
  });
  assert.equal(body(duplicate, "error").code, "duplicate_key");
  assert.equal(h.machine.range(bytes("d")).count, 0, "nothing of a refused txn is applied");
  assert.equal(duplicate.revision, 2);
  await h.close();
});

Deno.test("put with ignore_value and ignore_lease keeps what is there", async () => {
  const h = await Harness.create();
  const missing = await h.do({
    type: "put",
    key: bytes("k"),
    value: new Uint8Array(0),
    ignore_value: true,
  });
  assert.equal(body(missing, "error").code, "key_not_found");
  const grant = body(await h.do({ type: "lease_grant", id: 7, ttl_s: 10 }), "lease_grant");
  await h.do({ type: "put", key: bytes("k"), value: bytes("v"), lease: grant.id });
  await h.do({ type: "put", key: bytes("k"), value: bytes("w"), ignore_lease: true });
  await h.do({ type: "put", key: bytes("k"), value: new Uint8Array(0), ignore_value: true });
  const [kv] = h.machine.range(bytes("k")).kvs;
  // As etcd: ignore_value alone keeps the value but the lease becomes the request's (0).
  assert.deepEqual([text(kv.value), kv.lease, kv.version], ["w", 0, 3]);
  await h.do({ type: "put", key: bytes("k"), value: bytes("x"), lease: grant.id });
  await h.do({
    type: "put",
    key: bytes("k"),
    value: new Uint8Array(0),
    ignore_value: true,
    ignore_lease: true,
  });
  const [both] = h.machine.range(bytes("k")).kvs;
  assert.deepEqual([text(both.value), both.lease, both.version], ["x", 7, 5]);
  await h.close();
});

Deno.test("leases: grant, attach, revoke deletes keys in one revision, expiry helpers", async () => {
  const h = await Harness.create();
  const chosen = body(await h.do({ type: "lease_grant", id: 0, ttl_s: 5 }), "lease_grant");
  assert.equal(chosen.id, 1, "id 0 takes the entry's index");
  const explicit = body(await h.do({ type: "lease_grant", id: 100, ttl_s: 60 }), "lease_grant");
  assert.equal(explicit.id, 100);
  const exists = await h.do({ type: "lease_grant", id: 100, ttl_s: 60 });
  assert.equal(body(exists, "error").code, "lease_exists");
  const orphan = await h.do({ type: "put", key: bytes("o"), value: bytes("o"), lease: 55 });
  assert.equal(body(orphan, "error").code, "lease_not_found");
  assert.equal(h.machine.revision, 0, "lease grants do not bump the revision");
  await h.do({ type: "put", key: bytes("s/1"), value: bytes("1"), lease: chosen.id });
  await h.do({ type: "put", key: bytes("s/2"), value: bytes("2"), lease: chosen.id });
  await h.do({ type: "put", key: bytes("s/3"), value: bytes("3"), lease: 100 });
  // Moving s/3 to lease 1 detaches it from lease 100.
  await h.do({ type: "put", key: bytes("s/3"), value: bytes("3"), lease: chosen.id });
  await h.do({ type: "put", key: bytes("s/3"), value: bytes("3b"), lease: 100 });
  assert.equal(h.machine.leaseTimeToLive(chosen.id, 0).keys.length, 2);
  assert.deepEqual(h.machine.expiredLeases(1_000), [], "deadlines start at the first check");
  assert.deepEqual(h.machine.expiredLeases(6_000), [chosen.id]);
  assert.equal(h.machine.leaseTimeToLive(100, 6_000).remaining_s, 55);
  h.machine.keepAliveLease(chosen.id, 6_000);
  assert.deepEqual(h.machine.expiredLeases(6_000), []);
  const before = h.machine.revision;
  const revoke = await h.do({ type: "lease_revoke", id: chosen.id });
  assert.equal(revoke.revision, before + 1, "one revision for all deleted keys");
  assert.deepEqual(h.machine.range(bytes("s/"), bytes("s0")).kvs.map((kv) => text(kv.key)), [
    "s/3",
  ]);
  assert.equal(
    body(await h.do({ type: "lease_revoke", id: chosen.id }), "error").code,
    "lease_not_found",
  );
  assert.deepEqual(h.machine.leases(), [{ id: 100, ttl_s: 60 }]);
  await h.reopen();
  assert.deepEqual(h.machine.leases(), [{ id: 100, ttl_s: 60 }], "leases survive a restart");
  assert.throws(() => h.machine.keepAliveLease(chosen.id, 0), /lease 1 not found/);
  await h.close();
});

Deno.test("de-dup: a retried request gets its first response and is not applied twice", async () => {
  const h = await Harness.create({ dedup: { window_size: 4 } });
  const origin = { member_id: "n2", sequence: 1 };
  const put = { type: "put" as const, key: bytes("c"), value: bytes("1"), prev_kv: true };
  const first = await h.machine.apply(1, 1, { origin, body: put });
  await h.machine.apply(2, 1, { origin: { member_id: "n3", sequence: 1 }, body: put });
  const retry = await h.machine.apply(3, 1, encodeRequest({ origin, body: put }));
  assert.deepEqual(retry, first, "the first response, with its revision");
  assert.equal(h.machine.revision, 2);
  assert.equal(h.machine.appliedIndex, 3, "a duplicate still advances the applied index");
  for (let sequence = 2; sequence <= 6; sequence++) {
    await h.machine.apply(h.machine.appliedIndex + 1, 1, {
      origin: { member_id: "n2", sequence },
      body: put,
    });
  }
  assert.equal(h.machine.revision, 7);
  await h.reopen();
  const again = await h.machine.apply(h.machine.appliedIndex + 1, 1, {
    origin: { member_id: "n2", sequence: 6 },
    body: put,
  });
  assert.equal(again?.revision, 7, "the window survives a restart");
  assert.equal(h.machine.revision, 7);
  const old = await h.machine.apply(h.machine.appliedIndex + 1, 1, { origin, body: put });
  assert.equal(body(old, "error").code, "too_old_to_deduplicate");
  assert.equal(h.machine.revision, 7);
  await h.close();
});

Deno.test("restart: applied index, term and revision resume; old indexes are skipped", async () => {
  const h = await Harness.create();
  h.term = 3;
  for (let i = 0; i < 50; i++) {
    await h.do({ type: "put", key: bytes(`k${i % 7}`), value: bytes(`v${i}`) });
  }
  await h.reopen();
  assert.deepEqual([h.machine.appliedIndex, h.machine.appliedTerm, h.machine.revision], [
    50,
    3,
    50,
  ]);
  const skipped = await h.machine.apply(50, 3, {
    origin: { member_id: "x", sequence: 1 },
    body: { type: "put", key: bytes("z"), value: bytes("z") },
  });
  assert.equal(skipped, undefined);
  assert.equal(h.machine.range(bytes("z")).count, 0);
  assert.equal(text(h.machine.range(bytes("k0")).kvs[0].value), "v49");
  assert.equal(h.machine.range(bytes("k0")).kvs[0].version, 8);
  await h.close();
});

Deno.test("bad input: clear errors; refused entries still advance the applied index", async () => {
  const h = await Harness.create({
    limits: { max_key_bytes: 8, max_value_bytes: 16, max_txn_ops: 3 },
  });
  const origin = { member_id: "n1", sequence: 1 };
  assert.throws(
    () =>
      encodeRequest({ origin, body: { type: "put", key: new Uint8Array(0), value: bytes("v") } }),
    /put key must not be empty/,
  );
  assert.throws(
    () =>
      encodeRequest({
        origin,
        body: { type: "put", key: bytes("k"), value: new Uint8Array(2 << 20) },
      }),
    /larger than max_request_bytes|value of/,
  );
  assert.throws(
    () =>
      encodeRequest({
        origin: { member_id: "", sequence: 1 },
        body: { type: "compact", revision: 1 },
      }),
    /origin.member_id must be a non-empty string/,
  );
  const too_long = await h.do({ type: "put", key: bytes("123456789"), value: bytes("v") });
  assert.match(
    body(too_long, "error").message,
    /put key of 9 bytes is longer than the limit \(8 bytes\)/,
  );
  const big = await h.do({ type: "put", key: bytes("k"), value: new Uint8Array(17) });
  assert.match(body(big, "error").message, /value of 17 bytes/);
  const many = await h.do({
    type: "txn",
    compare: [],
    success: [1, 2, 3, 4].map((i) => ({
      type: "put" as const,
      key: bytes(`k${i}`),
      value: bytes("v"),
    })),
    failure: [],
  });
  assert.match(body(many, "error").message, /more than 3 compares and operations/);
  const garbage = await h.machine.apply(h.machine.appliedIndex + 1, 1, Uint8Array.of(9, 9, 9));
  assert.equal(body(garbage, "error").code, "invalid_argument");
  assert.equal(h.machine.appliedIndex, 4);
  assert.equal(h.machine.revision, 0);
  assert.throws(() => h.machine.range(new Uint8Array(0)), /range key must not be empty/);
  await assert.rejects(
    h.machine.apply(0, 1, Uint8Array.of(1)),
    /index must be >= 1/,
  );
  await assert.rejects(
    KvStateMachine.open(h.storage, { limits: { max_txn_ops: 0 } }),
    /option max_txn_ops must be an integer from 1 to 65536, got 0/,
  );
  await assert.rejects(
    KvStateMachine.open(h.storage, { dedup: { window_size: 1.5 } }),
    /option window_size must be an integer/,
  );
  await h.close();
});

Deno.test("checkpoint: another state machine adopts it exactly, leases and history too", async () => {
  const source = await Harness.create();
  await source.do({ type: "lease_grant", id: 9, ttl_s: 30 });
  for (let i = 0; i < 120; i++) {
    await source.do({
      type: "put",
      key: bytes(`key${i % 40}`),
      value: bytes(`value-${i}`),
      lease: i % 3 === 0 ? 9 : 0,
    });
  }
  await source.do({ type: "compact", revision: 60 });
  const checkpoint = await source.machine.checkpoint("/checkpoint");
  assert.equal(checkpoint.applied_index, source.machine.appliedIndex);
  assert.equal(checkpoint.revision, source.machine.revision);
  assert.ok(checkpoint.info.files.length > 1, `files: ${checkpoint.info.files.length}`);
  const dump = (h: Harness) =>
    [...h.machine.storage.scan()].map((e) => `${text(e.key)}=${text(e.value)}`);
  const at_checkpoint = dump(source);
  // Applies after the checkpoint are not in it.
  await source.do({ type: "put", key: bytes("later"), value: bytes("x") });
  const target = await Harness.create();
  await target.do({ type: "put", key: bytes("stale"), value: bytes("gone") });
  let restored = 0;
  target.machine.addListener({ applied() {}, restored: () => restored++ });
  const applied = await target.machine.replaceStorage(async (current) => {
    await current.close();
    return await Storage.open("/checkpoint", storageOptions(source.fs));
  });
  target.storage = target.machine.storage;
  assert.equal(applied, checkpoint.applied_index);
  assert.equal(restored, 1, "listeners hear of the new state");
  assert.deepEqual(dump(target), at_checkpoint, "exactly the state at the checkpoint");
  assert.deepEqual(
    [target.machine.appliedIndex, target.machine.revision, target.machine.compactRevision],
    [checkpoint.applied_index, checkpoint.revision, 60],
  );
  assert.deepEqual(target.machine.leases(), [{ id: 9, ttl_s: 30 }]);
  assert.deepEqual(
    target.machine.range(bytes("key1"), undefined, { revision: 70 }).kvs,
    source.machine.range(bytes("key1"), undefined, { revision: 70 }).kvs,
  );
  assert.equal(target.machine.range(bytes("later")).kvs.length, 0);
  await source.close();
  await target.close();
});

Deno.test("checkpoint: a failed swap leaves the machine refusing use", async () => {
  const h = await Harness.create();
  await h.do({ type: "put", key: bytes("k"), value: bytes("v") });
  await assert.rejects(
    h.machine.replaceStorage(() => Promise.reject(new Error("disk gone"))),
    /disk gone/,
  );
  await assert.rejects(h.machine.checkpoint("/x"), /install failed part-way/);
  await h.close();
});

Deno.test("de-dup windows: too many origins forget the least recent; big responses are not kept", async () => {
  const h = await Harness.create({ dedup: { max_origins: 2, max_response_bytes: 40 } });
  const put = (value: string) => ({
    type: "put" as const,
    key: bytes("k"),
    value: bytes(value),
    prev_kv: true,
  });
  const apply = (member_id: string, sequence: number, value: string) =>
    h.machine.apply(h.machine.appliedIndex + 1, 1, {
      origin: { member_id, sequence },
      body: put(value),
    });
  await apply("a", 1, "1");
  await apply("b", 1, "2");
  await apply("c", 1, "3"); // forgets "a", the least recently applied origin
  assert.equal(body(await apply("b", 1, "2"), "put").prev_kv?.version, 1, "b is still known");
  assert.equal(h.machine.revision, 3);
  await apply("a", 1, "1");
  assert.equal(h.machine.revision, 4, "a was forgotten, so its retry applies again");
  await apply("c", 2, "x".repeat(64)); // its response (prev_kv) is small
  const big = await apply("c", 3, "y"); // prev_kv holds 64 bytes: too large to keep
  assert.equal(big?.revision, 6);
  const retry = await apply("c", 3, "y");
  assert.equal(body(retry, "error").code, "too_old_to_deduplicate");
  assert.match(
    body(retry, "error").message,
    /applied at index \d+, but its response was too large to keep/,
  );
  assert.equal(h.machine.revision, 6);
  await h.close();
});

Deno.test("reads never see an entry that is still being applied", async () => {
  const h = await Harness.create();
  await h.do({ type: "put", key: bytes("k"), value: bytes("old") });
  const in_flight = h.do({ type: "put", key: bytes("k"), value: bytes("new") });
  let polls = 0;
  while (h.machine.readEvents({ revision: 2, sub_revision: 0 }, 1).length === 0) {
    assert.ok(++polls < 1000, "revision 2 never reached storage");
    await Promise.resolve();
  }
  const during = h.machine.range(bytes("k"));
  assert.deepEqual([text(during.kvs[0].value), during.revision], ["old", 1]);
  await in_flight;
  const after = h.machine.range(bytes("k"));
  assert.deepEqual([text(after.kvs[0].value), after.revision], ["new", 2]);
  await h.close();
});
