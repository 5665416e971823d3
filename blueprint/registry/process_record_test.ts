import assert from "node:assert/strict";
import { HealthState, RunningState } from "../../shared/proto/draft/mod.ts";
import { RpcError } from "../../shared/rpc/mod.ts";
import {
  applyBeat,
  checkAddress,
  checkLabels,
  checkStates,
  checkTtl,
  DEFAULT_TTL_MS,
  matchesQuery,
  type StoredProcess,
} from "./process_record.ts";

const record: StoredProcess = {
  process_id: "p1",
  name: "web",
  running_state: RunningState.RUNNING,
  health_state: HealthState.HEALTHY,
  advertise_address: "127.0.0.1:80",
  metadata: [{ key: "zone", value: "a" }],
  ttl_ms: 5000,
  lease_id: 9,
  registered_at_ms: 1,
  updated_at_ms: 1,
  lost_at_ms: 0,
};
const same = {
  running_state: RunningState.RUNNING,
  health_state: HealthState.HEALTHY,
  advertise_address: "127.0.0.1:80",
};

Deno.test("applyBeat: only a real change needs a write; a lost record is revived", () => {
  assert.equal(applyBeat(record, same, 5), null);
  assert.equal(applyBeat(record, { ...same, metadata: [{ key: "zone", value: "a" }] }, 5), null);
  const degraded = applyBeat(record, { ...same, health_state: HealthState.DEGRADED }, 5);
  assert.equal(degraded?.health_state, HealthState.DEGRADED);
  assert.equal(degraded?.updated_at_ms, 5);
  assert.deepEqual(applyBeat(record, { ...same, metadata: [] }, 5)?.metadata, []);
  const lost = { ...record, health_state: HealthState.UNKNOWN, lost_at_ms: 3 };
  const revived = applyBeat(lost, same, 5);
  assert.equal(revived?.health_state, HealthState.HEALTHY);
  assert.equal(revived?.lost_at_ms, 0);
});

Deno.test("checks refuse bad input naming what is allowed", () => {
  assert.deepEqual(checkLabels([{ key: "b", value: "2" }, { key: "a" }]), [
    { key: "a", value: "" },
    { key: "b", value: "2" },
  ]);
  assert.throws(() => checkLabels([{ key: "a" }, { key: "a" }]), /appears twice/);
  assert.throws(() => checkLabels([{ key: "" }]), /1 to 128/);
  assert.throws(() => checkLabels(Array.from({ length: 65 }, (_, i) => ({ key: `${i}` }))), /64/);
  assert.equal(checkTtl(0), DEFAULT_TTL_MS);
  assert.throws(() => checkTtl(10), /1000\.\.300000/);
  assert.throws(() => checkAddress("no port"), /host:port/);
  assert.equal(checkAddress("[::1]:80"), "[::1]:80");
  assert.throws(() => checkStates(RunningState.UNSPECIFIED, HealthState.HEALTHY), RpcError);
  assert.throws(() => checkStates(RunningState.RUNNING, HealthState.UNKNOWN), /health_state is 4/);
});

Deno.test("matchesQuery: every filter must hold", () => {
  assert.ok(matchesQuery(record, {}));
  assert.ok(matchesQuery(record, { name: "web", labels: [{ key: "zone", value: "a" }] }));
  assert.ok(!matchesQuery(record, { name: "api" }));
  assert.ok(!matchesQuery(record, { running_states: [RunningState.DRAINING] }));
  assert.ok(matchesQuery(record, { health_states: [HealthState.DEGRADED, HealthState.HEALTHY] }));
  assert.ok(!matchesQuery(record, { labels: [{ key: "zone", value: "b" }] }));
});
