import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { failoverCandidates, reconnectDelayMs } from "./failover_plan.ts";
import { NO_CLUSTER_DETAILS } from "./types.ts";

const member = (id: string, ...client_addresses: string[]) => ({
  id,
  name: id,
  client_addresses,
  is_leader: false,
  is_learner: false,
});

Deno.test("failover candidates: ack members first, then entrypoints, the failed one last", () => {
  const cluster = {
    ...NO_CLUSTER_DETAILS,
    members: [member("a", "h:1"), member("b", "h:2"), member("c", "h:3")],
  };
  assert.deepEqual(failoverCandidates(cluster, ["h:1", "h:9"], "h:2"), [
    "h:1",
    "h:3",
    "h:9",
    "h:2",
  ]);
  assert.deepEqual(failoverCandidates(undefined, ["h:1", "h:9"], ""), ["h:1", "h:9"]);
});

Deno.test("failover candidates: every known address once, the failed one last (property)", () => {
  const seed = Date.now() % 1_000_000;
  const address = fc.integer({ min: 1, max: 12 }).map((port) => `h:${port}`);
  try {
    fc.assert(
      fc.property(
        fc.array(fc.array(address, { maxLength: 3 }), { maxLength: 8 }),
        fc.array(address, { minLength: 1, maxLength: 4 }),
        fc.option(address, { nil: "" }),
        (members, entrypoints, failed) => {
          const cluster = {
            ...NO_CLUSTER_DETAILS,
            members: members.map((addresses, i) => member(`m${i}`, ...addresses)),
          };
          const candidates = failoverCandidates(cluster, entrypoints, failed);
          const known = new Set([...members.flat(), ...entrypoints]);
          if (failed !== "") known.add(failed);
          assert.equal(new Set(candidates).size, candidates.length, "no duplicates");
          assert.deepEqual(new Set(candidates), known, "every known address");
          if (failed !== "") assert.equal(candidates.at(-1), failed);
        },
      ),
      { seed, numRuns: 300 },
    );
  } catch (error) {
    console.error(`failover property failed with seed ${seed}`);
    throw error;
  }
});

Deno.test("reconnect delay: none for the first retry, then capped doubling with jitter", () => {
  assert.equal(reconnectDelayMs(1, 100, 2000, 0.99), 0);
  assert.equal(reconnectDelayMs(2, 100, 2000, 0), 50);
  assert.equal(reconnectDelayMs(2, 100, 2000, 0.999), 100);
  assert.equal(reconnectDelayMs(4, 100, 2000, 0.5), 300);
  assert.equal(reconnectDelayMs(40, 100, 2000, 0.999), 1999);
  assert.ok(reconnectDelayMs(40, 100, 2000, 0) >= 1000, "the cap keeps its lower half");
});
