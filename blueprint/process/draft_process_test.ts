/**
 * The process client against scripted fake registry servers (our RpcServer with Registry
 * handlers that record what they get): the flow, refusals, failover when a member dies or
 * falls silent, and option validation.
 */
import assert from "node:assert/strict";
import { grpc } from "../../deps.ts";
import {
  HealthState as WireHealth,
  loadRegistrySchema,
  REGISTRY_SERVICE,
  RunningState as WireRunning,
  type SyncAck,
  type SyncMessage,
} from "../../shared/proto/draft/mod.ts";
import { RpcError, rpcError, RpcServer, Status } from "../../shared/rpc/mod.ts";
import { DraftProcess, type DraftProcessOptions, type ProcessChange } from "./mod.ts";

const NONCE = "join-secret";
const TOKEN = "signed-token-p1";

interface FakeMember {
  readonly address: string;
  readonly server: RpcServer;
  /** Every Synchronize message received, in order. */
  readonly messages: SyncMessage[];
  /** Tokens given to Finalize. */
  readonly finalized: string[];
  /** Synchronize streams opened. */
  streams: number;
}

interface FakeOptions {
  /** Answer Synchronize messages (false: accept the stream, never ack). */
  readonly ack?: boolean;
  /** Refuse every Synchronize as a revoked token would be. */
  readonly revoked?: boolean;
  /** The addresses acks list as members. */
  readonly members?: () => readonly string[];
}

async function fakeMember(options: FakeOptions = {}): Promise<FakeMember> {
  const schema = await loadRegistrySchema();
  const server = new RpcServer({ shutdown_timeout_ms: 100 });
  const member: { -readonly [K in keyof FakeMember]: FakeMember[K] } = {
    address: "",
    server,
    messages: [],
    finalized: [],
    streams: 0,
  };
  const cluster = () => ({
    cluster_id: "c1",
    members: (options.members?.() ?? [member.address]).map((address, index) => ({
      id: `m${index}`,
      name: `n${index}`,
      client_urls: [`http://${address}`],
      is_leader: index === 0,
    })),
    leader_id: "m0",
    revision: 7n,
  });
  server.addService(schema, REGISTRY_SERVICE, {
    Initialize: (request: { nonce?: string }) => {
      if (request.nonce !== NONCE) {
        throw rpcError(Status.UNAUTHENTICATED, "wrong nonce: not this cluster's join token");
      }
      return { process_id: "p1", token: TOKEN, ttl_ms: 3000, cluster: cluster() };
    },
    Synchronize: (call: grpc.ServerDuplexStream<SyncMessage, SyncAck>) => {
      member.streams++;
      call.on("data", (message: SyncMessage) => {
        member.messages.push(message);
        if (options.revoked) {
          return call.emit("error", rpcError(Status.UNAUTHENTICATED, "the token was revoked"));
        }
        if (options.ack !== false) {
          call.write({ sequence: message.sequence, process_id: "p1", cluster: cluster() });
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
    Finalize: (request: { token?: string }) => {
      member.finalized.push(request.token ?? "");
      return { revision: 9n };
    },
  });
  member.address = (await server.listen("127.0.0.1:0")).address;
  return member;
}

async function eventually(what: string, condition: () => boolean, limit_ms = 10_000) {
  const deadline = Date.now() + limit_ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${limit_ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function joinOptions(entrypoints: string[], extra: Partial<DraftProcessOptions> = {}) {
  return {
    entrypoints,
    name: "worker",
    nonce: NONCE,
    metadata: { zone: "a" },
    advertise_address: "127.0.0.1:9000",
    poll_interval_ms: 50,
    backoff_base_ms: 10,
    backoff_max_ms: 50,
    random: () => 0.5,
    ...extra,
  };
}

Deno.test("process client: join, report, follow the cluster, leave", async (t) => {
  const member = await fakeMember();
  let health: "healthy" | "degraded" = "healthy";
  const me = await DraftProcess.join(joinOptions([member.address], {
    health_check: () => Promise.resolve(health),
  }));
  const changes: ProcessChange[] = [];
  me.onChange((change) => changes.push(change));
  try {
    await t.step(
      "Initialize gives the identity and the first stream carries the token",
      async () => {
        assert.deepEqual(me.identity, { process_id: "p1", token: TOKEN });
        assert.equal(me.ttl_ms, 3000);
        await eventually("the first ack", () => me.connection === "synchronized");
        assert.equal(member.messages[0].token, TOKEN);
        assert.equal(member.messages[0].running_state, WireRunning.STARTING);
        assert.equal(member.messages[0].health_state, WireHealth.HEALTHY);
        assert.equal(member.messages[0].advertise_address, "127.0.0.1:9000");
        assert.equal(member.messages[0].sequence, 1n);
        assert.equal(member.messages.length > 1 ? member.messages[1].token : "", "");
      },
    );
    await t.step("acks carry the members and the leader", () => {
      assert.equal(me.cluster.leader_id, "m0");
      assert.deepEqual(me.cluster.members.map((m) => m.client_addresses), [[member.address]]);
      assert.ok(changes.some((c) => c.connection === "synchronized"));
    });
    await t.step("state changes go out at once, health checks at the interval", async () => {
      me.setRunningState("running");
      await eventually(
        "a running report",
        () => member.messages.some((m) => m.running_state === WireRunning.RUNNING),
      );
      health = "degraded";
      await eventually(
        "a degraded report",
        () => member.messages.some((m) => m.health_state === WireHealth.DEGRADED),
      );
      assert.equal(me.report.health, "degraded");
      assert.equal(member.streams, 1, "one stream while the member is fine");
    });
    await t.step("bad states are refused by name", () => {
      assert.throws(() => me.setRunningState("up" as never), /running state "up"; allowed/);
      assert.throws(() => me.setHealth("fine" as never), /health "fine"; allowed/);
    });
    await t.step("leave finalizes with the token, then closes", async () => {
      await me.leave();
      await me.closed;
      assert.deepEqual(member.finalized, [TOKEN]);
      assert.equal(me.connection, "left");
      assert.equal(changes.at(-1)?.connection, "left");
      const count = member.messages.length;
      me.setRunningState("stopped"); // after leaving: nothing is sent
      await new Promise((resolve) => setTimeout(resolve, 120));
      assert.equal(member.messages.length, count);
    });
  } finally {
    await me.leave().catch(() => {});
    await member.server.shutdown();
  }
});

Deno.test("process client: a wrong nonce is refused and nothing is synchronized", async () => {
  const member = await fakeMember();
  try {
    await assert.rejects(
      DraftProcess.join(joinOptions([member.address], { nonce: "guess" })),
      (error: unknown) =>
        error instanceof RpcError && error.code === Status.UNAUTHENTICATED &&
        /wrong nonce/.test(error.message),
    );
    assert.equal(member.streams, 0);
  } finally {
    await member.server.shutdown();
  }
});

Deno.test("process client: fails over to another member, same identity", async (t) => {
  const addresses: string[] = [];
  const first = await fakeMember({ members: () => addresses });
  const second = await fakeMember({ members: () => addresses });
  addresses.push(first.address, second.address);
  // Only the first is an entrypoint: the second is known from the acks alone.
  const me = await DraftProcess.join(joinOptions([first.address]));
  try {
    await eventually("the first ack", () => me.connection === "synchronized");
    assert.equal(me.endpoint, first.address);
    await t.step("the member dies: the stream moves to the member named in the acks", async () => {
      await first.server.shutdown();
      await eventually("a stream to the second member", () => second.messages.length > 0);
      await eventually("synchronized again", () => me.connection === "synchronized");
      assert.equal(me.endpoint, second.address);
      assert.equal(second.messages[0].token, TOKEN, "the same identity on the new stream");
      assert.deepEqual(me.identity, { process_id: "p1", token: TOKEN });
    });
    await t.step("leave finalizes at the live member", async () => {
      await me.leave();
      assert.deepEqual(second.finalized, [TOKEN]);
    });
  } finally {
    await me.leave().catch(() => {});
    await second.server.shutdown();
  }
});

Deno.test("process client: a member that stops acking is left for another", async () => {
  const addresses: string[] = [];
  const silent = await fakeMember({ ack: false, members: () => addresses });
  const healthy = await fakeMember({ members: () => addresses });
  addresses.push(silent.address, healthy.address);
  // Initialize answers at the silent one; its stream never acks.
  const me = await DraftProcess.join(joinOptions([silent.address], { ack_timeout_ms: 200 }));
  try {
    await eventually("synchronized with the acking member", () => me.connection === "synchronized");
    assert.equal(me.endpoint, healthy.address);
    assert.ok(silent.messages.length > 0, "the silent member did get reports");
  } finally {
    await me.leave().catch(() => {});
    await silent.server.shutdown();
    await healthy.server.shutdown();
  }
});

Deno.test("process client: options are checked with clear errors", async () => {
  const base = joinOptions(["127.0.0.1:1"]);
  await assert.rejects(DraftProcess.join({ ...base, name: "" }), /process name "".*1 to 128/);
  await assert.rejects(DraftProcess.join({ ...base, nonce: "" }), /nonce is empty/);
  await assert.rejects(
    DraftProcess.join({ ...base, poll_interval_ms: 0 }),
    /poll_interval_ms is 0; allowed: an integer from 10/,
  );
  await assert.rejects(DraftProcess.join({ ...base, entrypoints: "nowhere" }), /not host:port/);
  const labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
  await assert.rejects(DraftProcess.join({ ...base, metadata: labels }), /65 metadata labels/);
});

Deno.test("process client: an identity the registry refuses ends the client", async () => {
  const addresses: string[] = [];
  const first = await fakeMember({ revoked: true, members: () => addresses });
  const second = await fakeMember({ revoked: true, members: () => addresses });
  addresses.push(first.address, second.address);
  const me = await DraftProcess.join(joinOptions([first.address]));
  const changes: ProcessChange[] = [];
  me.onChange((change) => changes.push(change));
  try {
    await me.closed;
    assert.equal(me.connection, "revoked");
    assert.match(me.revoked_reason, /the token was revoked/);
    assert.equal(changes.at(-1)?.connection, "revoked");
    assert.equal(first.streams + second.streams, 2, "refused once on each member, then stopped");
    await me.leave(); // nothing left to do: resolves
    assert.deepEqual([...first.finalized, ...second.finalized], []);
  } finally {
    await first.server.shutdown();
    await second.server.shutdown();
  }
});

Deno.test("process client: a given poll scheduler runs the polls, and stops on leave", async () => {
  const member = await fakeMember();
  const polls = new Set<() => void>();
  const intervals: number[] = [];
  const me = await DraftProcess.join(joinOptions([member.address], {
    poll_scheduler: (interval_ms, poll) => {
      intervals.push(interval_ms);
      polls.add(poll);
      return () => polls.delete(poll);
    },
  }));
  try {
    await eventually("the first report", () => member.messages.length === 1);
    assert.deepEqual(intervals, [50]);
    for (const poll of polls) poll();
    for (const poll of polls) poll();
    await eventually("a report per poll", () => member.messages.length === 3);
    assert.deepEqual(member.messages.map((m) => m.sequence), [1n, 2n, 3n]);
    await me.leave();
    assert.equal(polls.size, 0, "leaving stops the polls");
  } finally {
    await me.leave().catch(() => {});
    await member.server.shutdown();
  }
});
