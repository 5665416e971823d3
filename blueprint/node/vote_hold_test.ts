/**
 * A member restarted with an empty data directory under its old name in a running cluster
 * holds its vote (it may have voted in the current term before it was wiped) until it has
 * caught up with a leader.
 */
import assert from "node:assert/strict";
import type { BlueprintNode } from "./blueprint_node.ts";
import {
  bytes,
  EtcdTestClient,
  eventually,
  freePorts,
  startMember,
  testConfig,
} from "./node_test_support.ts";

const IDS = ["n1", "n2", "n3"];

Deno.test({
  name: "a wiped member with --initial-cluster does not vote before it has caught up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "blueprint_vote_hold_" });
    const ports = freePorts(6);
    const cluster = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    const config = (id: string) =>
      testConfig(dir, id, cluster, ports[3 + IDS.indexOf(id)], { "snapshot-every": "20" });
    const nodes = new Map<string, BlueprintNode>();
    const clients: EtcdTestClient[] = [];
    const voteHeld = async (node: BlueprintNode) => (await node.raft.status()).vote_held === true;
    try {
      for (const node of await Promise.all(IDS.map((id) => startMember(config(id))))) {
        nodes.set(node.id, node);
      }
      let leader: BlueprintNode | undefined;
      await eventually(
        "a leader",
        () => (leader = [...nodes.values()].find((n) => n.is_leader)) !== undefined,
      );
      // A member that starts after the others have elected a leader finds the cluster
      // already exists and holds its vote until it has caught up; with a leader that is soon.
      await eventually("every member of the new cluster votes", async () => {
        const held = await Promise.all([...nodes.values()].map(voteHeld));
        return held.every((h) => !h);
      });
      const client = await EtcdTestClient.connect(leader!.client_address);
      clients.push(client);
      for (let i = 0; i < 30; i++) {
        await client.call("KV", "Put", { key: bytes(`k${i}`), value: bytes("v") });
      }

      // Wipe a follower, and stop the leader: the wiped member and the remaining follower
      // could only elect a leader with the wiped member's vote.
      const [wiped_id, other_id] = IDS.filter((id) => id !== leader!.id);
      for (const id of [wiped_id, leader!.id]) {
        await nodes.get(id)!.stop();
        nodes.delete(id);
      }
      await Deno.remove(config(wiped_id).data_dir, { recursive: true });
      const wiped = await startMember(config(wiped_id));
      nodes.set(wiped_id, wiped);
      const other = nodes.get(other_id)!;
      // With no leader, all the wiped member can receive are the other follower's requests
      // for its vote: wait until it has answered several.
      await eventually("the wiped member was asked for its vote", async () => {
        const status = await wiped.raft.status();
        const transport = status.transport as { received: number };
        return transport.received >= 5;
      });
      assert.equal(await voteHeld(wiped), true, "the wiped member holds its vote");
      assert.equal(other.is_leader, false, "no leader without the held vote");
      assert.equal(wiped.is_leader, false);

      // The old leader returns: a leader is elected without the wiped member, which then
      // catches up (through a snapshot) and votes again.
      const returned = await startMember(config(leader!.id));
      nodes.set(returned.id, returned);
      await eventually("a leader again", () => [...nodes.values()].some((n) => n.is_leader));
      await eventually("the wiped member caught up", () => wiped.machine.revision >= 30);
      await eventually("its hold is over", async () => !(await voteHeld(wiped)));
    } finally {
      for (const client of clients) client.close();
      await Promise.all([...nodes.values()].map((node) => node.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
