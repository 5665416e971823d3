import assert from "node:assert/strict";
import { HealthState, RunningState } from "../../shared/proto/draft/mod.ts";
import type { KeyValue } from "../kv/mod.ts";
import { encodeStored, PROCESS_PREFIX, type StoredProcess } from "./process_record.ts";
import { CORE_LABEL, RegistryView } from "./registry_view.ts";

const encoder = new TextEncoder();

function record(process_id: string, core?: string): StoredProcess {
  return {
    process_id,
    name: "web",
    running_state: RunningState.RUNNING,
    health_state: HealthState.HEALTHY,
    advertise_address: "127.0.0.1:80",
    metadata: core ? [{ key: CORE_LABEL, value: core }] : [],
    ttl_ms: 5000,
    lease_id: 9,
    registered_at_ms: 1,
    updated_at_ms: 1,
    lost_at_ms: 0,
  };
}

function kv(stored: StoredProcess, mod_revision: number, key?: string): KeyValue {
  return {
    key: encoder.encode(key ?? PROCESS_PREFIX + stored.process_id),
    value: encodeStored(stored),
    create_revision: 1,
    mod_revision,
    version: 1,
    lease: 0,
  };
}

Deno.test("registry view: follows puts and deletes; core services change its version", async (t) => {
  const view = new RegistryView();

  await t.step("before load it knows nothing and ignores events", () => {
    assert.equal(view.loaded, false);
    view.apply([{ type: "put", kv: kv(record("p0"), 1) }]);
    assert.equal(view.size, 0);
  });

  await t.step("load replaces everything", () => {
    view.load([kv(record("p2"), 2), kv(record("p1"), 3)]);
    assert.equal(view.loaded, true);
    assert.deepEqual(view.sortedIds(), ["p1", "p2"]);
    assert.equal(view.get("p1")?.mod_revision, 3);
    assert.deepEqual(view.core_services, []);
  });

  await t.step("a put updates, a delete removes, other keys are ignored", () => {
    const version = view.core_version;
    const changed = { ...record("p1"), running_state: RunningState.DRAINING };
    view.apply([
      { type: "put", kv: kv(changed, 5) },
      { type: "delete", kv: kv(record("p2"), 5) },
      { type: "put", kv: kv(record("x"), 5, "/other/key") },
    ]);
    assert.equal(view.get("p1")?.record.running_state, RunningState.DRAINING);
    assert.equal(view.get("p1")?.mod_revision, 5);
    assert.equal(view.get("p2"), undefined);
    assert.equal(view.get("x"), undefined);
    assert.equal(view.core_version, version, "no core service was touched");
  });

  await t.step("core services appear, change and leave with their records", () => {
    const v0 = view.core_version;
    view.apply([{ type: "put", kv: kv(record("f1", "fuse"), 6) }]);
    assert.deepEqual(view.core_services.map((s) => [s.kind, s.process_id]), [["fuse", "f1"]]);
    assert.ok(view.core_version > v0);
    const v1 = view.core_version;
    const moved = { ...record("f1", "fuse"), advertise_address: "127.0.0.1:81" };
    view.apply([{ type: "put", kv: kv(moved, 7) }]);
    assert.equal(view.core_services[0].address, "127.0.0.1:81");
    assert.ok(view.core_version > v1);
    view.apply([{ type: "delete", kv: kv(moved, 8) }]);
    assert.deepEqual(view.core_services, []);
  });
});
