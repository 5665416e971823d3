import assert from "node:assert/strict";
import {
  HealthState,
  loadRegistrySchema,
  REGISTRY_SERVICE,
  RunningState,
} from "../../shared/proto/draft/mod.ts";
import { RpcServer } from "../../shared/rpc/mod.ts";
import { DEFAULT_TTL_MS } from "../registry/mod.ts";
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_INITIALIZE_IN_FLIGHT,
  RegistryTransport,
} from "./registry_transport.ts";

Deno.test("registry transport: a join storm reaches the member a bounded number at a time", async () => {
  const server = new RpcServer();
  let in_flight = 0;
  let peak = 0;
  let served = 0;
  server.addService(await loadRegistrySchema(), REGISTRY_SERVICE, {
    Initialize: async (request: { name?: string }) => {
      peak = Math.max(peak, ++in_flight);
      // Long enough that every call would overlap without the client's bound.
      await new Promise((resolve) => setTimeout(resolve, 20));
      in_flight--;
      served++;
      return {
        process_id: `p-${request.name}`,
        token: "t",
        ttl_ms: 5000,
        cluster: { cluster_id: "c", members: [] },
        process: {
          process_id: `p-${request.name}`,
          running_state: RunningState.STARTING,
          health_state: HealthState.HEALTHY,
        },
      };
    },
  });
  const { address } = await server.listen("127.0.0.1:0");
  const transport = await RegistryTransport.create();
  try {
    const count = 3 * MAX_INITIALIZE_IN_FLIGHT;
    const joined = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        transport.initialize(address, {
          name: `w${i}`,
          nonce: "n",
          metadata: {},
          advertise_address: "",
          ttl_ms: 0,
        })),
    );
    assert.equal(served, count);
    assert.deepEqual(joined.map((j) => j.identity.process_id).slice(0, 2), ["p-w0", "p-w1"]);
    assert.ok(peak <= MAX_INITIALIZE_IN_FLIGHT, `peak ${peak} in flight`);
    assert.ok(peak > 1, "calls still overlap up to the bound");
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("registry transport: a late ping cannot drop the streams before a silent stream would", () => {
  // A dropped connection ends the streams of every process sharing the transport; each
  // stream's own ack timeout (half the TTL by default) is what notices a dead member.
  assert.ok(KEEPALIVE_TIMEOUT_MS > DEFAULT_TTL_MS / 2);
});
