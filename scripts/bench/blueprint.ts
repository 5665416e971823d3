/**
 * `deno task bench blueprint [--quick] [--json] [--seconds S] [--clients 1,64,256]
 * [--only blueprint|etcd]`: a 3-node Blueprint cluster on loopback (real processes, data on
 * the real disk) driven through the Blueprint client; where `etcd` is on the PATH (Debian
 * package `etcd-server`), a 3-member etcd cluster on loopback driven by the same client code
 * and the same load in the same run, and the ratios.
 *
 * Load: N concurrent callers in this process share one client (one HTTP/2 connection to the
 * leader, found the same way for both: Maintenance.Status then MemberList). Puts of 8-byte
 * keys (random over 10,000) with 256-byte values at each N; then linearizable and
 * serializable gets of those keys at the largest N up to 64. Figures: operations per second,
 * latency p50/p99 in ms (call to answer), errors. Both servers acknowledge a put after a
 * quorum has it on disk (their defaults). The load generator is one process on the same 2
 * cores as the servers, so it bounds both; the ratio is what compares.
 *
 * Aims (issue 4): puts at 256 clients at least 2x etcd's with p99 no worse; gets at least
 * equal.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BlueprintClient, type ClusterFlavor, LocalCluster } from "../../blueprint/client/mod.ts";
import { BenchReport, type BenchRow, percentile } from "./report.ts";

const KEY_SPACE = 10_000;
const VALUE_BYTES = 256;
const DEFAULT_CLIENTS = [1, 64, 256];
const READ_CLIENTS_MAX = 64;
const WARMUP_OPS = 200;

interface Phase {
  readonly bench: string;
  readonly clients: number;
  readonly operation: (client: BlueprintClient, key: string) => Promise<unknown>;
}

interface PhaseResult {
  readonly ops_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly errors: number;
}

/** Runs the suite. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      seconds: { type: "string" },
      clients: { type: "string" },
      only: { type: "string" },
    },
  });
  const seconds = values.seconds ? Number(values.seconds) : values.quick ? 2 : 5;
  if (!(seconds > 0 && seconds <= 600)) {
    throw new RangeError(`--seconds must be in (0, 600], got ${values.seconds}`);
  }
  const levels = values.clients ? values.clients.split(",").map(Number) : DEFAULT_CLIENTS;
  if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 4096)) {
    throw new RangeError(`--clients must list integers in [1, 4096], got ${values.clients}`);
  }
  const flavors = await chooseFlavors(values.only);
  const report = new BenchReport(values.json);
  const results = new Map<string, PhaseResult>();
  for (const flavor of flavors) {
    for (const [bench, result] of await runFlavor(flavor, levels, seconds * 1000)) {
      const impl = flavor === "blueprint" ? "draft" : "etcd";
      results.set(`${bench}|${impl}`, result);
      report.add({ bench, impl, ...result } as BenchRow);
    }
  }
  if (flavors.length === 2) {
    for (const row of [...report.rows]) {
      if (row.impl !== "draft") continue;
      const peer = results.get(`${row.bench}|etcd`);
      if (!peer) continue;
      report.add({
        bench: row.bench,
        impl: "draft/etcd",
        ops_per_s: round(Number(row.ops_per_s) / peer.ops_per_s),
        p50_ms: round(Number(row.p50_ms) / peer.p50_ms),
        p99_ms: round(Number(row.p99_ms) / peer.p99_ms),
      });
    }
  }
  report.finish();
}

async function chooseFlavors(only: string | undefined): Promise<ClusterFlavor[]> {
  if (only !== undefined && only !== "blueprint" && only !== "etcd") {
    throw new RangeError(`--only is ${only}; allowed: blueprint, etcd`);
  }
  const has_etcd = await new Deno.Command("sh", { args: ["-c", "command -v etcd"] }).output()
    .then((output) => output.success, () => false);
  if (only === "etcd" && !has_etcd) throw new Error("--only etcd: etcd is not on the PATH");
  if (!has_etcd && only === undefined) {
    console.error("bench blueprint: etcd not on the PATH (apt-get install etcd-server); no peer");
  }
  if (only !== undefined) return [only];
  return has_etcd ? ["blueprint", "etcd"] : ["blueprint"];
}

async function runFlavor(
  flavor: ClusterFlavor,
  levels: number[],
  duration_ms: number,
): Promise<[string, PhaseResult][]> {
  const data_dir = await Deno.makeTempDir({ prefix: `bench-${flavor}-` });
  const cluster = await LocalCluster.start({ flavor, data_dir });
  const client = await BlueprintClient.connect({
    endpoints: cluster.endpoints,
    deadline_ms: 10_000,
    attempt_timeout_ms: 10_000,
  });
  try {
    await cluster.waitForLeader(30_000);
    await client.findLeader();
    const value = new Uint8Array(VALUE_BYTES).fill(0x61);
    const put = (c: BlueprintClient, key: string) => c.put(key, value);
    await runPhase(client, { bench: "warmup", clients: 8, operation: put }, WARMUP_OPS);
    const phases: Phase[] = levels.map((clients) => ({
      bench: `put c=${clients}`,
      clients,
      operation: put,
    }));
    const read_clients = Math.min(READ_CLIENTS_MAX, Math.max(...levels));
    phases.push({
      bench: `get linearizable c=${read_clients}`,
      clients: read_clients,
      operation: (c, key) => c.get(key),
    });
    phases.push({
      bench: `get serializable c=${read_clients}`,
      clients: read_clients,
      operation: (c, key) => c.get(key, { serializable: true }),
    });
    const results: [string, PhaseResult][] = [];
    for (const phase of phases) {
      results.push([phase.bench, await runPhase(client, phase, Infinity, duration_ms)]);
    }
    return results;
  } finally {
    client.close();
    await cluster.stop();
    await Deno.remove(data_dir, { recursive: true }).catch(() => {});
  }
}

/** Runs `phase` with its concurrent callers until `max_ops` or `duration_ms`, whichever first. */
async function runPhase(
  client: BlueprintClient,
  phase: Phase,
  max_ops: number,
  duration_ms = 60_000,
): Promise<PhaseResult> {
  const latencies_ms: number[] = [];
  let errors = 0;
  let started = 0;
  const start = performance.now();
  const end = start + duration_ms;
  const caller = async () => {
    while (started < max_ops && performance.now() < end) {
      started++;
      const key = `k${String(Math.floor(Math.random() * KEY_SPACE)).padStart(7, "0")}`;
      const sent = performance.now();
      try {
        await phase.operation(client, key);
        latencies_ms.push(performance.now() - sent);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: phase.clients }, caller));
  const elapsed_s = (performance.now() - start) / 1000;
  latencies_ms.sort((a, b) => a - b);
  return {
    ops_per_s: Math.round(latencies_ms.length / elapsed_s),
    p50_ms: round(percentile(latencies_ms, 50)),
    p99_ms: round(percentile(latencies_ms, 99)),
    errors,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
