import assert from "node:assert/strict";
import {
  HealthState,
  loadRegistrySchema,
  REGISTRY_SERVICE,
  registryCodecs,
  RunningState,
} from "./mod.ts";

Deno.test("registry proto: loads, declares six methods, round-trips a record", async () => {
  const schema = await loadRegistrySchema();
  const service = schema.service(REGISTRY_SERVICE);
  assert.deepEqual(service.methods.map((method) => method.name), [
    "Initialize",
    "Synchronize",
    "Finalize",
    "Query",
    "Get",
    "Watch",
  ]);
  const sync = service.methods.find((method) => method.name === "Synchronize")!;
  assert.equal(sync.request_stream && sync.response_stream, true);
  const codecs = registryCodecs(schema);
  const record = {
    process_id: "p1",
    name: "web",
    running_state: RunningState.RUNNING,
    health_state: HealthState.DEGRADED,
    metadata: [{ key: "zone", value: "a" }],
    registered_at_ms: 17n,
  };
  const decoded = codecs.ProcessRecord.decode(codecs.ProcessRecord.encode(record));
  assert.equal(decoded.name, "web");
  assert.equal(decoded.health_state, HealthState.DEGRADED);
  assert.deepEqual(decoded.metadata, [{ key: "zone", value: "a" }]);
  assert.equal(decoded.registered_at_ms, 17n);
});
