/**
 * The registry against three in-process Blueprint members: the whole flow, the rejections
 * (each leaves the keyspace unchanged), beats without Raft writes, and lost-then-removed.
 */
import assert from "node:assert/strict";
import {
  HealthState,
  loadRegistrySchema,
  REGISTRY_SERVICE,
  RegistryEventType,
  type RegistryWatchResponse,
  RunningState,
  type SyncAck,
  type SyncMessage,
} from "../../shared/proto/draft/mod.ts";
import { methodOf, type ProtoSchema } from "../../shared/proto/mod.ts";
import { RpcChannel, RpcError, Status } from "../../shared/rpc/mod.ts";
import type { BlueprintNode } from "../node/mod.ts";
import { eventually, freePorts, startMember, testConfig } from "../node/node_test_support.ts";
import { hmacKey, PROCESS_PREFIX, signToken } from "./mod.ts";
import { membersWithoutAddress } from "./registry_service.ts";

const IDS = ["r1", "r2", "r3"];
const JOIN_TOKEN = "join-secret-1";

class RegistryClient {
  readonly channel: RpcChannel;
  constructor(readonly schema: ProtoSchema, address: string) {
    this.channel = new RpcChannel(address, { default_deadline_ms: 8000 });
  }
  #method(name: string) {
    return methodOf(this.schema.service(REGISTRY_SERVICE), name);
  }
  // deno-lint-ignore no-explicit-any
  call(name: string, request: unknown): Promise<any> {
    return this.channel.unary(this.#method(name), request as never);
  }
  /** A Synchronize stream whose `send` resolves with the ack or rejects with the error. */
  sync() {
    const stream = this.channel.bidiStream<SyncMessage, SyncAck>(this.#method("Synchronize"));
    const waiting: { resolve: (ack: SyncAck) => void; reject: (error: unknown) => void }[] = [];
    let failure: unknown;
    stream.on("data", (ack: SyncAck) => waiting.shift()?.resolve(ack));
    stream.on("error", (error: unknown) => {
      failure = error;
      for (const waiter of waiting.splice(0)) waiter.reject(error);
    });
    return {
      send(message: SyncMessage): Promise<SyncAck> {
        if (failure) return Promise.reject(failure);
        return new Promise((resolve, reject) => {
          waiting.push({ resolve, reject });
          stream.write(message);
        });
      },
      close: () => stream.end(),
    };
  }
  watch(start_revision: bigint) {
    const events: RegistryWatchResponse[] = [];
    const stream = this.channel.serverStream<unknown, RegistryWatchResponse>(
      this.#method("Watch"),
      { start_revision },
    );
    stream.on("data", (response: RegistryWatchResponse) => events.push(response));
    stream.on("error", () => {});
    return { events, cancel: () => stream.cancel() };
  }
  close() {
    this.channel.close();
  }
}

async function rejects(promise: Promise<unknown>, code: number, pattern: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    const { code: actual, message } = error as { code?: number; message?: string };
    assert.equal(actual, code, `${error}`);
    assert.match(message ?? "", pattern);
    return true;
  });
}

const healthy_running = { running_state: RunningState.RUNNING, health_state: HealthState.HEALTHY };

Deno.test({
  name: "registry: three members, the whole flow, rejections, liveness",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "registry_cluster_" });
    const ports = freePorts(6);
    const cluster = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    const schema = await loadRegistrySchema();
    const nodes: BlueprintNode[] = [];
    const clients: RegistryClient[] = [];
    const client = (node: BlueprintNode) => {
      const made = new RegistryClient(schema, node.client_address);
      clients.push(made);
      return made;
    };
    try {
      nodes.push(
        ...await Promise.all(
          IDS.map((id, i) =>
            startMember(testConfig(dir, id, cluster, ports[3 + i], {
              "join-token": JOIN_TOKEN,
              "registry-lost-grace-ms": "1500",
            }))
          ),
        ),
      );
      await eventually(
        "a leader and the join token everywhere",
        () =>
          nodes.filter((n) => n.is_leader).length === 1 &&
          nodes.every((n) => n.registry.joinToken() === JOIN_TOKEN && n.leader_client_address) &&
          // Every member has published its client address (a Raft write each), so later
          // steps see complete cluster details and count only their own writes.
          nodes.every((n) =>
            (n.registry.clusterDetails().members ?? []).filter((m) => m.client_urls?.length === 1)
              .length === IDS.length
          ),
      );
      const leader = nodes.find((n) => n.is_leader)!;
      const [follower_a, follower_b] = nodes.filter((n) => n !== leader);
      const a = client(follower_a);
      const b = client(follower_b);
      const c = client(leader);
      const start_revision = BigInt(leader.machine.revision + 1);
      const watch = c.watch(start_revision);

      const joined = await a.call("Initialize", {
        name: "web",
        nonce: JOIN_TOKEN,
        metadata: [{ key: "zone", value: "eu-1" }],
        advertise_address: "127.0.0.1:8080",
      });
      const process_id: string = joined.process_id;

      await t.step("initialize answers an identity and the cluster details", () => {
        assert.match(process_id, /^[0-9a-f]{32}$/);
        assert.equal(joined.cluster.members.length, 3);
        assert.equal(joined.cluster.leader_id, leader.member_id.toString(16));
        assert.equal(joined.process.running_state, RunningState.STARTING);
      });

      const stream = b.sync();
      await t.step("synchronize with another member: acks carry members and leader", async () => {
        const ack = await stream.send({ token: joined.token, ...healthy_running, sequence: 1n });
        assert.equal(ack.sequence, 1n);
        assert.equal(ack.changed, true);
        assert.equal(ack.process_id, process_id);
        assert.equal(ack.cluster!.members!.length, 3);
        assert.deepEqual(
          ack.cluster!.members!.map((m) => m.client_urls![0]).sort(),
          nodes.map((n) => `http://${n.client_address}`).sort(),
        );
        assert.equal(ack.cluster!.leader_address, `http://${leader.client_address}`);
        const found = await c.call("Query", {
          running_states: [RunningState.RUNNING],
          labels: [{ key: "zone", value: "eu-1" }],
        });
        assert.deepEqual(found.processes.map((p: { process_id: string }) => p.process_id), [
          process_id,
        ]);
        const none = await c.call("Query", { labels: [{ key: "zone", value: "us-1" }] });
        assert.equal(none.processes.length, 0);
      });

      await t.step("a beat that changes nothing is not a Raft write", async () => {
        const before = (await leader.status()).applied_index;
        for (let i = 2n; i < 7n; i++) {
          const quiet = await stream.send({ ...healthy_running, sequence: i });
          assert.equal(quiet.changed, false);
          assert.equal(quiet.sequence, i);
        }
        assert.equal((await leader.status()).applied_index, before);
      });

      await t.step("a state change is visible to Query on every member", async () => {
        const changed = await stream.send({
          running_state: RunningState.DRAINING,
          health_state: HealthState.DEGRADED,
          advertise_address: "127.0.0.1:8080",
          sequence: 9n,
        });
        assert.equal(changed.changed, true);
        for (const member of [a, b, c]) {
          const got = await member.call("Get", { process_id });
          assert.equal(got.process.health_state, HealthState.DEGRADED);
          assert.equal(got.process.running_state, RunningState.DRAINING);
        }
      });
      stream.close();

      await t.step("rejections change nothing", async () => {
        const revision = leader.machine.revision;
        const count = async () => (await c.call("Query", {})).processes.length;
        const processes = await count();
        await rejects(
          a.call("Initialize", { name: "web", nonce: "wrong" }),
          Status.UNAUTHENTICATED,
          /nonce does not match this cluster's join token/,
        );
        const cluster_id = leader.cluster_id.toString(16);
        const forged = await signToken(await hmacKey(new Uint8Array(32).fill(7)), {
          process_id,
          cluster_id,
          issued_at_ms: Date.now(),
        });
        await rejects(
          a.call("Finalize", { token: forged }),
          Status.UNAUTHENTICATED,
          /signature is not valid/,
        );
        await rejects(
          b.sync().send({ token: forged, ...healthy_running }),
          Status.UNAUTHENTICATED,
          /signature is not valid/,
        );
        const foreign = await signToken(await hmacKey(new Uint8Array(32).fill(9)), {
          process_id,
          cluster_id: "abc123",
          issued_at_ms: Date.now(),
        });
        await rejects(
          b.sync().send({ token: foreign, ...healthy_running }),
          Status.UNAUTHENTICATED,
          /belongs to cluster abc123/,
        );
        await rejects(b.sync().send({ ...healthy_running }), Status.UNAUTHENTICATED, /missing/);
        await rejects(
          c.call("Get", { process_id: "0123456789abcdef0123456789abcdef" }),
          Status.NOT_FOUND,
          /no process/,
        );
        await rejects(
          b.sync().send({ token: joined.token, running_state: 0, health_state: 1 }),
          Status.INVALID_ARGUMENT,
          /running_state is 0/,
        );
        await rejects(
          b.sync().send({ token: joined.token, ...healthy_running, health_state: 4 }),
          Status.INVALID_ARGUMENT,
          /health_state is 4/,
        );
        await rejects(
          a.call("Initialize", { name: "bad name!", nonce: JOIN_TOKEN }),
          Status.INVALID_ARGUMENT,
          /name is/,
        );
        assert.equal(leader.machine.revision, revision);
        assert.equal(await count(), processes);
      });

      await t.step("finalize removes the record and revokes the token", async () => {
        await a.call("Finalize", { token: joined.token });
        await rejects(c.call("Get", { process_id }), Status.NOT_FOUND, /no process/);
        await rejects(
          b.sync().send({ token: joined.token, ...healthy_running }),
          Status.UNAUTHENTICATED,
          /revoked/,
        );
        await eventually(
          "the watch saw the delete",
          () =>
            watch.events.some((r) =>
              (r.events ?? []).some((e) =>
                e.type === RegistryEventType.DELETE && e.process_id === process_id
              )
            ),
        );
        const puts = watch.events.flatMap((r) => r.events ?? [])
          .filter((e) => e.process_id === process_id && e.type === RegistryEventType.PUT)
          .map((e) => e.process!.running_state);
        assert.deepEqual(puts, [
          RunningState.STARTING,
          RunningState.RUNNING,
          RunningState.DRAINING,
        ]);
      });

      await t.step(
        "a lease revoked under a follower's stream is replaced by a later beat; same identity",
        async () => {
          const phoenix = await a.call("Initialize", { name: "phoenix", nonce: JOIN_TOKEN });
          const stream = a.sync();
          await stream.send({ token: phoenix.token, ...healthy_running, sequence: 1n });
          const key = new TextEncoder().encode(PROCESS_PREFIX + phoenix.process_id);
          const stored = () =>
            JSON.parse(new TextDecoder().decode(leader.machine.range(key).kvs[0].value)) as {
              lease_id: number;
              lost_at_ms: number;
            };
          const old_lease = stored().lease_id;
          const created = leader.machine.range(key).kvs[0].create_revision;
          await leader.write({ type: "lease_revoke", id: old_lease });
          // The follower answers from its view until it learns the lease is gone (from the
          // leader's renewal answer, or the record marked lost): then a beat writes.
          let sequence = 100n;
          await eventually("a beat that replaced the lease", async () => {
            const ack = await stream.send({ ...healthy_running, sequence: ++sequence });
            return ack.changed === true;
          });
          const now = stored();
          assert.notEqual(now.lease_id, old_lease);
          assert.equal(now.lost_at_ms, 0);
          assert.ok(leader.machine.leases().some((lease) => lease.id === now.lease_id));
          assert.equal(leader.machine.range(key).kvs[0].create_revision, created);
          const quiet = await stream.send({ ...healthy_running, sequence: ++sequence });
          assert.equal(quiet.changed, false, "the new lease is renewed without writes");
          stream.close();
        },
      );

      await t.step("a silent process is marked lost, then removed", async () => {
        const silent = await b.call("Initialize", {
          name: "mute",
          nonce: JOIN_TOKEN,
          ttl_ms: 1000,
        });
        await eventually("marked lost", async () => {
          const got = await c.call("Get", { process_id: silent.process_id });
          return got.process.health_state === HealthState.UNKNOWN;
        });
        await eventually("removed after the grace period", async () => {
          try {
            await c.call("Get", { process_id: silent.process_id });
            return false;
          } catch (error) {
            return error instanceof RpcError && error.code === Status.NOT_FOUND;
          }
        });
        const seen = () =>
          watch.events.flatMap((r) => r.events ?? [])
            .filter((e) => e.process_id === silent.process_id)
            .map((e) => e.type === RegistryEventType.DELETE ? "deleted" : e.process!.health_state);
        await eventually("the watch saw the removal", () => seen().includes("deleted"));
        assert.deepEqual(seen(), [HealthState.HEALTHY, HealthState.UNKNOWN, "deleted"]);
      });

      await t.step(
        "leader failover while 200 processes beat: none lost, none duplicated",
        async () => {
          const count = 200;
          const followers = [a, b];
          const identities = await Promise.all(
            Array.from({ length: count }, (_, i) =>
              followers[i % 2].call("Initialize", {
                name: `fleet-${i}`,
                nonce: JOIN_TOKEN,
                ttl_ms: 3000,
              })),
          );
          const failover_watch = a.watch(BigInt(follower_a.machine.revision + 1));
          let beating = true;
          const refused: string[] = [];
          // Each simulated process beats every 300 ms and reconnects to the other follower
          // when its stream fails (as the process client does); bounded by `beating`.
          const beat = async (i: number) => {
            let member = i % 2;
            let stream = followers[member].sync();
            let token: string | undefined = identities[i].token;
            while (beating) {
              try {
                await stream.send({ token, ...healthy_running });
                token = undefined;
              } catch (error) {
                const code = (error as { code?: number }).code;
                if (code === Status.UNAUTHENTICATED) refused.push(`${i}: ${error}`);
                member = 1 - member;
                stream = followers[member].sync();
                token = identities[i].token;
              }
              await new Promise((resolve) => setTimeout(resolve, 300));
            }
            stream.close();
          };
          const beaters = identities.map((_, i) => beat(i));
          await new Promise((resolve) => setTimeout(resolve, 1000));
          await leader.stop();
          await eventually(
            "a new leader",
            () =>
              [follower_a, follower_b].some((n) => n.is_leader) &&
              [follower_a, follower_b].every((n) => n.leader_client_address !== ""),
          );
          // Two TTLs under the new leader: any process it failed to keep alive would be lost.
          await new Promise((resolve) => setTimeout(resolve, 6000));
          beating = false;
          await Promise.all(beaters);
          assert.deepEqual(refused, []);
          const fleet = (await a.call("Query", {})).processes
            .filter((p: { name: string }) => p.name.startsWith("fleet-"));
          assert.equal(fleet.length, count);
          assert.equal(new Set(fleet.map((p: { process_id: string }) => p.process_id)).size, count);
          assert.ok(
            fleet.every((p: { health_state: number }) => p.health_state === HealthState.HEALTHY),
          );
          const lost = failover_watch.events.flatMap((r) => r.events ?? [])
            .filter((e) => e.process?.health_state === HealthState.UNKNOWN);
          assert.deepEqual(lost, []);
          failover_watch.cancel();
        },
      );
      watch.cancel();
    } finally {
      for (const made of clients) made.close();
      await Promise.all(nodes.map((node) => node.stop()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("members without a client address are named (Initialize waits for them, bounded)", () => {
  const member = (id: string, client_address: string) => ({ record: { id, client_address } });
  assert.deepEqual(
    membersWithoutAddress([member("n1", "127.0.0.1:1"), member("n2", ""), member("n3", "")]),
    ["n2", "n3"],
  );
  assert.deepEqual(membersWithoutAddress([member("n1", "127.0.0.1:1")]), []);
});
