import assert from "node:assert/strict";
import { ConfChangeType, EntryType, Role } from "../core/mod.ts";
import {
  CommandTag,
  decodeCommand,
  decodeEvent,
  type DriverCommand,
  type DriverEvent,
  encodeCommand,
  encodeEvent,
  EventTag,
} from "./driver_protocol.ts";

Deno.test("driver commands round-trip", () => {
  const commands: DriverCommand[] = [
    { tag: CommandTag.Configure, config_json: '{"id":"a"}' },
    { tag: CommandTag.Propose, id: 1, data: new Uint8Array(5000).fill(7) },
    {
      tag: CommandTag.ProposeConfChange,
      id: 2,
      change_type: ConfChangeType.AddLearner,
      node_id: "d",
    },
    { tag: CommandTag.ReadIndex, id: 3 },
    { tag: CommandTag.TransferLeader, to: "b" },
    { tag: CommandTag.Status, id: 4 },
    { tag: CommandTag.Stop },
    { tag: CommandTag.SetPeer, node_id: "c", hostname: "127.0.0.1", port: 7003 },
    { tag: CommandTag.Snapshot, id: 5, index: 42, data: new Uint8Array([1, 2]) },
  ];
  for (const command of commands) assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  assert.throws(() => decodeCommand(new Uint8Array([99])), /unknown driver command tag 99/);
  assert.throws(() => decodeCommand(new Uint8Array([CommandTag.Propose, 1])), /truncated/);
});

Deno.test("driver events round-trip", () => {
  const entries = Array.from({ length: 100 }, (_, i) => ({
    index: i + 1,
    term: 2,
    type: i === 5 ? EntryType.ConfChange : EntryType.Normal,
    data: new Uint8Array(300).fill(i),
  }));
  const events: DriverEvent[] = [
    { tag: EventTag.Started, hostname: "127.0.0.1", port: 1234 },
    { tag: EventTag.Failed, message: "log corrupt" },
    { tag: EventTag.Accepted, first_index: 10, term: 3, ids: [4, 5, 6] },
    { tag: EventTag.Rejected, reason: "not the leader", ids: [7] },
    {
      tag: EventTag.Applied,
      leader: { leader: "b", role: Role.Follower, term: 4 },
      reads: [{ id: 9, index: 11 }],
      entries,
    },
    {
      tag: EventTag.Applied,
      leader: { leader: null, role: Role.Candidate, term: 5 },
      reads: [],
      entries: [],
    },
    { tag: EventTag.Applied, reads: [], entries: entries.slice(0, 1) },
    {
      tag: EventTag.Applied,
      reads: [],
      snapshot: {
        meta: { index: 40, term: 3, conf_state: { voters: ["a", "b"], learners: ["c"] } },
        data: new Uint8Array([1, 2, 3]),
      },
      entries: entries.slice(40, 42),
    },
    { tag: EventTag.Reply, id: 3, ok: true, json: '{"x":1}' },
    { tag: EventTag.Stopped },
  ];
  for (const event of events) assert.deepEqual(decodeEvent(encodeEvent(event)), event);
  assert.throws(() => decodeEvent(new Uint8Array([0])), /unknown driver event tag 0/);
});
