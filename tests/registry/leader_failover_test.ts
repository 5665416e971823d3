/**
 * Leader failover while 200 processes synchronize with a real 3-member cluster: the leader is
 * killed, and afterwards every process is still registered exactly once, never shown lost,
 * and all of them leave cleanly.
 */
import assert from "node:assert/strict";
import { LocalCluster } from "../../blueprint/client/mod.ts";
import {
  DraftProcess,
  type RegistryChange,
  RegistryClient,
  RegistryTransport,
} from "../../blueprint/process/mod.ts";
import { eventually, SKIP_REASON } from "../cluster/mod.ts";

const NONCE = "leader-failover-join-token";
const PROCESSES = 200;
const TTL_MS = 5_000;
/** Initialize calls in flight at once while the processes join. */
const JOIN_CONCURRENCY = 20;

/** Runs `task` for each item, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

Deno.test({
  name: `registry: leader failover while ${PROCESSES} processes synchronize`,
  ignore: SKIP_REASON !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const data_dir = await Deno.makeTempDir({ prefix: "draft-registry-failover-" });
    const cluster = await LocalCluster.start({ data_dir, extra_args: ["--join-token", NONCE] });
    const registry = await RegistryClient.connect(cluster.endpoints);
    // One connection per member shared by every process, as a host of many processes would.
    const transport = await RegistryTransport.create();
    const processes: DraftProcess[] = [];
    let failed = true;
    try {
      const leader = await cluster.waitForLeader(20_000);
      const changes: RegistryChange[] = [];
      const watch = registry.watch(0n, (batch) => changes.push(...batch));
      const indexes = Array.from({ length: PROCESSES }, (_, i) => i);
      await eachLimited(indexes, JOIN_CONCURRENCY, async (i) => {
        const me = await DraftProcess.join({
          // Spread the processes over the members: a third start on the leader.
          entrypoints: [...cluster.endpoints.slice(i % 3), ...cluster.endpoints.slice(0, i % 3)],
          name: "fleet",
          nonce: NONCE,
          metadata: { index: String(i) },
          ttl_ms: TTL_MS,
          poll_interval_ms: 1_000,
          transport,
        });
        processes.push(me);
        me.setRunningState("running");
      });
      const ids = new Set(processes.map((p) => p.identity.process_id));
      assert.equal(ids.size, PROCESSES, "every process got its own identity");
      await eventually("every process registered and running", async () => {
        const { records } = await registry.query({ name: "fleet", running_states: ["running"] });
        return records.length === PROCESSES;
      }, 60_000);
      const on_leader = processes.filter((p) => p.endpoint === leader.endpoint).length;
      assert.ok(on_leader > 0, "some processes synchronize with the leader");

      await cluster.kill(leader.name);
      await cluster.waitForLeader(20_000, leader.name);
      await eventually(
        "every process synchronized with a live member",
        () =>
          processes.every((p) => p.connection === "synchronized" && p.endpoint !== leader.endpoint),
        30_000,
      );
      // Past the TTL again: a process whose liveness lapsed would show lost by now.
      await new Promise((resolve) => setTimeout(resolve, TTL_MS + 1_000));
      const { records } = await registry.query({ name: "fleet" });
      assert.equal(records.length, PROCESSES, "no process lost its record or got a second one");
      assert.deepEqual(new Set(records.map((r) => r.process_id)), ids);
      const lost = records.filter((r) => r.health !== "healthy");
      assert.deepEqual(lost.map((r) => [r.process_id, r.health]), [], "none lost");
      const lost_events = changes.filter((c) => c.record?.health === "lost");
      assert.deepEqual(lost_events.map((c) => c.process_id), [], "watchers never saw one lost");

      await eachLimited(processes, JOIN_CONCURRENCY, (p) => p.leave());
      await eventually(
        "every process finalized",
        async () => (await registry.query({ name: "fleet" })).records.length === 0,
        60_000,
      );
      watch.close();
      failed = false;
    } finally {
      await Promise.allSettled(processes.map((p) => p.leave()));
      transport.close();
      registry.close();
      await cluster.stop();
      if (failed) {
        for (const member of cluster.members) {
          console.error(`--- ${member.name}:\n${await cluster.logTail(member.name, 30)}`);
        }
        console.error(`cluster data kept in ${data_dir}`);
      } else {
        await Deno.remove(data_dir, { recursive: true });
      }
    }
  },
});
