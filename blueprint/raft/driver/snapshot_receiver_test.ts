import assert from "node:assert/strict";
import { type Message, MessageType } from "../core/mod.ts";
import { encodeDescriptor, newCheckpointId, type SnapshotDescriptor } from "../snapshot/mod.ts";
import { SnapshotReceiver, type SnapshotReceiverIo } from "./snapshot_receiver.ts";

function snapshotMessage(index: number, data: Uint8Array): Message {
  return {
    type: MessageType.Snap,
    from: "n1",
    to: "n2",
    term: 2,
    log_term: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    reject_hint: 0,
    snapshot: { meta: { index, term: 2, conf_state: { voters: ["n1"], learners: [] } }, data },
  };
}

function descriptorAt(index: number): SnapshotDescriptor {
  return {
    checkpoint_id: newCheckpointId(index),
    applied_index: index,
    applied_term: 2,
    files: [{ name: "MANIFEST", size_bytes: 3, crc32c: 1 }],
    size_bytes: 3,
  };
}

function harness() {
  const staged = new Set<string>();
  const fetches: { from: string; id: string; finish(error?: Error): void }[] = [];
  const redelivered: Uint8Array[] = [];
  const reports: { to: string; ok: boolean; reason: string }[] = [];
  const io: SnapshotReceiverIo = {
    committedIndex: () => 10,
    isStaged: (id) => staged.has(id),
    fetch: (from, descriptor) =>
      new Promise((resolve, reject) =>
        fetches.push({
          from,
          id: descriptor.checkpoint_id,
          finish: (error) => {
            if (error) return reject(error);
            staged.add(descriptor.checkpoint_id);
            resolve();
          },
        })
      ),
    redeliver: (payload) => redelivered.push(payload),
    report: (to, _descriptor, ok, reason) => reports.push({ to, ok, reason }),
    log: () => {},
  };
  return { receiver: new SnapshotReceiver(io), staged, fetches, redelivered, reports };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("snapshot receiver: a checkpoint snapshot reaches Raft only once its files are staged", async (t) => {
  await t.step("inline data and snapshots Raft already covers pass at once", () => {
    const { receiver, fetches } = harness();
    assert.equal(receiver.admit(snapshotMessage(50, Uint8Array.of(1, 2)), Uint8Array.of()), true);
    const old = encodeDescriptor(descriptorAt(8));
    assert.equal(receiver.admit(snapshotMessage(8, old), Uint8Array.of()), true);
    assert.equal(fetches.length, 0);
  });

  await t.step("held while fetching, duplicates dropped, re-delivered when staged", async () => {
    const { receiver, fetches, redelivered } = harness();
    const data = encodeDescriptor(descriptorAt(50));
    const payload = Uint8Array.of(9, 9);
    assert.equal(receiver.admit(snapshotMessage(50, data), payload), false);
    assert.equal(receiver.admit(snapshotMessage(50, data), payload), false, "a resend waits");
    const other = encodeDescriptor(descriptorAt(60));
    assert.equal(receiver.admit(snapshotMessage(60, other), payload), false, "one at a time");
    assert.equal(fetches.length, 1);
    fetches[0].finish();
    await flush();
    assert.deepEqual(redelivered, [payload]);
    assert.equal(receiver.admit(snapshotMessage(50, data), payload), true, "staged: pass");
    assert.equal(receiver.fetched, 1);
  });

  await t.step(
    "a failed fetch is reported to the sender and a later resend tries again",
    async () => {
      const { receiver, fetches, reports, redelivered } = harness();
      const data = encodeDescriptor(descriptorAt(50));
      receiver.admit(snapshotMessage(50, data), Uint8Array.of());
      fetches[0].finish(new Error("3 attempts in a row failed"));
      await flush();
      assert.deepEqual(reports, [{ to: "n1", ok: false, reason: "3 attempts in a row failed" }]);
      assert.equal(redelivered.length, 0);
      assert.equal(receiver.admit(snapshotMessage(50, data), Uint8Array.of()), false);
      assert.equal(fetches.length, 2, "the resend starts a new fetch");
    },
  );

  await t.step("a damaged or inconsistent descriptor is dropped", () => {
    const { receiver, fetches } = harness();
    const data = encodeDescriptor(descriptorAt(50));
    const damaged = data.slice();
    damaged[data.length - 2] ^= 1;
    assert.equal(receiver.admit(snapshotMessage(50, damaged), Uint8Array.of()), false);
    assert.equal(receiver.admit(snapshotMessage(51, data), Uint8Array.of()), false);
    assert.equal(fetches.length, 0);
  });
});
