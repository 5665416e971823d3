import assert from "node:assert/strict";
import { HealthState, RunningState } from "../../shared/proto/draft/mod.ts";
import { HEALTH_STATES, RUNNING_STATES } from "./types.ts";
import {
  addressOfUrl,
  clusterFromWire,
  healthFromWire,
  healthToWire,
  labelsFromWire,
  labelsToWire,
  lengthDelimitedField,
  recordFromWire,
  runningStateFromWire,
  runningStateToWire,
  uint64Field,
} from "./wire_mapping.ts";

Deno.test("wire mapping: states round-trip; UNKNOWN health reads as lost", () => {
  for (const state of RUNNING_STATES) {
    assert.equal(runningStateFromWire(runningStateToWire(state)), state);
  }
  for (const health of HEALTH_STATES) assert.equal(healthFromWire(healthToWire(health)), health);
  assert.equal(runningStateToWire("draining"), RunningState.DRAINING);
  assert.equal(healthFromWire(HealthState.UNKNOWN), "lost");
  assert.equal(healthFromWire(0), "unspecified");
  assert.equal(runningStateFromWire(99), "unspecified");
});

Deno.test("wire mapping: labels sorted by key; URLs become host:port", () => {
  assert.deepEqual(labelsToWire({ b: "2", a: "1" }), [{ key: "a", value: "1" }, {
    key: "b",
    value: "2",
  }]);
  assert.deepEqual(labelsFromWire([{ key: "a", value: "1" }]), { a: "1" });
  assert.equal(addressOfUrl("http://127.0.0.1:2221/"), "127.0.0.1:2221");
  assert.equal(addressOfUrl("127.0.0.1:2221"), "127.0.0.1:2221");
});

Deno.test("wire mapping: cluster details and records with defaults for absent fields", () => {
  const cluster = clusterFromWire({
    members: [{ id: "a1", client_urls: ["http://h:1", ""], is_leader: true }],
    leader_id: "a1",
    leader_address: "http://h:1",
  });
  assert.deepEqual(cluster.members, [{
    id: "a1",
    name: "",
    client_addresses: ["h:1"],
    is_leader: true,
    is_learner: false,
  }]);
  assert.equal(cluster.leader_address, "h:1");
  assert.equal(clusterFromWire(undefined).revision, 0n);
  const record = recordFromWire({
    process_id: "p",
    health_state: HealthState.UNKNOWN,
    lost_at_ms: 5n,
    metadata: [{ key: "zone", value: "a" }],
  });
  assert.equal(record.health, "lost");
  assert.equal(record.lost_at_ms, 5);
  assert.equal(record.running_state, "unspecified");
  assert.deepEqual(record.metadata, { zone: "a" });
});

Deno.test("wire mapping: a length-delimited field is found among the others, or refused", () => {
  // field 1 varint 300, field 2 "hi", field 3 fixed64, field 4 fixed32, field 6 bytes [7]
  const message = Uint8Array.from([
    0x08,
    0xac,
    0x02,
    0x12,
    0x02,
    0x68,
    0x69,
    0x19,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    0x25,
    1,
    2,
    3,
    4,
    0x32,
    0x01,
    0x07,
  ]);
  assert.deepEqual(lengthDelimitedField(message, 2), Uint8Array.from([0x68, 0x69]));
  assert.deepEqual(lengthDelimitedField(message, 6), Uint8Array.from([7]));
  assert.equal(lengthDelimitedField(message, 5), undefined);
  assert.equal(lengthDelimitedField(message.subarray(0, 6), 2), undefined, "cut inside the field");
  const twice = Uint8Array.from([0x12, 0x01, 0x61, 0x12, 0x01, 0x62]);
  assert.equal(lengthDelimitedField(twice, 2), undefined, "a repeated field would be merged");
  assert.equal(lengthDelimitedField(Uint8Array.from([0x0b]), 2), undefined, "group wire type");
});

Deno.test("wire mapping: a uint64 field is its tag and a varint", () => {
  assert.deepEqual(uint64Field(7, 1n), Uint8Array.from([0x38, 0x01]));
  assert.deepEqual(uint64Field(7, 300n), Uint8Array.from([0x38, 0xac, 0x02]));
  assert.deepEqual(uint64Field(1, (1n << 64n) - 1n).length, 11);
  assert.throws(() => uint64Field(1, 1n << 64n), RangeError);
});
