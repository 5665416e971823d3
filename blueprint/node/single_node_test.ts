/**
 * One Blueprint member in process, driven through its gRPC API as an etcd client would.
 */
import assert from "node:assert/strict";
import { RpcError, Status } from "../../shared/rpc/mod.ts";
import type { WatchResponse } from "../../shared/proto/mod.ts";
import type { BlueprintNode } from "./blueprint_node.ts";
import { clusterIdOf, memberIdOf } from "./member_ids.ts";
import {
  bytes,
  EtcdTestClient,
  eventually,
  freePorts,
  startMember,
  testConfig,
  text,
} from "./node_test_support.ts";

function rejectsWith(code: number, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RpcError, `${error}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

Deno.test({
  name: "single member: the etcd API end to end",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "blueprint_node_" });
    const [client_port, raft_port] = freePorts(2);
    const config = testConfig(dir, "n1", { n1: `127.0.0.1:${raft_port}` }, client_port, {
      "max-value-bytes": "1024",
      "max-txn-ops": "4",
    });
    let node: BlueprintNode = await startMember(config);
    let client = await EtcdTestClient.connect(node.client_address);
    try {
      // The first leader stores the registry's join token and secret (two revisions).
      await eventually("leadership and the registry's bootstrap", () => {
        return node.is_leader && node.registry.joinToken() !== "";
      });

      await t.step("put and range answer with the full header", async () => {
        const before = (await client.call("KV", "Range", { key: bytes("a") })).header.revision;
        assert.ok(before >= 2n, `the registry's bootstrap writes come first, got ${before}`);
        const put = await client.call("KV", "Put", { key: bytes("a"), value: bytes("1") });
        assert.equal(put.header.revision, before + 1n);
        assert.equal(put.header.cluster_id, clusterIdOf("blueprint"));
        assert.equal(put.header.member_id, memberIdOf("n1"));
        assert.equal(put.header.leader_id, memberIdOf("n1"));
        assert.equal(put.header.leader_client_address, node.client_address);
        assert.ok(put.header.raft_term >= 1n);
        const got = await client.call("KV", "Range", { key: bytes("a") });
        assert.equal(text(got.kvs[0].value), "1");
        assert.equal(got.header.revision, before + 1n);
        const local = await client.call("KV", "Range", { key: bytes("a"), serializable: true });
        assert.equal(text(local.kvs[0].value), "1");
      });

      await t.step("prev_kv, prefix ranges, sorting and deletes", async () => {
        const put = await client.call("KV", "Put", {
          key: bytes("a"),
          value: bytes("2"),
          prev_kv: true,
        });
        assert.equal(text(put.prev_kv.value), "1");
        for (const key of ["p/1", "p/2", "p/3"]) {
          await client.call("KV", "Put", { key: bytes(key), value: bytes(key) });
        }
        const page = await client.call("KV", "Range", {
          key: bytes("p/"),
          range_end: bytes("p0"),
          limit: 2,
        });
        assert.deepEqual(page.kvs.map((kv: { key: Uint8Array }) => text(kv.key)), ["p/1", "p/2"]);
        assert.equal(page.more, true);
        assert.equal(page.count, 3n);
        const descending = await client.call("KV", "Range", {
          key: bytes("p/"),
          range_end: bytes("p0"),
          sort_order: 2,
          limit: 1,
        });
        assert.equal(text(descending.kvs[0].key), "p/3");
        const deleted = await client.call("KV", "DeleteRange", {
          key: bytes("p/"),
          range_end: bytes("p0"),
          prev_kv: true,
        });
        assert.equal(deleted.deleted, 3n);
        assert.equal(deleted.prev_kvs.length, 3);
      });

      await t.step("txn: compare, then one branch, atomically", async () => {
        const txn = (expected: string) =>
          client.call("KV", "Txn", {
            compare: [{ key: bytes("a"), target: 3, result: 0, value: bytes(expected) }],
            success: [{ request_put: { key: bytes("a"), value: bytes("cas") } }],
            failure: [{ request_range: { key: bytes("a") } }],
          });
        const failed = await txn("nope");
        assert.equal(failed.succeeded, false);
        assert.equal(text(failed.responses[0].response_range.kvs[0].value), "2");
        const succeeded = await txn("2");
        assert.equal(succeeded.succeeded, true);
        const got = await client.call("KV", "Range", { key: bytes("a") });
        assert.equal(text(got.kvs[0].value), "cas");
      });

      await t.step("limits answer INVALID_ARGUMENT and apply nothing", async () => {
        const before = (await client.call("KV", "Range", { key: bytes("a") })).header.revision;
        await assert.rejects(
          client.call("KV", "Put", { key: bytes("big"), value: new Uint8Array(2048) }),
          rejectsWith(Status.INVALID_ARGUMENT, /value of 2048 bytes .* limit \(1024 bytes\)/),
        );
        await assert.rejects(
          client.call("KV", "Put", { key: new Uint8Array(0), value: bytes("x") }),
          rejectsWith(Status.INVALID_ARGUMENT, /etcdserver: key is not provided/),
        );
        const puts = Array.from({ length: 5 }, (_, i) => ({
          request_put: { key: bytes(`t${i}`), value: bytes("x") },
        }));
        await assert.rejects(
          client.call("KV", "Txn", { success: puts }),
          rejectsWith(Status.INVALID_ARGUMENT, /too many operations in txn request/),
        );
        await assert.rejects(
          client.call("KV", "Put", { key: bytes("huge"), value: new Uint8Array(1600 * 1024) }),
          rejectsWith(Status.INVALID_ARGUMENT, /request to \/etcdserverpb.KV\/Put is \d+ bytes/),
        );
        const after = (await client.call("KV", "Range", { key: bytes("a") })).header.revision;
        assert.equal(after, before);
        const none = await client.call("KV", "Range", { key: bytes("t"), range_end: bytes("u") });
        assert.equal(none.count, 0n);
      });

      await t.step("watch: history from a revision, then live events, then cancel", async () => {
        const stream = client.stream("Watch", "Watch");
        const responses: WatchResponse[] = [];
        stream.on("data", (response: WatchResponse) => responses.push(response));
        stream.write({
          create_request: { key: bytes("w"), range_end: bytes("x"), start_revision: 1 },
        });
        await eventually("created", () => responses.some((r) => r.created));
        for (let i = 0; i < 5; i++) {
          await client.call("KV", "Put", { key: bytes(`w${i}`), value: bytes(`${i}`) });
        }
        await client.call("KV", "DeleteRange", { key: bytes("w0") });
        const events = () => responses.flatMap((r) => r.events);
        await eventually("six events", () => events().length >= 6);
        assert.deepEqual(
          events().map((e) => `${e.type}:${text(e.kv!.key)}`),
          ["0:w0", "0:w1", "0:w2", "0:w3", "0:w4", "1:w0"],
        );
        const revisions = events().map((e) => Number(e.kv!.mod_revision));
        for (let i = 1; i < revisions.length; i++) assert.equal(revisions[i], revisions[i - 1] + 1);
        const id = responses.find((r) => r.created)!.watch_id;
        stream.write({ cancel_request: { watch_id: id } });
        await eventually("canceled", () => responses.some((r) => r.canceled));
        stream.write({ progress_request: {} });
        await eventually("progress", () => responses.some((r) => r.watch_id === -1n));
        stream.end();
      });

      await t.step("leases: keys of an expired lease are deleted through Raft", async () => {
        const grant = await client.call("Lease", "LeaseGrant", { TTL: 1 });
        assert.ok(grant.ID > 0n);
        await client.call("KV", "Put", {
          key: bytes("leased"),
          value: bytes("x"),
          lease: grant.ID,
        });
        const keep = client.stream("Lease", "LeaseKeepAlive");
        const renewals: { TTL: bigint }[] = [];
        keep.on("data", (response: { TTL: bigint }) => renewals.push(response));
        keep.write({ ID: grant.ID });
        await eventually("a renewal", () => renewals.length > 0);
        assert.equal(renewals[0].TTL, 1n);
        keep.end();
        const ttl = await client.call("Lease", "LeaseTimeToLive", { ID: grant.ID, keys: true });
        assert.equal(text(ttl.keys[0]), "leased");
        await eventually("the leased key is gone", async () => {
          const got = await client.call("KV", "Range", { key: bytes("leased") });
          return got.count === 0n;
        });
        await assert.rejects(
          client.call("Lease", "LeaseRevoke", { ID: grant.ID }),
          rejectsWith(Status.NOT_FOUND, /requested lease not found/),
        );
      });

      await t.step("compaction makes old revisions unreadable", async () => {
        const now = (await client.call("KV", "Range", { key: bytes("a") })).header.revision;
        await client.call("KV", "Compact", { revision: now });
        await assert.rejects(
          client.call("KV", "Range", { key: bytes("a"), revision: 1 }),
          rejectsWith(Status.OUT_OF_RANGE, /required revision has been compacted/),
        );
      });

      await t.step("status and member list describe the member", async () => {
        const status = await client.call("Maintenance", "Status", {});
        assert.equal(status.leader, memberIdOf("n1"));
        assert.ok(status.raftAppliedIndex > 0n);
        const list = await client.call("Cluster", "MemberList", {});
        assert.equal(list.members.length, 1);
        assert.equal(list.members[0].name, "n1");
        assert.deepEqual(list.members[0].clientURLs, [`http://${node.client_address}`]);
      });

      await t.step("600 calls on one connection, closed by the client", async () => {
        const once = await EtcdTestClient.connect(node.client_address);
        for (let i = 0; i < 600; i += 8) {
          await Promise.all(
            Array.from(
              { length: 8 },
              (_, j) => once.call("KV", "Range", { key: bytes(`c${i + j}`) }),
            ),
          );
        }
        once.close();
        // The server is still serving; the restart below shuts it down under a busy connection.
        for (let i = 0; i < 600; i += 8) {
          await Promise.all(
            Array.from(
              { length: 8 },
              () => client.call("KV", "Range", { key: bytes("a"), serializable: true }),
            ),
          );
        }
      });

      await t.step("a restart resumes from the data directory", async () => {
        const before = await client.call("KV", "Range", { key: bytes("a") });
        await node.stop(); // the server closes a connection that carried 600+ calls
        client.close();
        node = await startMember(config);
        client = await EtcdTestClient.connect(node.client_address);
        await eventually("leadership again", () => node.is_leader);
        const after = await client.call("KV", "Range", { key: bytes("a") });
        assert.equal(text(after.kvs[0].value), "cas");
        assert.equal(after.header.revision, before.header.revision);
        const put = await client.call("KV", "Put", { key: bytes("a"), value: bytes("new") });
        assert.equal(put.header.revision, before.header.revision + 1n);
      });
    } finally {
      client.close();
      await node.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
