/**
 * Three Blueprint members in one process on loopback: forwarding from followers, a watch
 * across a leader change, a member joining, promoted and removed.
 */
import assert from "node:assert/strict";
import type { WatchResponse } from "../../shared/proto/mod.ts";
import type { BlueprintNode } from "./blueprint_node.ts";
import { memberIdOf } from "./member_ids.ts";
import {
  bytes,
  EtcdTestClient,
  eventually,
  freePorts,
  startMember,
  testConfig,
  text,
} from "./node_test_support.ts";

const IDS = ["n1", "n2", "n3"];

Deno.test({
  name: "three members: forwarding, leader loss, watch continuity, join and removal",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "blueprint_cluster_" });
    const ports = freePorts(10);
    const cluster = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    const nodes = new Map<string, BlueprintNode>();
    const clients: EtcdTestClient[] = [];
    const connect = async (node: BlueprintNode) => {
      const client = await EtcdTestClient.connect(node.client_address);
      clients.push(client);
      return client;
    };
    // Snapshots every 20 entries, so a member far behind catches up through one.
    const config = (id: string) =>
      testConfig(dir, id, cluster, ports[3 + IDS.indexOf(id)], { "snapshot-every": "20" });
    const leaderOf = async () => {
      let leader: BlueprintNode | undefined;
      await eventually("one leader with its address published everywhere", () => {
        const leaders = [...nodes.values()].filter((n) => n.is_leader);
        if (leaders.length !== 1) return false;
        leader = leaders[0];
        return [...nodes.values()].every((n) =>
          n.leader === leader!.id && n.leader_client_address === leader!.client_address
        );
      });
      return leader!;
    };
    try {
      const started = await Promise.all(
        IDS.map((id) => startMember(config(id))),
      );
      for (const node of started) nodes.set(node.id, node);
      let leader = await leaderOf();

      await t.step("a write sent to a follower is applied and names the leader", async () => {
        const follower = [...nodes.values()].find((n) => n !== leader)!;
        const client = await connect(follower);
        const put = await client.call("KV", "Put", { key: bytes("k"), value: bytes("v") });
        assert.equal(put.header.member_id, memberIdOf(follower.id));
        assert.equal(put.header.leader_id, memberIdOf(leader.id));
        assert.equal(put.header.leader_client_address, leader.client_address);
        for (const node of nodes.values()) {
          const local = await (await connect(node)).call("KV", "Range", { key: bytes("k") });
          assert.equal(local.count, 1n, `linearizable read on ${node.id}`);
        }
      });

      await t.step("a watch on a follower sees every revision across a leader change", async () => {
        const follower = [...nodes.values()].find((n) => n !== leader)!;
        const watch_client = await connect(follower);
        const stream = watch_client.stream("Watch", "Watch");
        const responses: WatchResponse[] = [];
        stream.on("data", (response: WatchResponse) => responses.push(response));
        stream.write({ create_request: { key: bytes("w/"), range_end: bytes("w0") } });
        await eventually("created", () => responses.some((r) => r.created));
        const writer = await connect(follower);
        for (let i = 0; i < 10; i++) {
          await writer.call("KV", "Put", { key: bytes(`w/${i}`), value: bytes("before") });
        }
        const old_leader = leader;
        await old_leader.stop();
        nodes.delete(old_leader.id);
        leader = await leaderOf();
        assert.notEqual(leader.id, old_leader.id);
        for (let i = 10; i < 20; i++) {
          await writer.call("KV", "Put", { key: bytes(`w/${i}`), value: bytes("after") });
        }
        const events = () => responses.flatMap((r) => r.events);
        await eventually("twenty events", () => events().length >= 20);
        assert.deepEqual(
          events().map((e) => text(e.kv!.key)),
          Array.from({ length: 20 }, (_, i) => `w/${i}`),
        );
        const revisions = events().map((e) => Number(e.kv!.mod_revision));
        for (let i = 1; i < revisions.length; i++) assert.equal(revisions[i], revisions[i - 1] + 1);
        stream.end();
        // The stopped member restarts and catches up.
        const restarted = await startMember(config(old_leader.id));
        nodes.set(restarted.id, restarted);
        await eventually("restarted member caught up", () => restarted.machine.revision >= 21);
        const local = await (await connect(restarted)).call("KV", "Range", {
          key: bytes("w/"),
          range_end: bytes("w0"),
          serializable: true,
        });
        assert.equal(local.count, 20n);
      });

      await t.step("a member whose data was wiped catches up through a snapshot", async () => {
        const victim = [...nodes.values()].find((n) => n !== leader)!;
        await victim.stop();
        nodes.delete(victim.id);
        await Deno.remove(victim.config.data_dir, { recursive: true });
        const writer = await connect(leader);
        for (let i = 0; i < 30; i++) {
          await writer.call("KV", "Put", { key: bytes(`s/${i}`), value: bytes("x") });
        }
        const target = leader.machine.revision;
        const fresh = await startMember(config(victim.id));
        nodes.set(fresh.id, fresh);
        await eventually("wiped member caught up", () => fresh.machine.revision >= target);
        const local = await (await connect(fresh)).call("KV", "Range", {
          key: bytes("s/"),
          range_end: bytes("s0"),
          serializable: true,
        });
        assert.equal(local.count, 30n);
        const status = await fresh.raft.status();
        assert.ok(Number(status.log.first) > 1, "the log was compacted: it came by snapshot");
      });

      await t.step(
        "a fourth member joins, is promoted once caught up, and is removed",
        async () => {
          const [raft_port, client_port] = [ports[6], ports[7]];
          const fourth = await startMember(
            testConfig(dir, "n4", cluster, client_port, {
              "raft-addr": `127.0.0.1:${raft_port}`,
              join: [...nodes.values()][0].client_address,
            }),
          );
          nodes.set("n4", fourth);
          await eventually("n4 votes", () => leader.conf_state.voters.includes("n4"));
          await eventually("n4 caught up", () => fourth.machine.revision >= 51);
          const client = await connect(leader);
          const list = await client.call("Cluster", "MemberList", {});
          const n4 = list.members.find((m: { name: string }) => m.name === "n4");
          assert.deepEqual(n4.clientURLs, [`http://${fourth.client_address}`]);
          assert.equal(n4.isLearner, false);
          await client.call("Cluster", "MemberRemove", { ID: memberIdOf("n4") });
          const after = await client.call("Cluster", "MemberList", {});
          assert.deepEqual(after.members.map((m: { name: string }) => m.name).sort(), IDS);
          await fourth.stop();
          nodes.delete("n4");
          const put = await client.call("KV", "Put", { key: bytes("after"), value: bytes("x") });
          assert.ok(put.header.revision > 51n);
        },
      );

      await t.step(
        "MemberAdd adds a learner by peer URL; MemberUpdate moves it; MemberRemove takes it out",
        async () => {
          const client = await connect([...nodes.values()].find((n) => n !== leader)!);
          const added = await client.call("Cluster", "MemberAdd", {
            peerURLs: [`http://127.0.0.1:${ports[8]}`],
          });
          assert.match(added.member.name, /^m[0-9a-f]{8}$/);
          const listed = added.members.find((m: { name: string }) => m.name === added.member.name);
          assert.equal(listed.isLearner, true, "a new member starts as a learner");
          assert.deepEqual(listed.peerURLs, [`http://127.0.0.1:${ports[8]}`]);
          await assert.rejects(
            client.call("Cluster", "MemberPromote", { ID: added.member.ID }),
            /can only promote a learner member which is in sync with leader/,
          );
          const updated = await client.call("Cluster", "MemberUpdate", {
            ID: added.member.ID,
            peerURLs: [`http://127.0.0.1:${ports[9]}`],
          });
          const moved = updated.members.find((m: { name: string }) => m.name === added.member.name);
          assert.deepEqual(moved.peerURLs, [`http://127.0.0.1:${ports[9]}`]);
          await client.call("Cluster", "MemberRemove", { ID: added.member.ID });
          const after = await client.call("Cluster", "MemberList", {});
          assert.deepEqual(after.members.map((m: { name: string }) => m.name).sort(), IDS);
        },
      );
    } finally {
      for (const client of clients) client.close();
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
