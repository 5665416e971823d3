/**
 * `deno task bench registry [--quick] [--json] [--sizes 500,2000,5000] [--seconds S]
 * [--workers K]`: Blueprint's service registry under N simulated Draft processes.
 *
 * For each N a fresh 3-member cluster starts on loopback (real `blueprint` processes, data on
 * the real disk, `--join-token`). K load processes (Deno subprocesses of this file, 2 for
 * N <= 500, else 4) each host N/K {@link DraftProcess} instances sharing one
 * {@link RegistryTransport} (one connection per member), joined through the three members in
 * turn and reporting every 1 s. Once all have joined, a settle pause, then a measured window.
 *
 * Figures per member: CPU as cores used (utime+stime from /proc/PID/stat over the window,
 * divided by the window) and RSS at the end of the window (VmRSS), leader marked. Per N: the
 * leader's cores, the largest RSS, and ack latency p50/p99: from each report handed to the
 * Synchronize stream to its ack, measured by wrapping the transport (acks come in order, one
 * per report, so a FIFO of send times per stream pairs them). The load processes run on the
 * same 2 cores as the members, so their CPU is reported too (`load_cores`, and the busiest
 * one's `load_max_worker_cores`: near 1.0 its event loop, not the cluster, sets the latency).
 * Member rows also give the ack latency of the streams that member serves (a follower answers
 * unchanged beats itself and renews their leases with the leader in batches, so leader and
 * follower streams should look alike). `acks_per_s` above `expected_per_s` means the cluster
 * was draining a backlog; `not_synced` counts processes without a live stream at the end of
 * the window. The other jobs on the machine set the latency too: `loadavg` says how busy it was.
 *
 * `--profile DIR` writes V8 CPU profiles of the measured window (`.cpuprofile`, open them in
 * Chrome DevTools): each member runs through a small wrapper module that profiles between two
 * SIGUSR2 signals, and each load process profiles between its `measure` and `stop` commands.
 *
 * Aim (issue 5): 5,000 processes with the leader under half a core and p99 ack under 50 ms.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Session } from "node:inspector";
import { join, resolve } from "node:path";
import { LocalCluster } from "../../blueprint/client/mod.ts";
import {
  type ClusterDetails,
  DraftProcess,
  type InitializeRequest,
  type InitializeResult,
  type ProcessIdentity,
  type ProcessReport,
  type ProcessTransport,
  RegistryTransport,
  type SyncStream,
  type SyncStreamHandlers,
} from "../../blueprint/process/mod.ts";
import { BenchReport, type BenchRow, percentile } from "./report.ts";

const NONCE = "registry-bench-join-token";
const FULL_SIZES = [500, 2_000, 5_000];
const QUICK_SIZES = [100, 500];
const MAX_PROCESSES = 20_000;
const MAX_WORKERS = 8;
const POLL_INTERVAL_MS = 1_000;
const TTL_MS = 10_000;
/** Concurrent Initialize calls per load process: joining is a Raft write each. */
const JOIN_CONCURRENCY = 16;
/** Pause after the last join so every process is in its steady 1 s rhythm. */
const SETTLE_MS = 2_000;
const JOIN_TIMEOUT_MS = 600_000;
const REPORT_TIMEOUT_MS = 60_000;
/** Bounds the latency samples one load process keeps (5,000 processes x 60 s / 4 workers). */
const MAX_SAMPLES_PER_WORKER = 100_000;
const MAX_LINE_CHARS = 16 * 1024 * 1024;

/** Runs the suite. */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      sizes: { type: "string" },
      seconds: { type: "string" },
      workers: { type: "string" },
      profile: { type: "string" },
    },
  });
  const sizes = values.sizes
    ? values.sizes.split(",").map(Number)
    : values.quick
    ? QUICK_SIZES
    : FULL_SIZES;
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_PROCESSES)) {
    throw new RangeError(
      `--sizes must list integers in [1, ${MAX_PROCESSES}], got ${values.sizes}`,
    );
  }
  const window_s = values.seconds ? Number(values.seconds) : values.quick ? 5 : 10;
  if (!(window_s > 0 && window_s <= 600)) {
    throw new RangeError(`--seconds must be in (0, 600], got ${values.seconds}`);
  }
  const fixed_workers = values.workers === undefined ? undefined : Number(values.workers);
  if (
    fixed_workers !== undefined &&
    !(Number.isInteger(fixed_workers) && fixed_workers >= 1 && fixed_workers <= MAX_WORKERS)
  ) {
    throw new RangeError(
      `--workers must be an integer in [1, ${MAX_WORKERS}], got ${values.workers}`,
    );
  }
  const profile_dir = values.profile === undefined ? undefined : resolve(values.profile);
  if (profile_dir !== undefined) await Deno.mkdir(profile_dir, { recursive: true });
  const report = new BenchReport(values.json);
  for (const processes of sizes) {
    const workers = Math.min(processes, fixed_workers ?? (processes <= 500 ? 2 : 4));
    for (const row of await runSize(processes, workers, window_s * 1000, profile_dir)) {
      report.add(row);
    }
  }
  report.finish();
}

/** What a load process sends back after the window. */
interface WorkerResult {
  /** Ack latencies in ms (0.01 ms resolution) by the member endpoint of the stream. */
  readonly latencies_ms: Record<string, number[]>;
  /** Acks seen in the window. */
  readonly acks: number;
  /** Streams that ended (error or close) in the window: reconnects. */
  readonly stream_ends: number;
  /** Processes not synchronized at the end of the window. */
  readonly not_synchronized: number;
}

interface MemberSample {
  readonly name: string;
  readonly pid: number;
  readonly cpu_ticks: number;
}

async function runSize(
  processes: number,
  workers: number,
  window_ms: number,
  profile_dir: string | undefined,
): Promise<BenchRow[]> {
  const data_dir = await Deno.makeTempDir({ prefix: "bench-registry-" });
  const load: LoadProcess[] = [];
  let cluster: LocalCluster | undefined;
  try {
    const blueprint_module = profile_dir === undefined
      ? undefined
      : await writeProfilingWrapper(data_dir, join(profile_dir, `member-n${processes}`));
    cluster = await LocalCluster.start({
      data_dir,
      extra_args: ["--join-token", NONCE],
      blueprint_module,
    });
    const leader = await cluster.waitForLeader(30_000);
    const endpoints = cluster.endpoints.join(",");
    const join_started = performance.now();
    for (let w = 0; w < workers; w++) {
      const share = Math.floor(processes / workers) + (w < processes % workers ? 1 : 0);
      const profile = profile_dir === undefined
        ? undefined
        : join(profile_dir, `load-n${processes}-w${w}.cpuprofile`);
      load.push(LoadProcess.spawn(endpoints, share, w, profile));
    }
    const joined = await Promise.all(load.map((l) => l.waitJoined()));
    const join_s = (performance.now() - join_started) / 1000;
    const join_failures = joined.reduce((sum, j) => sum + j.failed, 0);
    await delay(SETTLE_MS);

    const pids = await memberPids(cluster);
    const before = pids.map(sampleMember);
    const load_before = load.map((l) => cpuTicks(l.pid));
    const load_average = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(
      " ",
    );
    const window_start = performance.now();
    if (profile_dir !== undefined) { for (const { pid } of pids) Deno.kill(pid, "SIGUSR2"); }
    for (const l of load) l.send("measure");
    await delay(window_ms);
    for (const l of load) l.send("stop");
    if (profile_dir !== undefined) { for (const { pid } of pids) Deno.kill(pid, "SIGUSR2"); }
    const after = pids.map(sampleMember);
    const window_s = (performance.now() - window_start) / 1000;
    const load_after = load.map((l) => cpuTicks(l.pid));
    const results = await Promise.all(load.map((l) => l.waitResult()));
    // The members write their profiles after the second signal; give them a moment.
    if (profile_dir !== undefined) await delay(PROFILE_WRITE_MS);
    const leader_after = await cluster.waitForLeader(10_000).catch(() => undefined);

    const by_endpoint = new Map<string, number[]>();
    for (const result of results) {
      for (const [endpoint, samples] of Object.entries(result.latencies_ms)) {
        by_endpoint.set(endpoint, [...(by_endpoint.get(endpoint) ?? []), ...samples]);
      }
    }
    const rows: BenchRow[] = [];
    const rss_mib: number[] = [];
    let leader_cores = NaN;
    for (let i = 0; i < after.length; i++) {
      const cores = round(ticksToSeconds(after[i].cpu_ticks - before[i].cpu_ticks) / window_s);
      const rss = round(await rssOfPid(after[i].pid));
      rss_mib.push(rss);
      const is_leader = after[i].name === leader.name;
      if (is_leader) leader_cores = cores;
      const on_member = (by_endpoint.get(cluster.member(after[i].name).client_address) ?? [])
        .sort((a, b) => a - b);
      rows.push({
        bench: `registry n=${processes}`,
        impl: `${after[i].name}${is_leader ? " (leader)" : ""}`,
        cpu_cores: cores,
        rss_mib: rss,
        member_acks_per_s: Math.round(on_member.length / window_s),
        member_ack_p50_ms: round(percentile(on_member, 50)),
        member_ack_p99_ms: round(percentile(on_member, 99)),
      });
    }
    const latencies_ms = [...by_endpoint.values()].flat().sort((a, b) => a - b);
    const acks = results.reduce((sum, r) => sum + r.acks, 0);
    const load_ticks = load_after.reduce((sum, t, i) => sum + t - load_before[i], 0);
    rows.push({
      bench: `registry n=${processes}`,
      impl: "summary",
      leader_cpu_cores: leader_cores,
      max_rss_mib: Math.max(...rss_mib),
      ack_p50_ms: round(percentile(latencies_ms, 50)),
      ack_p99_ms: round(percentile(latencies_ms, 99)),
      acks_per_s: Math.round(acks / window_s),
      expected_per_s: Math.round(processes * 1000 / POLL_INTERVAL_MS),
      stream_ends: results.reduce((sum, r) => sum + r.stream_ends, 0),
      not_synced: results.reduce((sum, r) => sum + r.not_synchronized, 0),
      join_failures,
      join_s: round(join_s),
      load_workers: workers,
      load_cores: round(ticksToSeconds(load_ticks) / window_s),
      // One load process near 1.0 means its event loop, not the cluster, sets the latency.
      load_max_worker_cores: round(
        Math.max(...load_after.map((t, i) => ticksToSeconds(t - load_before[i]))) / window_s,
      ),
      leader_changed: leader_after === undefined || leader_after.name !== leader.name ? 1 : 0,
      loadavg: load_average,
    });
    return rows;
  } finally {
    await Promise.all(load.map((l) => l.kill()));
    await cluster?.stop().catch(() => {});
    await Deno.remove(data_dir, { recursive: true }).catch(() => {});
  }
}

/** One load subprocess and its line protocol (commands on stdin, JSON lines on stdout). */
class LoadProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: LineReader;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#lines = new LineReader(child.stdout);
    this.#stdin = child.stdin.getWriter();
  }

  /** Starts a load process hosting `count` simulated processes. */
  static spawn(
    endpoints: string,
    count: number,
    index: number,
    profile: string | undefined,
  ): LoadProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--worker",
        "--endpoints",
        endpoints,
        "--count",
        String(count),
        "--index",
        String(index),
        ...(profile === undefined ? [] : ["--profile", profile]),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    return new LoadProcess(child);
  }

  get pid(): number {
    return this.#child.pid;
  }

  send(command: "measure" | "stop"): void {
    this.#stdin.write(this.#encoder.encode(command + "\n")).catch(() => {});
  }

  async waitJoined(): Promise<{ joined: number; failed: number }> {
    const message = await this.#next(JOIN_TIMEOUT_MS, "join");
    return { joined: Number(message.joined), failed: Number(message.failed) };
  }

  async waitResult(): Promise<WorkerResult> {
    return (await this.#next(REPORT_TIMEOUT_MS, "result")) as unknown as WorkerResult;
  }

  async #next(timeout_ms: number, what: string): Promise<Record<string, unknown>> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`load process ${this.pid}: no ${what} within ${timeout_ms} ms`)),
        timeout_ms,
      );
    });
    try {
      const line = await Promise.race([this.#lines.next(), timeout]);
      if (line === undefined) throw new Error(`load process ${this.pid} ended before its ${what}`);
      return JSON.parse(line);
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#child.status.catch(() => {});
    await this.#stdin.close().catch(() => {});
    await this.#lines.cancel();
  }
}

/** Splits a byte stream into text lines, each at most {@link MAX_LINE_CHARS}. */
class LineReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  async next(): Promise<string | undefined> {
    while (true) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      if (this.#done) return undefined;
      if (this.#buffer.length > MAX_LINE_CHARS) {
        throw new RangeError(`a line longer than ${MAX_LINE_CHARS} characters`);
      }
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#buffer += value;
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** Finds each member's pid by its data directory on the command line (LocalCluster hides it). */
async function memberPids(cluster: LocalCluster): Promise<{ name: string; pid: number }[]> {
  const found: { name: string; pid: number }[] = [];
  const commands = new Map<number, string[]>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const raw = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      commands.set(Number(entry.name), raw.split("\0"));
    } catch {
      // exited meanwhile
    }
  }
  for (const member of cluster.members) {
    const pid = [...commands].find(([, argv]) => {
      const at = argv.indexOf("--data");
      return at >= 0 && argv[at + 1] === member.data_dir && argv.includes("blueprint");
    })?.[0];
    if (pid === undefined) throw new Error(`no process found for member ${member.name}`);
    found.push({ name: member.name, pid });
  }
  return found;
}

function sampleMember(member: { name: string; pid: number }): MemberSample {
  return { ...member, cpu_ticks: cpuTicks(member.pid) };
}

/** utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Linux reports CPU time in USER_HZ ticks, 100 per second on every mainstream build. */
function ticksToSeconds(ticks: number): number {
  return ticks / 100;
}

async function rssOfPid(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

// ---- the load process ----

/** Ack latencies of every stream, recorded only while measuring. */
class AckClock {
  measuring = false;
  readonly latencies_ms: Record<string, number[]> = {};
  samples = 0;
  acks = 0;
  stream_ends = 0;

  record(endpoint: string, latency_ms: number): void {
    if (!this.measuring) return;
    this.acks++;
    if (this.samples >= MAX_SAMPLES_PER_WORKER) return;
    this.samples++;
    (this.latencies_ms[endpoint] ??= []).push(Math.round(latency_ms * 100) / 100);
  }
}

/**
 * A {@link ProcessTransport} that times each report to its ack. A stream acks every message
 * in order, so the oldest unacked send time belongs to the next ack.
 */
class TimedTransport implements ProcessTransport {
  constructor(readonly inner: ProcessTransport, readonly clock: AckClock) {}

  initialize(endpoint: string, request: InitializeRequest): Promise<InitializeResult> {
    return this.inner.initialize(endpoint, request);
  }

  synchronize(
    endpoint: string,
    identity: ProcessIdentity,
    handlers: SyncStreamHandlers,
  ): SyncStream {
    const sent_at: number[] = [];
    const clock = this.clock;
    const stream = this.inner.synchronize(endpoint, identity, {
      on_ack(cluster: ClusterDetails) {
        const sent = sent_at.shift();
        if (sent !== undefined) clock.record(endpoint, performance.now() - sent);
        handlers.on_ack(cluster);
      },
      on_end(error: Error | undefined) {
        if (clock.measuring) clock.stream_ends++;
        handlers.on_end(error);
      },
    });
    return {
      send(report: ProcessReport) {
        stream.send(report);
        // Bounded by the process's own ack timeout; this cap only guards a stuck stream.
        if (sent_at.length < 64) sent_at.push(performance.now());
      },
      close() {
        stream.close();
      },
    };
  }

  finalize(endpoint: string, identity: ProcessIdentity): Promise<void> {
    return this.inner.finalize(endpoint, identity);
  }

  close(): void {
    this.inner.close();
  }
}

async function workerMain(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      worker: { type: "boolean" },
      endpoints: { type: "string" },
      count: { type: "string" },
      index: { type: "string" },
      profile: { type: "string" },
    },
  });
  const endpoints = (values.endpoints ?? "").split(",").filter((e) => e !== "");
  const count = Number(values.count);
  if (endpoints.length === 0) throw new Error("--endpoints is required (host:port,...)");
  if (!Number.isInteger(count) || count < 1 || count > MAX_PROCESSES) {
    throw new RangeError(
      `--count must be an integer in [1, ${MAX_PROCESSES}], got ${values.count}`,
    );
  }
  const clock = new AckClock();
  const profiler = new WindowProfiler();
  const transport = new TimedTransport(await RegistryTransport.create(), clock);
  const processes: DraftProcess[] = [];
  let failed = 0;
  let next = 0;
  const joiner = async () => {
    while (next < count) {
      const i = next++;
      // Spread the entrypoints so each member hosts a third of the streams.
      const first = i % endpoints.length;
      try {
        const me = await DraftProcess.join({
          entrypoints: [...endpoints.slice(first), ...endpoints.slice(0, first)],
          name: "bench",
          nonce: NONCE,
          metadata: { worker: values.index ?? "0", index: String(i) },
          ttl_ms: TTL_MS,
          poll_interval_ms: POLL_INTERVAL_MS,
          transport,
        });
        me.setRunningState("running");
        processes.push(me);
      } catch (error) {
        failed++;
        if (failed <= 3) console.error(`bench registry: join failed: ${error}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOIN_CONCURRENCY, count) }, joiner));
  console.log(JSON.stringify({ joined: processes.length, failed }));
  const commands = new LineReader(Deno.stdin.readable);
  while (true) {
    const command = await commands.next();
    if (command === "measure") {
      clock.measuring = true;
      if (values.profile !== undefined) await profiler.start();
    } else if (command === "stop" || command === undefined) break;
  }
  clock.measuring = false;
  if (values.profile !== undefined) await profiler.stop(values.profile);
  const result: WorkerResult = {
    latencies_ms: clock.latencies_ms,
    acks: clock.acks,
    stream_ends: clock.stream_ends,
    not_synchronized: processes.filter((p) => p.connection !== "synchronized").length,
  };
  console.log(JSON.stringify(result));
  // The parent stops the cluster; leaving 5,000 processes one by one would only measure Finalize.
  Deno.exit(0);
}

// ---- profiling ----

/** How long members get to write their profiles after the second SIGUSR2, in ms. */
const PROFILE_WRITE_MS = 3_000;

/** The V8 CPU profiler of this isolate, through `node:inspector`. */
export class WindowProfiler {
  readonly #session = new Session();
  #running = false;

  /** Starts sampling (once; a second call while running does nothing). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#session.connect();
    await this.#post("Profiler.enable");
    await this.#post("Profiler.start");
  }

  /** Stops sampling and writes the profile to `path` (Chrome DevTools' `.cpuprofile`). */
  async stop(path: string): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const { profile } = await this.#post("Profiler.stop") as { profile: unknown };
    this.#session.disconnect();
    await Deno.writeTextFile(path, JSON.stringify(profile));
  }

  #post(method: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#session.post(method, {}, (error, result) => error ? reject(error) : resolve(result));
    });
  }
}

/**
 * Writes a module that runs the Draft CLI and profiles between two SIGUSR2 signals (the
 * measured window), then answers its path for {@link LocalCluster}'s `blueprint_module`.
 */
async function writeProfilingWrapper(data_dir: string, profile_prefix: string): Promise<string> {
  const path = join(data_dir, "profiled_member.ts");
  const here = new URL(import.meta.url).href;
  const entry = new URL("../../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    path,
    `import { WindowProfiler } from ${JSON.stringify(here)};
import { main } from ${JSON.stringify(entry)};
const profiler = new WindowProfiler();
let signals = 0;
Deno.addSignalListener("SIGUSR2", () => {
  if (signals++ === 0) profiler.start();
  else profiler.stop(${JSON.stringify(profile_prefix)} + "-" + Deno.pid + ".cpuprofile");
});
Deno.exit(await main(Deno.args));
`,
  );
  return path;
}

if (import.meta.main && Deno.args.includes("--worker")) await workerMain(Deno.args);
