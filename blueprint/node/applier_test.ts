import assert from "node:assert/strict";
import { FaultyFileSystem } from "../../shared/fs/mod.ts";
import { Storage } from "../storage/mod.ts";
import { encodeRequest, KvStateMachine } from "../kv/mod.ts";
import {
  type CommittedItem,
  decodeDescriptor,
  encodeDescriptor,
  EntryType,
  markerPath,
  newCheckpointId,
} from "../raft/mod.ts";
import { Applier, type ApplierHooks, originKeyOfEncoded } from "./applier.ts";
import { encodeNodeCommand } from "./node_entry.ts";
import { openCurrentStore, RECEIVED_DIR, switchStore } from "./store_directory.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

async function openApplier(fs = new FaultyFileSystem(), hooks: ApplierHooks = {}) {
  const storage = await Storage.open("/kv", { fs, background: "inline" });
  const machine = await KvStateMachine.open(storage);
  return { storage, machine, applier: new Applier(machine, hooks) };
}

function entry(index: number, data: Uint8Array, type = EntryType.Normal): CommittedItem {
  return { kind: "entry", entry: { index, term: 1, type, data } };
}

function put(member_id: string, sequence: number, key: string, value: string): Uint8Array {
  return encodeRequest({
    origin: { member_id, sequence },
    body: { type: "put", key: bytes(key), value: bytes(value) },
  });
}

Deno.test("applier: applies entries in order and settles waiters by origin", async () => {
  const { storage, machine, applier } = await openApplier();
  try {
    const waiting = applier.waitFor({ member_id: "n1/a", sequence: 1 });
    const other = applier.waitFor({ member_id: "n2/b", sequence: 1 });
    const read = applier.waitApplied(3);
    let read_done = false;
    read.then(() => (read_done = true));
    await applier.apply(entry(1, new Uint8Array(0))); // the leader's no-op
    assert.equal(applier.appliedIndex, 1);
    await applier.apply(entry(2, put("n1/a", 1, "k", "v")));
    const response = await waiting.promise;
    assert.equal(response.revision, 1);
    assert.equal(response.body.type, "put");
    assert.equal(read_done, false, "index 3 is not applied yet");
    assert.equal(applier.waitingRequests, 1, "the other origin still waits");
    await applier.apply(entry(3, put("n1/a", 1, "k", "again"))); // a retry: de-duplicated
    await read;
    assert.equal(machine.range(bytes("k")).kvs[0].version, 1, "the retry was not applied twice");
    other.cancel();
    assert.equal(applier.waitingRequests, 0);
    // A replayed entry (at or below the applied index) changes nothing.
    await applier.apply(entry(2, put("n9/z", 1, "k", "replayed")));
    assert.equal(machine.revision, 1);
  } finally {
    await storage.close();
  }
});

Deno.test("applier: applyAll applies mixed items in order and settles every waiter", async () => {
  let member_changes = 0;
  let conf_changes = 0;
  const hooks = { membersChanged: () => member_changes++, confChanged: () => conf_changes++ };
  const { storage, machine, applier } = await openApplier(new FaultyFileSystem(), hooks);
  try {
    const first = applier.waitFor({ member_id: "n1/a", sequence: 1 });
    const second = applier.waitFor({ member_id: "n1/a", sequence: 2 });
    const third = applier.waitFor({ member_id: "n2/b", sequence: 1 });
    const read = applier.waitApplied(6);
    const record = { id: "n2", raft_address: "127.0.0.1:2", client_address: "127.0.0.1:3" };
    await applier.applyAll([
      entry(1, new Uint8Array(0)), // the leader's no-op
      entry(2, put("n1/a", 1, "k", "v1")),
      entry(3, put("n1/a", 2, "k", "v2")),
      entry(4, encodeNodeCommand({ type: "member_upsert", member: record })),
      entry(5, new Uint8Array([1, 2]), EntryType.ConfChange),
      entry(6, put("n2/b", 1, "k", "v3")),
      entry(7, put("n1/a", 1, "k", "retried")), // a retry: de-duplicated
    ]);
    await read;
    assert.deepEqual(
      [
        (await first.promise).revision,
        (await second.promise).revision,
        (await third.promise).revision,
      ],
      [1, 2, 3],
    );
    assert.equal(applier.waitingRequests, 0);
    assert.equal(applier.appliedIndex, 7);
    assert.deepEqual(applier.members.get("n2"), record);
    assert.equal(member_changes, 1);
    assert.equal(conf_changes, 1);
    const [kv] = machine.range(bytes("k")).kvs;
    assert.equal(kv.version, 3, "the retry was not applied twice");
    assert.equal(new TextDecoder().decode(kv.value), "v3");
    // Replayed entries (at or below the applied index) change nothing.
    await applier.applyAll([entry(6, put("n9/z", 1, "k", "replayed"))]);
    assert.equal(machine.revision, 3);
  } finally {
    await storage.close();
  }
});

Deno.test("applier: node commands keep the member table, conf changes advance the index", async () => {
  let member_changes = 0;
  let conf_changes = 0;
  const hooks = { membersChanged: () => member_changes++, confChanged: () => conf_changes++ };
  const fs = new FaultyFileSystem();
  const first = await openApplier(fs, hooks);
  const record = { id: "n2", raft_address: "127.0.0.1:2", client_address: "127.0.0.1:3" };
  await first.applier.apply(entry(1, encodeNodeCommand({ type: "member_upsert", member: record })));
  await first.applier.apply(entry(2, new Uint8Array([1, 2]), EntryType.ConfChange));
  assert.deepEqual(first.applier.members.get("n2"), record);
  assert.equal(first.applier.appliedIndex, 2);
  assert.equal(member_changes, 1);
  assert.equal(conf_changes, 1);
  // The same record again is no change.
  await first.applier.apply(entry(3, encodeNodeCommand({ type: "member_upsert", member: record })));
  assert.equal(member_changes, 1);
  await first.storage.close();
  const reopened = await openApplier(fs);
  try {
    assert.deepEqual(reopened.applier.members.get("n2"), record, "records survive a restart");
    assert.equal(reopened.applier.appliedIndex, 3);
    await reopened.applier.apply(entry(4, encodeNodeCommand({ type: "member_remove", id: "n2" })));
    assert.equal(reopened.applier.members.get("n2"), undefined);
  } finally {
    await reopened.storage.close();
  }
});

Deno.test("applier: a snapshot swaps a received checkpoint in, with keys and members", async () => {
  const fs = new FaultyFileSystem();
  const source = await openApplier(fs);
  const store = {
    fs,
    data_dir: "/target",
    open: (dir: string) => Storage.open(dir, { fs, background: "inline" }),
  };
  const target_storage = await openCurrentStore(store);
  const target_machine = await KvStateMachine.open(target_storage);
  const target = new Applier(target_machine, {
    installSnapshot: async (snapshot) => {
      const descriptor = decodeDescriptor(snapshot.data);
      await target_machine.replaceStorage((current) => switchStore(store, current, descriptor));
    },
  });
  try {
    const record = { id: "n1", raft_address: "a:1", client_address: "a:2" };
    await source.applier.apply(
      entry(1, encodeNodeCommand({ type: "member_upsert", member: record })),
    );
    for (let i = 0; i < 50; i++) {
      await source.applier.apply(entry(i + 2, put("n1/a", i + 1, `key-${i}`, `value-${i}`)));
    }
    // What the Raft worker does on the receiving side: the files, then the marker.
    const id = newCheckpointId(51);
    const checkpoint = await source.machine.checkpoint(`/target/${RECEIVED_DIR}/${id}`);
    const data = encodeDescriptor({
      checkpoint_id: id,
      applied_index: checkpoint.applied_index,
      applied_term: checkpoint.applied_term,
      files: checkpoint.info.files,
      size_bytes: checkpoint.info.size_bytes,
    });
    const marker = fs.open(markerPath(`/target/${RECEIVED_DIR}`, id), "create");
    marker.append(data);
    marker.close();
    await target.apply(entry(1, put("stale/x", 1, "stale", "gone")));
    const read = target.waitApplied(51);
    await target.apply({
      kind: "snapshot",
      snapshot: {
        meta: { index: 51, term: 1, conf_state: { voters: ["n1"], learners: [] } },
        data,
      },
    });
    await read;
    assert.equal(target.appliedIndex, 51);
    assert.equal(target_machine.revision, 50);
    assert.deepEqual(target.members.get("n1"), record, "the member table came with the store");
    assert.equal(target_machine.range(bytes("stale")).kvs.length, 0);
    assert.equal(target_machine.range(bytes("key-"), bytes("key."), {}).count, 50);
    assert.equal(fs.exists("/target/kv/MANIFEST"), false, "the old store is gone");
  } finally {
    await source.storage.close();
    await target_machine.storage.close();
  }
});

Deno.test("applier: without an install hook a snapshot is an error", async () => {
  const { storage, applier } = await openApplier();
  try {
    const snapshot = {
      meta: { index: 5, term: 1, conf_state: { voters: ["n1"], learners: [] } },
      data: new Uint8Array(0),
    };
    await assert.rejects(applier.apply({ kind: "snapshot", snapshot }), /cannot install/);
  } finally {
    await storage.close();
  }
});

Deno.test("applier: close fails every waiter", async () => {
  const { storage, applier } = await openApplier();
  try {
    const waiting = applier.waitFor({ member_id: "n1/a", sequence: 1 });
    const read = applier.waitApplied(10);
    applier.close(new Error("stopped"));
    await assert.rejects(waiting.promise, /stopped/);
    await assert.rejects(read, /stopped/);
    await assert.rejects(applier.waitFor({ member_id: "x", sequence: 1 }).promise, /stopped/);
  } finally {
    await storage.close();
  }
});

Deno.test("applier: origin keys", () => {
  assert.equal(originKeyOfEncoded(put("n1/\u00e9", 300, "k", "v")), "n1/\u00e9#300");
});
