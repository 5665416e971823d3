/**
 * Three Blueprint members in one process: read-only transactions served without Raft, and
 * the Maintenance calls (HashKV and Hash compared across members, Defragment, Alarm, Status,
 * Snapshot's refusal).
 */
import assert from "node:assert/strict";
import { methodOf, type TxnRequest } from "../../shared/proto/mod.ts";
import { RpcError, Status } from "../../shared/rpc/mod.ts";
import type { BlueprintNode } from "./blueprint_node.ts";
import { responseOpOf, txnBody } from "./etcd_mapping.ts";
import type { OperationResponse } from "../kv/mod.ts";
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
import { seededRandom as randomSource } from "../../shared/random/mod.ts";

const IDS = ["n1", "n2", "n3"];
const KEYS = 12;

/** A random read-only TxnRequest over keys `k00`..`k11` (compares of every target). */
function randomReadOnlyTxn(random: () => number, revision: number, depth = 0): TxnRequest {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const key = () => bytes(`k${String(Math.floor(random() * (KEYS + 2))).padStart(2, "0")}`);
  const compare = Array.from({ length: Math.floor(random() * 3) }, () => {
    const target = Math.floor(random() * 5);
    const number = BigInt(Math.floor(random() * (revision + 2)));
    const operand = [
      { version: BigInt(Math.floor(random() * 3)) },
      { create_revision: number },
      { mod_revision: number },
      { value: bytes(pick(["", "v0", "v1", "v2", "x"])) },
      { lease: 0n },
    ][target];
    return {
      key: key(),
      range_end: random() < 0.2 ? bytes("k99") : new Uint8Array(0),
      target,
      result: Math.floor(random() * 4),
      ...operand,
    };
  });
  const operation = () => {
    if (depth < 2 && random() < 0.15) {
      return { request_txn: randomReadOnlyTxn(random, revision, depth + 1) };
    }
    return {
      request_range: {
        key: key(),
        range_end: random() < 0.4 ? bytes("k99") : new Uint8Array(0),
        limit: BigInt(Math.floor(random() * 4)),
        revision: random() < 0.3 ? BigInt(Math.max(0, revision - Math.floor(random() * 5))) : 0n,
        keys_only: random() < 0.2,
        count_only: random() < 0.1,
      },
    };
  };
  const ops = () => Array.from({ length: Math.floor(random() * 3) }, operation);
  return { compare, success: ops(), failure: ops() } as unknown as TxnRequest;
}

/** The parts of a txn response both paths must agree on (headers differ in member id). */
// deno-lint-ignore no-explicit-any
function comparable(response: any): unknown {
  return {
    succeeded: response.succeeded,
    // deno-lint-ignore no-explicit-any
    responses: response.responses.map((op: any) => {
      if (op.response_range) {
        const range = op.response_range;
        return {
          // deno-lint-ignore no-explicit-any
          kvs: range.kvs.map((kv: any) => [text(kv.key), text(kv.value), kv.mod_revision]),
          more: range.more,
          count: range.count,
        };
      }
      return comparable(op.response_txn);
    }),
  };
}

Deno.test({
  name: "maintenance and read-only txns on three members",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "blueprint_maintenance_" });
    const ports = freePorts(6);
    const cluster = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    const nodes: BlueprintNode[] = [];
    const clients = new Map<string, EtcdTestClient>();
    try {
      nodes.push(
        ...await Promise.all(
          IDS.map((id, i) => startMember(testConfig(dir, id, cluster, ports[3 + i]))),
        ),
      );
      for (const node of nodes) {
        clients.set(node.id, await EtcdTestClient.connect(node.client_address));
      }
      let leader: BlueprintNode | undefined;
      await eventually("one leader known to all", () => {
        leader = nodes.find((n) => n.is_leader);
        return leader !== undefined && nodes.every((n) => n.leader_client_address !== "") &&
          leader.registry.joinToken() !== "";
      });
      const on = (node: BlueprintNode) => clients.get(node.id)!;
      const followers = nodes.filter((n) => n !== leader);
      for (let i = 0; i < KEYS; i++) {
        const key = bytes(`k${String(i).padStart(2, "0")}`);
        await on(leader!).call("KV", "Put", { key, value: bytes("v0") });
        if (i % 3 === 0) await on(leader!).call("KV", "Put", { key, value: bytes(`v${i % 2}`) });
        if (i % 5 === 0) await on(leader!).call("KV", "DeleteRange", { key });
      }
      const revision = leader!.machine.revision;
      await eventually(
        "every member applied the writes",
        () => nodes.every((n) => n.machine.revision === revision),
      );

      await t.step(
        "a read-only txn answers as the Raft path does, without a log entry",
        async () => {
          const seed = Number(Deno.env.get("TEST_SEED") ?? Date.now() % 1_000_000);
          const random = randomSource(seed);
          const commit_before = (await leader!.status()).commit_index;
          try {
            for (let round = 0; round < 60; round++) {
              const request = randomReadOnlyTxn(random, revision);
              const served = await on(followers[round % 2]).call("KV", "Txn", request);
              const codec =
                methodOf(on(leader!).schema.service("etcdserverpb.KV"), "Txn").request_codec;
              const decoded = codec.decode(codec.encode(request as never)) as unknown as TxnRequest;
              const body = txnBody(decoded, 10_000);
              const replicated = await leader!.write(body);
              assert.equal(replicated.body.type, "txn", `round ${round}: ${replicated.body.type}`);
              // The Raft path's response in the gRPC shape, through the same mapping.
              const raw = replicated.body as { succeeded: boolean; responses: OperationResponse[] };
              const through_raft = {
                succeeded: raw.succeeded,
                responses: raw.responses.map((r) => responseOpOf(r, undefined)),
              };
              assert.deepEqual(comparable(served), comparable(through_raft), `round ${round}`);
              assert.equal(served.header.revision, BigInt(revision), `round ${round}`);
            }
          } catch (error) {
            console.error(`read-only txn property failed with TEST_SEED=${seed}`);
            throw error;
          }
          // 60 `leader.write` calls above were replicated; the 120 gRPC txns were not.
          const commit_after = (await leader!.status()).commit_index;
          assert.ok(
            commit_after - commit_before < 60 + 20,
            `${commit_after - commit_before} entries for 60 replicated and 120 read-only txns`,
          );
        },
      );

      await t.step("a read-only txn on a follower sees a write just acknowledged", async () => {
        const follower = followers[0];
        for (let i = 0; i < 5; i++) {
          await on(leader!).call("KV", "Put", { key: bytes("fresh"), value: bytes(`f${i}`) });
          const seen = await on(follower).call("KV", "Txn", {
            compare: [{ key: bytes("fresh"), target: 3, result: 0, value: bytes(`f${i}`) }],
            success: [{ request_range: { key: bytes("fresh") } }],
          });
          assert.equal(seen.succeeded, true, `write ${i} not seen by a linearizable txn`);
          assert.equal(text(seen.responses[0].response_range.kvs[0].value), `f${i}`);
        }
      });

      const target = leader!.machine.revision;
      await eventually(
        "every member applied the reads' writes",
        () => nodes.every((n) => n.machine.revision === target),
      );

      await t.step("HashKV and Hash agree across members and change with the data", async () => {
        const hashes = async (revision: bigint) =>
          await Promise.all(nodes.map((n) => on(n).call("Maintenance", "HashKV", { revision })));
        const now = await hashes(BigInt(target));
        const before = await hashes(BigInt(revision));
        for (const response of [...now, ...before]) {
          assert.equal(response.hash, now.includes(response) ? now[0].hash : before[0].hash);
        }
        assert.notEqual(now[0].hash, before[0].hash, "a changed value changes the hash");
        assert.equal(now[0].hash_revision, BigInt(target));
        const current = await hashes(0n);
        assert.deepEqual(current.map((r) => r.hash), now.map((r) => r.hash));
        // Hash covers the current state (leases too): compare answers given while every
        // member had applied the same entries.
        const applied = () => new Set(nodes.map((n) => n.applier.appliedIndex));
        let compared = false;
        for (let attempt = 0; attempt < 50 && !compared; attempt++) {
          const before = applied();
          const whole = await Promise.all(nodes.map((n) => on(n).call("Maintenance", "Hash", {})));
          const after = applied();
          if (before.size !== 1 || after.size !== 1 || [...before][0] !== [...after][0]) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            continue;
          }
          const described = whole.map((r) => `${r.header.revision}:${r.hash}`).join(", ");
          assert.ok(whole.every((r) => r.hash === whole[0].hash), described);
          compared = true;
        }
        assert.ok(compared, "the members were never at the same applied index to compare");
        await assert.rejects(
          on(leader!).call("Maintenance", "HashKV", { revision: BigInt(target + 100) }),
          (error: unknown) => error instanceof RpcError && error.code === Status.OUT_OF_RANGE,
        );
      });

      await t.step("Defragment compacts storage and keeps the data", async () => {
        const before = await on(followers[0]).call("Maintenance", "HashKV", { revision: 0n });
        const defragmented = await on(followers[0]).call("Maintenance", "Defragment", {});
        assert.equal(defragmented.header.member_id, memberIdOf(followers[0].id));
        const after = await on(followers[0]).call("Maintenance", "HashKV", { revision: 0n });
        assert.equal(after.hash, before.hash);
        const stats = followers[0].storage.stats();
        const levels = stats.levels.filter((level) => level.files > 0);
        assert.equal(
          levels.length,
          1,
          `tables in one level after compactRange: ${JSON.stringify(levels)}`,
        );
      });

      await t.step("Status, Alarm and Snapshot", async () => {
        for (const node of nodes) {
          const status = await on(node).call("Maintenance", "Status", {});
          assert.ok(status.dbSize > 0n, "dbSize");
          assert.ok(status.raftAppliedIndex > 0n, "raftAppliedIndex");
          assert.ok(status.raftIndex >= status.raftAppliedIndex, "raftIndex is the commit index");
          assert.equal(status.isLearner, false);
          assert.equal(status.leader, memberIdOf(leader!.id));
        }
        const alarms = await on(leader!).call("Maintenance", "Alarm", { action: 0 });
        assert.deepEqual(alarms.alarms, []);
        await assert.rejects(
          on(leader!).call("Maintenance", "Alarm", { action: 1, alarm: 1 }),
          (error: unknown) => error instanceof RpcError && error.code === Status.INVALID_ARGUMENT,
        );
        const snapshot = on(leader!).channel.serverStream(
          on(leader!).schema.service("etcdserverpb.Maintenance").methods.find((m) =>
            m.name === "Snapshot"
          )!,
          {},
        );
        const failure = await new Promise<{ code: number; details: string }>((resolve) => {
          snapshot.on("data", () => {});
          snapshot.on("error", resolve);
        });
        assert.equal(failure.code, Status.UNIMPLEMENTED);
        assert.match(failure.details, /Snapshot is not offered/);
      });
    } finally {
      for (const client of clients.values()) client.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
