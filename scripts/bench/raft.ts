/**
 * `deno task bench raft [--quick] [--json] [--seconds S] [--inflight 1,64,1024]`: a
 * three-node Raft cluster (three dedicated workers in this process) over loopback TCP, each
 * node with its durable log on the real disk (every Ready fdatasync'd before its messages are
 * sent), 256-byte entries proposed on the leader with a fixed number in flight.
 *
 * Figures per in-flight level: committed entries per second (entries_per_s), MB/s of entry
 * data, commit latency p50/p99/max in milliseconds (propose call to commit promise), and
 * leader fsyncs per second. A last row gives the disk's own rate of 4 KiB append + fdatasync
 * (one writer), the ceiling a single synced round trip cannot beat. Targets: >= 20,000 entries/s at 1,024 in flight; p99 < 20 ms at 64.
 *
 * @module
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { type RaftNodeHandle, startRaftNode } from "../../blueprint/raft/mod.ts";
import { BenchReport, type BenchRow, percentile, rssMiB } from "./report.ts";

const ENTRY_BYTES = 256;
const IDS = ["n1", "n2", "n3"];
const DEFAULT_INFLIGHT = [1, 64, 1024];
const LEADER_WAIT_LIMIT_MS = 30_000;

/** Runs the suite. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      seconds: { type: "string" },
      inflight: { type: "string" },
    },
  });
  const seconds = values.seconds ? Number(values.seconds) : values.quick ? 2 : 6;
  if (!(seconds > 0 && seconds <= 600)) {
    throw new RangeError(`--seconds must be in (0, 600], got ${values.seconds}`);
  }
  const levels = values.inflight ? values.inflight.split(",").map(Number) : DEFAULT_INFLIGHT;
  if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 8192)) {
    throw new RangeError(`--inflight must list integers in [1, 8192], got ${values.inflight}`);
  }
  const report = new BenchReport(values.json);
  const dir = await Deno.makeTempDir({ prefix: "bench_raft_" });
  const nodes: RaftNodeHandle[] = [];
  try {
    for (const id of IDS) {
      nodes.push(
        await startRaftNode(
          {
            id,
            cluster_id: "bench",
            data_dir: join(dir, id),
            listen: { hostname: "127.0.0.1", port: 0 },
            peers: {},
            initial_members: IDS,
            tick_ms: 50,
            election_tick: 10,
            seed: nodes.length + 1,
          },
          { max_pending_proposals: 16_384 },
        ),
      );
    }
    for (const a of nodes) for (const b of nodes) if (a !== b) a.setPeer(b.id, b.address);
    const leader = await waitForLeader(nodes);
    // Warm up: JIT, connections, segment creation.
    await measure(leader, 64, 0.5);
    for (const inflight of levels) {
      const fsyncs_before = await leaderSyncs(leader);
      const result = await measure(leader, inflight, seconds);
      const fsyncs = (await leaderSyncs(leader)) - fsyncs_before;
      const sorted = result.latencies_ms.sort((a, b) => a - b);
      report.add({
        bench: `propose_${ENTRY_BYTES}b_inflight_${inflight}`,
        impl: "draft",
        entries_per_s: Math.round(result.committed / result.elapsed_s),
        mb_per_s: (result.committed * ENTRY_BYTES) / result.elapsed_s / 1e6,
        p50_ms: percentile(sorted, 50),
        p99_ms: percentile(sorted, 99),
        max_ms: sorted[sorted.length - 1],
        leader_fsyncs_per_s: Math.round(fsyncs / result.elapsed_s),
        failed: result.failed,
        rss_mib: rssMiB(),
      });
    }
    await Promise.all(nodes.map((node) => node.stop()));
    report.add(await measureDisk(dir, values.quick ? 100 : 300));
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    await Deno.remove(dir, { recursive: true });
  }
  report.finish();
}

async function waitForLeader(nodes: RaftNodeHandle[]): Promise<RaftNodeHandle> {
  for (let waited = 0; waited < LEADER_WAIT_LIMIT_MS; waited += 20) {
    const leader = nodes.find((n) => n.is_leader);
    if (leader && nodes.every((n) => n.leader === leader.id)) return leader;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no leader elected within ${LEADER_WAIT_LIMIT_MS} ms`);
}

async function leaderSyncs(leader: RaftNodeHandle): Promise<number> {
  const status = await leader.status();
  return (status.log_stats as { syncs: number }).syncs;
}

interface Measurement {
  committed: number;
  failed: number;
  elapsed_s: number;
  latencies_ms: number[];
}

/** Keeps `inflight` proposals outstanding for `seconds`, then drains. */
async function measure(
  leader: RaftNodeHandle,
  inflight: number,
  seconds: number,
): Promise<Measurement> {
  const data = new Uint8Array(ENTRY_BYTES);
  crypto.getRandomValues(data);
  const latencies_ms: number[] = [];
  let committed = 0;
  let failed = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    // Bounded by the deadline: each iteration waits for one commit.
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await leader.propose(data);
        latencies_ms.push(performance.now() - t0);
        committed++;
      } catch (err) {
        failed++;
        if (failed > 1000) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return { committed, failed, elapsed_s: (performance.now() - start) / 1000, latencies_ms };
}

/** The disk's rate and latency of a 4 KiB append followed by fdatasync, one at a time. */
async function measureDisk(dir: string, count: number): Promise<BenchRow> {
  const path = join(dir, "disk_probe");
  const fd = fs.openSync(path, "w");
  const block = new Uint8Array(4096);
  const latencies_ms: number[] = [];
  const start = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      fs.writeSync(fd, block);
      await new Promise<void>((resolve, reject) =>
        fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))
      );
      latencies_ms.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(path);
  }
  const sorted = latencies_ms.sort((a, b) => a - b);
  return {
    bench: "disk_4k_append_fdatasync",
    impl: "disk",
    ops_per_s: Math.round(count / ((performance.now() - start) / 1000)),
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    max_ms: sorted[sorted.length - 1],
  };
}
