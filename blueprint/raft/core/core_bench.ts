/**
 * Benchmarks of the pure core: the wire codec and replication through three in-memory nodes
 * (no disk, no sockets: the ceiling the driver and transport work under). Runnable alone,
 * `./scripts/deno run -A blueprint/raft/core/core_bench.ts [--quick] [--json]`, or from a
 * bench suite through {@link run}.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BenchReport } from "../../../scripts/bench/report.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { TestCluster } from "./test_cluster.ts";
import { EntryType, type Message, MessageType } from "./types.ts";

const ENTRY_BYTES = 100;

function appMessage(entry_count: number): Message {
  const entries = Array.from({ length: entry_count }, (_, i) => ({
    term: 7,
    index: 1000 + i,
    type: EntryType.Normal,
    data: new Uint8Array(ENTRY_BYTES),
  }));
  return {
    type: entry_count === 0 ? MessageType.Heartbeat : MessageType.App,
    from: "n1",
    to: "n2",
    term: 7,
    log_term: 7,
    index: 999,
    entries,
    commit: 990,
    reject: false,
    reject_hint: 0,
  };
}

function benchCodec(report: BenchReport, iterations: number): void {
  for (const entry_count of [0, 64]) {
    const message = appMessage(entry_count);
    const n = entry_count === 0 ? iterations * 10 : iterations;
    let bytes = encodeMessage(message);
    let started = performance.now();
    for (let i = 0; i < n; i++) bytes = encodeMessage(message);
    const encode_s = (performance.now() - started) / 1000;
    started = performance.now();
    for (let i = 0; i < n; i++) decodeMessage(bytes);
    const decode_s = (performance.now() - started) / 1000;
    report.add({
      bench: entry_count === 0 ? "codec heartbeat" : `codec app ${entry_count}x${ENTRY_BYTES}B`,
      impl: "draft",
      size_bytes: bytes.length,
      encode_msgs_per_s: Math.round(n / encode_s),
      decode_msgs_per_s: Math.round(n / decode_s),
    });
  }
}

function benchReplication(report: BenchReport, rounds: number): void {
  for (const batch of [1, 64]) {
    const cluster = new TestCluster(["a", "b", "c"], { max_inflight_msgs: 256 });
    cluster.elect("a");
    const data = new Uint8Array(ENTRY_BYTES);
    const n = batch === 1 ? rounds : Math.ceil(rounds / 8);
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      cluster.node("a").proposeBatch(Array.from({ length: batch }, () => data));
      cluster.stabilize();
      // Keep memory flat: compact every member and forget what the test pump recorded.
      if (i % 256 === 255) compactAll(cluster);
    }
    const elapsed_s = (performance.now() - started) / 1000;
    report.add({
      bench: `replicate 3 nodes batch ${batch}`,
      impl: "draft",
      entries_per_s: Math.round((n * batch) / elapsed_s),
    });
  }
}

function compactAll(cluster: TestCluster): void {
  cluster.trace.length = 0;
  for (const member of cluster.members.values()) {
    const applied = member.node.status().applied;
    member.storage.createSnapshot(applied, member.node.confState(), new Uint8Array(0));
    member.storage.compact(applied);
    member.applied.length = 0;
  }
}

/** Run the core benchmarks; `--quick` shortens them, `--json` prints JSON lines. */
export function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  const report = new BenchReport(values.json);
  const scale = values.quick ? 1 : 10;
  benchCodec(report, 2_000 * scale);
  benchReplication(report, 2_000 * scale);
  report.finish();
  return Promise.resolve();
}

if (import.meta.main) await run(Deno.args);
