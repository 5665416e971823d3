/**
 * Watch across a leader change (no gap, no duplicate) and lease expiry deleting its keys,
 * on three real members.
 */
import assert from "node:assert/strict";
import { toText } from "../../blueprint/client/mod.ts";
import { eventually, mustStep, SKIP_REASON, withCluster } from "./mod.ts";

Deno.test({
  name: "cluster: a watch survives a leader change with no gap and no duplicate; leases expire",
  ignore: SKIP_REASON !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withCluster("watch", {}, async ({ cluster, client, connect }) => {
      await mustStep(t, "watch across a leader change", async () => {
        const leader = await cluster.waitForLeader(20_000);
        // The watcher starts at the leader, so killing it breaks the watch stream itself.
        const others = cluster.endpoints.filter((endpoint) => endpoint !== leader.endpoint);
        const watcher = await connect({ endpoints: [leader.endpoint, ...others] });
        const stream = watcher.watch("w/", { prefix: true });
        await stream.ready;
        const seen: bigint[] = [];
        const values = new Map<bigint, string>();
        const consumed = (async () => {
          for await (const batch of stream) {
            for (const event of batch.events) {
              seen.push(event.kv!.mod_revision);
              values.set(event.kv!.mod_revision, toText(event.kv!.value));
            }
          }
        })();
        const acknowledged = new Map<bigint, string>();
        for (let index = 0; index < 60; index++) {
          if (index === 20) await cluster.kill(leader.name, "SIGKILL");
          const value = `v${index}`;
          try {
            const response = await client.put(`w/${index % 7}`, value);
            acknowledged.set(response.header!.revision, value);
          } catch {
            // unacknowledged: may or may not appear in the watch
          }
        }
        assert.ok(acknowledged.size >= 40, `only ${acknowledged.size} of 60 puts acknowledged`);
        const last = [...acknowledged.keys()].reduce((a, b) => (a > b ? a : b));
        await eventually(`the watch reaches revision ${last}`, () => seen.at(-1)! >= last);
        stream.close();
        await consumed;
        assert.ok(stream.reconnects >= 1, "the watch stream was re-established");
        for (let i = 1; i < seen.length; i++) {
          assert.ok(
            seen[i] > seen[i - 1],
            `revision ${seen[i]} after ${seen[i - 1]}: duplicate or out of order`,
          );
        }
        // The registry writes too (its bootstrap, its housekeeping), so revisions of other keys
        // interleave: a gap is a "w/" event the history has and the live watch missed. A second
        // watch, opened now that the cluster is stable, replays that history.
        const history = client.watch("w/", { prefix: true, start_revision: seen[0] });
        const replayed: bigint[] = [];
        for await (const batch of history) {
          for (const event of batch.events) replayed.push(event.kv!.mod_revision);
          if (replayed.at(-1)! >= seen.at(-1)!) break;
        }
        history.close();
        assert.deepEqual(seen, replayed.filter((revision) => revision <= seen.at(-1)!), "a gap");
        for (const [revision, value] of acknowledged) {
          assert.equal(values.get(revision), value, `acknowledged put at revision ${revision}`);
        }
        await cluster.restart(leader.name);
      });

      await mustStep(t, "an expired lease deletes its keys on every member", async () => {
        const lease = await client.leaseGrant(1);
        await client.put("lease/a", "1", { lease: lease.ID });
        await client.put("lease/b", "2", { lease: lease.ID });
        const kept = await client.leaseGrant(1);
        const keep_alive = client.leaseKeepAlive(kept.ID, 1);
        await client.put("lease/kept", "3", { lease: kept.ID });
        assert.equal((await client.get("lease/", { prefix: true, count_only: true })).count, 3n);
        await eventually("the lease's keys are deleted", async () => {
          const response = await client.get("lease/", { prefix: true });
          return response.kvs.length === 1 && toText(response.kvs[0].key) === "lease/kept";
        });
        for (const endpoint of cluster.endpoints) {
          const direct = await connect({ endpoints: [endpoint], follow_leader_hint: false });
          await eventually(`${endpoint} applied the expiry`, async () => {
            const response = await direct.get("lease/", { prefix: true, serializable: true });
            return response.kvs.length === 1;
          });
        }
        assert.equal((await client.leaseTimeToLive(lease.ID)).TTL, -1n);
        assert.ok(keep_alive.renewals >= 1, "the kept lease was renewed");
        keep_alive.close();
      });
    });
  },
});
