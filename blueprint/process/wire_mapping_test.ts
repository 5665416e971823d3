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
  recordFromWire,
  runningStateFromWire,
  runningStateToWire,
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
