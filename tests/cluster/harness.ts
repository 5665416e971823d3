/**
 * The cluster-test harness: real server processes on free loopback ports with temporary data
 * directories (through {@link LocalCluster}: kill -9, SIGSTOP/SIGCONT, restart, wipe, add and
 * remove members), plus the helpers the tests share.
 *
 * `DRAFT_CLUSTER_FLAVOR=etcd` runs the same tests against etcd (to check the tests
 * themselves); the default is Blueprint.
 *
 * @module
 */
import {
  BlueprintClient,
  type ClientOptions,
  type ClusterFlavor,
  LocalCluster,
} from "../../blueprint/client/mod.ts";
/** The shared seeded generator (mulberry32): numbers in [0, 1). */
export { seededRandom } from "../../shared/random/mod.ts";

/** The server the cluster tests run: `DRAFT_CLUSTER_FLAVOR`, default `blueprint`. */
export const CLUSTER_FLAVOR: ClusterFlavor = (() => {
  const flavor = Deno.env.get("DRAFT_CLUSTER_FLAVOR") ?? "blueprint";
  if (flavor !== "blueprint" && flavor !== "etcd") {
    throw new Error(`DRAFT_CLUSTER_FLAVOR is ${flavor}; allowed: blueprint, etcd`);
  }
  return flavor;
})();

/** Why the cluster tests cannot run here (they are then ignored), or undefined. */
export const SKIP_REASON: string | undefined = await skipReason();

async function skipReason(): Promise<string | undefined> {
  if (CLUSTER_FLAVOR === "etcd") {
    const found = await new Deno.Command("sh", { args: ["-c", "command -v etcd"] }).output()
      .catch(() => undefined);
    return found?.success ? undefined : "etcd is not on the PATH (Debian package etcd-server)";
  }
  const node = new URL("../../blueprint/node/mod.ts", import.meta.url);
  try {
    await Deno.stat(node);
    return undefined;
  } catch {
    return "the Blueprint node (blueprint/node/mod.ts) is not built yet";
  }
}

/** Snapshot every this many entries, so a wiped member needs a snapshot to catch up. */
export const SNAPSHOT_EVERY_ENTRIES = 50;

function flavorArgs(flavor: ClusterFlavor, snapshot_every: number | undefined): string[] {
  if (snapshot_every === undefined) return [];
  return flavor === "etcd"
    ? ["--snapshot-count", String(snapshot_every)]
    : ["--snapshot-every", String(snapshot_every)];
}

/** Options of {@link withCluster}. */
export interface WithClusterOptions {
  /** Snapshot every this many entries (default: the server's own default). */
  readonly snapshot_every?: number;
}

/** A started test cluster and a client of all its members. */
export interface TestCluster {
  /** The processes. */
  readonly cluster: LocalCluster;
  /** A client of every member's endpoint. */
  readonly client: BlueprintClient;
  /** Makes another client (closed with the cluster). */
  connect(options?: Partial<ClientOptions>): Promise<BlueprintClient>;
}

/**
 * Starts a 3-member cluster in a temporary directory, runs `body`, and stops it. On failure
 * the directory is kept and each member's log tail is printed.
 *
 * @param name the test's name (the directory prefix)
 * @param options server settings
 * @param body the test
 */
export async function withCluster(
  name: string,
  options: WithClusterOptions,
  body: (test: TestCluster) => Promise<void>,
): Promise<void> {
  const data_dir = await Deno.makeTempDir({ prefix: `draft-${name}-` });
  const cluster = await LocalCluster.start({
    flavor: CLUSTER_FLAVOR,
    data_dir,
    extra_args: flavorArgs(CLUSTER_FLAVOR, options.snapshot_every),
  });
  const clients: BlueprintClient[] = [];
  const connect = async (options: Partial<ClientOptions> = {}) => {
    const client = await BlueprintClient.connect({
      endpoints: cluster.endpoints,
      deadline_ms: 15_000,
      max_attempts: 20,
      ...options,
    });
    clients.push(client);
    return client;
  };
  let failed = true;
  try {
    await cluster.waitForLeader(20_000);
    await body({ cluster, client: await connect(), connect });
    failed = false;
  } finally {
    for (const client of clients) client.close();
    await cluster.stop();
    if (failed) {
      for (const member of cluster.members) {
        console.error(
          `--- ${member.name} (${member.log_file}):\n${await cluster.logTail(member.name, 30)}`,
        );
      }
      console.error(`cluster data kept in ${data_dir}`);
    } else {
      await Deno.remove(data_dir, { recursive: true });
    }
  }
}

/**
 * Polls `condition` every 50 ms until it holds, up to `limit_ms` (a liveness bound, not a
 * timing assertion); throws naming what was awaited and the last error seen.
 *
 * @param what what is awaited, for the message
 * @param condition the check; a throw counts as "not yet"
 * @param limit_ms the bound
 */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  limit_ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + limit_ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      if (await condition()) return;
      last = "condition false";
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up after ${limit_ms} ms waiting for: ${what} (last: ${last})`);
}

/** The seed of a randomized test: `DRAFT_TEST_SEED`, or a fresh one. Printed on failure. */
export function testSeed(): number {
  const given = Deno.env.get("DRAFT_TEST_SEED");
  if (given !== undefined) {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`DRAFT_TEST_SEED is ${given}; need an integer`);
    }
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/**
 * Runs a test step and throws when it fails, so later steps (which build on it) do not run
 * and the cluster's logs are printed.
 *
 * @param t the test context
 * @param name the step's name
 * @param fn the step
 */
export async function mustStep(
  t: Deno.TestContext,
  name: string,
  fn: () => Promise<void>,
): Promise<void> {
  if (!(await t.step(name, fn))) throw new Error(`step failed: ${name}`);
}
