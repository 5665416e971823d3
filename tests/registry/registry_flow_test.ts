/**
 * The registry against a real 3-member Blueprint cluster: the whole flow through the process
 * client, a refused nonce, the example process from the CLI (listed, killed -> lost -> removed,
 * Ctrl-C -> finalized), and failover when the process's member is killed (never lost).
 *
 * One cluster serves every step, to stay inside the test budget.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LocalCluster } from "../../blueprint/client/mod.ts";
import {
  DraftProcess,
  type RegistryChange,
  RegistryClient,
  type RegistryWatch,
} from "../../blueprint/process/mod.ts";
import { RpcError, Status } from "../../shared/rpc/mod.ts";
import { eventually, SKIP_REASON } from "../cluster/mod.ts";

const NONCE = "registry-test-join-token";
const TTL_MS = 2_000;
const LOST_GRACE_MS = 1_000;
/** Longer for the failover step: a leader election on a loaded machine must fit in it. */
const SURVIVOR_TTL_MS = 4_000;
const MOD_TS = fileURLToPath(new URL("../../mod.ts", import.meta.url));

/** Collects every change a watch delivers. */
function collect(registry: RegistryClient): { changes: RegistryChange[]; watch: RegistryWatch } {
  const changes: RegistryChange[] = [];
  const watch = registry.watch(0n, (batch) => changes.push(...batch));
  return { changes, watch };
}

/** Starts `mod.ts process` as a child process. */
function spawnExampleProcess(name: string, endpoints: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MOD_TS,
      "process",
      "--name",
      name,
      "--nonce",
      NONCE,
      "--endpoints",
      endpoints.join(","),
      "--ttl-ms",
      String(TTL_MS),
      "--poll-ms",
      "200",
      "--label",
      "role=example",
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Runs `mod.ts ARGS` and returns its stdout; fails with its stderr on a non-zero exit. */
async function draft(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD_TS, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, `draft ${args.join(" ")}: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

async function recordOf(registry: RegistryClient, process_id: string) {
  try {
    return (await registry.get(process_id)).record;
  } catch (error) {
    if (error instanceof RpcError && error.code === Status.NOT_FOUND) return undefined;
    throw error;
  }
}

Deno.test({
  name: "registry: the whole flow, the example process, and failover on a real cluster",
  ignore: SKIP_REASON !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const data_dir = await Deno.makeTempDir({ prefix: "draft-registry-" });
    const cluster = await LocalCluster.start({
      data_dir,
      extra_args: ["--join-token", NONCE, "--registry-lost-grace-ms", String(LOST_GRACE_MS)],
    });
    const registry = await RegistryClient.connect(cluster.endpoints);
    let watch: RegistryWatch | undefined;
    const joined: DraftProcess[] = [];
    let failed = true;
    try {
      const leader = await cluster.waitForLeader(20_000);
      const collected = collect(registry);
      watch = collected.watch;
      const changes = collected.changes;

      await t.step(
        "initialize, synchronize, state visible to Query and Watch, finalize",
        async () => {
          const me = await DraftProcess.join({
            entrypoints: cluster.endpoints,
            name: "flow",
            nonce: NONCE,
            metadata: { zone: "a" },
            advertise_address: "127.0.0.1:7001",
            poll_interval_ms: 200,
            ttl_ms: TTL_MS,
          });
          joined.push(me);
          const id = me.identity.process_id;
          await eventually("the first ack", () => me.connection === "synchronized");
          // Each member publishes its client address through Raft once it knows the leader;
          // right after the cluster forms an ack may still lack one, and a later ack has it.
          await eventually(
            "an ack with every member's client address",
            () => me.cluster.members.every((member) => member.client_addresses.length > 0),
          );
          assert.equal(me.cluster.members.length, 3, "acks carry every member");
          assert.ok(me.cluster.leader_id !== "", "acks carry the leader");
          assert.ok(cluster.endpoints.includes(me.cluster.leader_address), "the leader's address");
          for (const member of me.cluster.members) {
            assert.ok(member.client_addresses.some((a) => cluster.endpoints.includes(a)));
          }
          me.setRunningState("running");
          await eventually("Query sees it running", async () => {
            const { records } = await registry.query({ name: "flow", running_states: ["running"] });
            return records.length === 1 && records[0].process_id === id;
          });
          me.setHealth("degraded");
          await eventually("Query filters by health", async () => {
            const { records } = await registry.query({
              health: ["degraded"],
              labels: { zone: "a" },
            });
            return records.some((r) => r.process_id === id);
          });
          const record = (await registry.get(id)).record;
          assert.equal(record.advertise_address, "127.0.0.1:7001");
          assert.deepEqual(record.metadata, { zone: "a" });
          await me.leave();
          await eventually(
            "the record is gone",
            async () => (await recordOf(registry, id)) === undefined,
          );
          await eventually("Watch saw every step", () => {
            const mine = changes.filter((c) => c.process_id === id);
            return mine.some((c) => c.record?.running_state === "running") &&
              mine.some((c) => c.record?.health === "degraded") &&
              mine.at(-1)?.type === "delete";
          });
          const revisions = changes.map((c) => c.revision);
          assert.deepEqual(revisions, [...revisions].sort((a, b) => (a < b ? -1 : 1)), "in order");
        },
      );

      await t.step("a wrong nonce is refused and writes nothing", async () => {
        const before = await registry.query({});
        await assert.rejects(
          DraftProcess.join({ entrypoints: cluster.endpoints, name: "intruder", nonce: "guess" }),
          (error: unknown) => error instanceof RpcError && error.code === Status.UNAUTHENTICATED,
        );
        const after = await registry.query({});
        assert.deepEqual(after.records, before.records);
      });

      await t.step("the example process: listed, killed -> lost -> removed", async () => {
        const child = spawnExampleProcess("victim", cluster.endpoints);
        let id = "";
        await eventually("the example process is running", async () => {
          const { records } = await registry.query({ name: "victim", running_states: ["running"] });
          id = records[0]?.process_id ?? "";
          return id !== "" && records[0].metadata.role === "example";
        });
        child.kill("SIGKILL");
        await child.status;
        await child.stdout.cancel();
        await child.stderr.cancel();
        await eventually(
          "its record is lost",
          async () => (await recordOf(registry, id))?.health === "lost",
        );
        await eventually("then removed", async () => (await recordOf(registry, id)) === undefined);
        const mine = () => changes.filter((c) => c.process_id === id);
        const seen = () =>
          `${changes.length} changes, last at ${changes.at(-1)?.revision}; for ${id}: ` +
          JSON.stringify(mine().map((c) => [`${c.revision}`, c.type, c.record?.health]));
        await eventually("Watch saw the delete", () => mine().at(-1)?.type === "delete")
          .catch((error) => {
            throw new Error(`${error.message}; ${seen()}`);
          });
        assert.ok(
          mine().some((c) => c.record?.health === "lost"),
          `watchers saw it lost; ${seen()}`,
        );
      });

      await t.step("the example process leaves on Ctrl-C", async () => {
        const child = spawnExampleProcess("polite", cluster.endpoints);
        let id = "";
        await eventually("the example process is running", async () => {
          const { records } = await registry.query({ name: "polite", running_states: ["running"] });
          id = records[0]?.process_id ?? "";
          return id !== "";
        });
        const endpoints = cluster.endpoints.join(",");
        const listed = await draft([
          "registry",
          "list",
          "--name",
          "polite",
          "--json",
          "--endpoints",
          endpoints,
        ]);
        const rows = listed.trim().split("\n").map((line) => JSON.parse(line));
        assert.deepEqual(rows.map((r) => [r.process_id, r.state, r.labels]), [[
          id,
          "running",
          "role=example",
        ]]);
        const table = await draft(["registry", "list", "--endpoints", endpoints]);
        assert.match(table, /^PROCESS_ID\s+NAME\s+STATE\s+HEALTH/);
        assert.match(table, new RegExp(`${id}\\s+polite\\s+running\\s+healthy`));
        const shown = JSON.parse(
          await draft(["registry", "show", id, "--json", "--endpoints", endpoints]),
        );
        assert.equal(shown.name, "polite");
        assert.deepEqual(shown.metadata, { role: "example" });
        child.kill("SIGINT");
        const { code, stdout } = await child.output();
        const text = new TextDecoder().decode(stdout);
        assert.equal(code, 0, text);
        assert.match(text, /"event":"left"/);
        assert.equal(await recordOf(registry, id), undefined, "finalized before it exited");
        assert.ok(!changes.some((c) => c.process_id === id && c.record?.health === "lost"));
      });

      await t.step("its member is killed: it fails over within its TTL, never lost", async () => {
        const follower = cluster.members.find((m) => m.name !== leader.name)!;
        // Joined through the follower alone: the other members are known from the acks only.
        const me = await DraftProcess.join({
          entrypoints: [follower.client_address],
          name: "survivor",
          nonce: NONCE,
          poll_interval_ms: 200,
          ttl_ms: SURVIVOR_TTL_MS,
          backoff_base_ms: 50,
          backoff_max_ms: 200,
        });
        joined.push(me);
        const id = me.identity.process_id;
        me.setRunningState("running");
        await eventually(
          "running",
          async () =>
            me.connection === "synchronized" &&
            (await recordOf(registry, id))?.running_state === "running",
        );
        // Its member: the follower, unless a slow ack already moved it elsewhere.
        const victim = cluster.members.find((m) => m.client_address === me.endpoint)!;
        await cluster.kill(victim.name);
        await eventually(
          "synchronized with another member",
          () => me.connection === "synchronized" && me.endpoint !== victim.client_address,
        );
        me.setHealth("degraded"); // a change through the new member
        await eventually(
          "the change is recorded",
          async () => (await recordOf(registry, id))?.health === "degraded",
        );
        // Stay past two TTLs: a lapse would have shown as lost by now.
        await new Promise((resolve) => setTimeout(resolve, 2 * SURVIVOR_TTL_MS));
        assert.equal((await recordOf(registry, id))?.health, "degraded");
        assert.deepEqual(me.identity.process_id, id);
        const lost = changes.filter((c) => c.process_id === id && c.record?.health === "lost");
        assert.deepEqual(lost, [], "the record never showed lost");
        await me.leave();
      });
      watch.close();
      const watch_error = await watch.done;
      if (watch_error) throw new Error(`the registry watch failed: ${watch_error}`);
      failed = false;
    } finally {
      watch?.close();
      for (const me of joined) await me.leave().catch(() => {});
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
