/**
 * The client against small fake servers (our RpcServer with scripted handlers): leader hints
 * followed, safe retries only, failover past a dead endpoint, a watch resumed with no gap or
 * duplicate, and a keep-alive that stops when the lease is gone.
 */
import assert from "node:assert/strict";
import { etcdError, RpcServer } from "../../shared/rpc/mod.ts";
import {
  loadEtcdSchema,
  type PutRequest,
  type RangeRequest,
  type WatchRequest,
} from "../../shared/proto/mod.ts";
import { grpc } from "../../deps.ts";
import { BlueprintClient, ClientError, freePort } from "./mod.ts";

interface FakeServer {
  address: string;
  calls: string[];
  server: RpcServer;
}

async function fakeServer(
  handlers: Record<string, Record<string, (...args: never[]) => unknown>>,
): Promise<FakeServer> {
  const schema = await loadEtcdSchema();
  const server = new RpcServer();
  const calls: string[] = [];
  for (const [service, methods] of Object.entries(handlers)) {
    const counted: Record<string, (...args: never[]) => unknown> = {};
    for (const [name, handler] of Object.entries(methods)) {
      counted[name] = (...args: never[]) => {
        calls.push(name);
        return handler(...args);
      };
    }
    server.addService(schema, `etcdserverpb.${service}`, counted);
  }
  const { address } = await server.listen("127.0.0.1:0");
  return { address, calls, server };
}

const header = (leader: string, revision = 1n) => ({
  revision,
  member_id: 1n,
  leader_id: 2n,
  leader_client_address: leader,
});

Deno.test("client: leader hints, safe retries and failover", async (t) => {
  const leader = await fakeServer({
    KV: {
      Put: (_request: PutRequest) => ({ header: header("") }),
      Range: (_request: RangeRequest) => ({ header: header(""), kvs: [], count: 0 }),
    },
  });
  leader.calls.length = 0;
  const follower = await fakeServer({
    KV: {
      Put: () => {
        throw etcdError("NotLeader", undefined, { leader_address: leader.address });
      },
      Range: () => ({ header: header(leader.address), kvs: [], count: 0 }),
    },
  });
  let range_failures = 1;
  const flaky = await fakeServer({
    KV: {
      Put: () => {
        throw etcdError("Timeout", "waited 5000 ms for the commit");
      },
      Range: () => {
        if (range_failures-- > 0) throw etcdError("Timeout");
        return { header: header(""), kvs: [], count: 0 };
      },
    },
  });
  const servers = [leader, follower, flaky];
  try {
    await t.step("a write refused by a follower is repeated at the leader it names", async () => {
      const client = await BlueprintClient.connect({ endpoints: [follower.address] });
      try {
        await client.put("k", "v");
        assert.deepEqual(follower.calls, ["Put"]);
        assert.deepEqual(leader.calls, ["Put"]);
        assert.equal(client.endpoint, leader.address);
      } finally {
        client.close();
      }
    });
    await t.step("a response header's leader address moves the next call there", async () => {
      leader.calls.length = 0;
      follower.calls.length = 0;
      const client = await BlueprintClient.connect({ endpoints: [follower.address] });
      try {
        await client.get("k");
        await client.get("k");
        assert.deepEqual(follower.calls, ["Range"]);
        assert.deepEqual(leader.calls, ["Range"]);
      } finally {
        client.close();
      }
    });
    await t.step("a write that timed out is not repeated and names the endpoint", async () => {
      const client = await BlueprintClient.connect({ endpoints: [flaky.address] });
      try {
        const error = await client.put("k", "v").then(() => undefined, (e) => e);
        assert.ok(error instanceof ClientError, String(error));
        assert.equal(error.attempts, 1);
        assert.equal(error.endpoint, flaky.address);
        assert.match(error.message, new RegExp(`^Put at ${flaky.address} failed \\(UNAVAILABLE`));
        assert.match(
          error.message,
          /\(UNAVAILABLE, not retried\): /,
          "no attempt count to mislead",
        );
        assert.deepEqual(flaky.calls, ["Put"]);
      } finally {
        client.close();
      }
    });
    await t.step("a read that timed out is repeated", async () => {
      flaky.calls.length = 0;
      const client = await BlueprintClient.connect({
        endpoints: [flaky.address],
        backoff_base_ms: 1,
      });
      try {
        await client.get("k");
        assert.deepEqual(flaky.calls, ["Range", "Range"]);
      } finally {
        client.close();
      }
    });
    await t.step(
      "a refused connection fails over to the next endpoint, even for a write",
      async () => {
        leader.calls.length = 0;
        const dead = `127.0.0.1:${freePort()}`;
        const client = await BlueprintClient.connect({
          endpoints: [dead, leader.address],
          backoff_base_ms: 1,
        });
        try {
          await client.put("k", "v");
          assert.deepEqual(leader.calls, ["Put"]);
          assert.equal(client.endpoint, leader.address);
        } finally {
          client.close();
        }
      },
    );
    await t.step("bad options are refused with what is allowed", async () => {
      await assert.rejects(
        BlueprintClient.connect({ endpoints: "a:1", max_attempts: 0 }),
        /max_attempts is 0; allowed: an integer >= 1/,
      );
      await assert.rejects(BlueprintClient.connect({ endpoints: "nope" }), /not host:port/);
    });
  } finally {
    await Promise.all(servers.map((s) => s.server.shutdown(1000)));
  }
});

const kv = (key: string, revision: bigint) => ({
  key: new TextEncoder().encode(key),
  value: new TextEncoder().encode(`v${revision}`),
  mod_revision: revision,
  create_revision: revision,
  version: 1n,
});

Deno.test("client: a watch resumes after a broken stream with no gap and no duplicate", async () => {
  const starts: bigint[] = [];
  const watch_server = await fakeServer({
    Watch: {
      Watch: (call: grpc.ServerDuplexStream<WatchRequest, unknown>) => {
        call.once("data", (request: WatchRequest) => {
          const start = request.create_request!.start_revision;
          starts.push(start);
          call.write({ header: header("", 2n), watch_id: 1n, created: true });
          if (starts.length === 1) {
            // revisions 3 and 4, then the stream breaks before 5 is sent
            call.write({ watch_id: 1n, events: [{ type: 0, kv: kv("a", 3n) }] });
            call.write({ watch_id: 1n, events: [{ type: 0, kv: kv("a", 4n) }] });
            setTimeout(() => call.emit("error", etcdError("Stopped")), 50);
          } else {
            // the new server repeats revision 4 (the client already has it) and goes on
            call.write({
              watch_id: 1n,
              events: [{ type: 0, kv: kv("a", 4n) }, { type: 0, kv: kv("a", 5n) }],
            });
            call.write({ watch_id: 1n, events: [{ type: 1, kv: kv("a", 6n) }] });
          }
        });
      },
    },
  });
  const client = await BlueprintClient.connect({ endpoints: [watch_server.address] });
  try {
    const stream = client.watch("a");
    const revisions: bigint[] = [];
    for await (const batch of stream) {
      for (const event of batch.events) revisions.push(event.kv!.mod_revision);
      if (revisions.length >= 4) break;
    }
    assert.deepEqual(revisions, [3n, 4n, 5n, 6n]);
    assert.deepEqual(starts, [0n, 5n]);
    assert.equal(stream.reconnects, 1);
    stream.close();
  } finally {
    client.close();
    await watch_server.server.shutdown(1000);
  }
});

Deno.test("client: a keep-alive renews until the server says the lease is gone", async () => {
  let renewals_left = 2;
  const lease_server = await fakeServer({
    Lease: {
      LeaseKeepAlive: (call: grpc.ServerDuplexStream<{ ID: bigint }, unknown>) => {
        call.on("data", (request: { ID: bigint }) => {
          call.write({ ID: request.ID, TTL: renewals_left-- > 0 ? 1n : 0n });
        });
        call.on("end", () => call.end());
      },
    },
  });
  const client = await BlueprintClient.connect({ endpoints: [lease_server.address] });
  try {
    const keep_alive = client.leaseKeepAlive(7n, 1);
    assert.equal(await keep_alive.done, "expired");
    assert.equal(keep_alive.renewals, 2);
  } finally {
    client.close();
    await lease_server.server.shutdown(1000);
  }
});
