/**
 * `deno task bench registry [--quick] [--json] [--sizes 500,2000,5000] [--seconds S]
 * [--workers K] [--per-process-timers] [--profile DIR] [--logs DIR]`: Blueprint's service
 * registry under N simulated Draft processes.
 *
 * For each N a fresh 3-member cluster starts on loopback (real `blueprint` processes, data on
 * the real disk, `--join-token`). K load processes (Deno subprocesses of this file, 2 for
 * N <= 500, else 4) each host N/K {@link DraftProcess} instances sharing one
 * {@link RegistryTransport} (one connection per member), joined through the three members in
 * turn and reporting every 1 s, each on its own Synchronize stream. A load process runs its
 * processes' polls from one timer, each process at a phase of its own: dealt round-robin to
 * 10 ms slots of the second, so the beats spread evenly across it as those of independently
 * started processes would (`--per-process-timers`: a `setInterval` per process instead, its
 * phase set by when it joined). Once all have joined, a settle pause of 5 s (the join storm's
 * backlog drains), then a measured window.
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
 * Where the time goes: `loop_lag_*` per member is how late a 10 ms timer fired on its main
 * event loop in the window (p99, worst, and the lateness summed per second): a stall delays
 * every ack behind it, whether the loop was busy or waiting for a core. The summary splits CPU
 * per ack into the three members together (`members_cpu_us_per_ack`) and the load processes
 * (`load_cpu_us_per_ack`, the simulated clients' cost), with the load processes' own loop lag;
 * `beat_burst_ratio` is the busiest 50 ms of the second's share of the beats sent over an even
 * share (1 = spread evenly). `--logs DIR` keeps the members' logs.
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
  type PollScheduler,
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
/**
 * Pause after the last join before the window: every process is in its steady 1 s rhythm and
 * the join storm's backlog (N Initialize calls, 2N Raft writes, the first beats of the last
 * processes) has drained. With 2 s, the first seconds of the window at 5,000 processes still
 * held acks of 0.2-3 s queued behind that backlog in some runs; the aim is about the steady
 * state, and `join_s` reports the join itself.
 */
const SETTLE_MS = 5_000;
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
      logs: { type: "string" },
      "per-process-timers": { type: "boolean", default: false },
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
  const logs_dir = values.logs === undefined ? undefined : resolve(values.logs);
  if (logs_dir !== undefined) await Deno.mkdir(logs_dir, { recursive: true });
  const report = new BenchReport(values.json);
  for (const processes of sizes) {
    const workers = Math.min(processes, fixed_workers ?? (processes <= 500 ? 2 : 4));
    for (
      const row of await runSize(processes, workers, window_s * 1000, {
        profile_dir,
        logs_dir,
        per_process_timers: values["per-process-timers"],
      })
    ) {
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
  /** The load process's own event-loop lag in the window. */
  readonly loop_lag: LoopLag;
  /** Reports sent in the window by their slot of the wall-clock second ({@link PHASE_SLOTS}). */
  readonly phase_counts: number[];
}

/** Slots of the second in which the beats' send times are counted. */
const PHASE_SLOTS = 20;

interface MemberSample {
  readonly name: string;
  readonly pid: number;
  readonly cpu_ticks: number;
}

/** How {@link runSize} measures, besides the figures. */
interface SizeOptions {
  /** Where to write CPU profiles of the window, if anywhere. */
  readonly profile_dir: string | undefined;
  /** Where to copy the members' logs, if anywhere. */
  readonly logs_dir: string | undefined;
  /** Give each simulated process a timer of its own (as before) instead of shared slots. */
  readonly per_process_timers: boolean;
}

async function runSize(
  processes: number,
  workers: number,
  window_ms: number,
  { profile_dir, logs_dir, per_process_timers }: SizeOptions,
): Promise<BenchRow[]> {
  const data_dir = await Deno.makeTempDir({ prefix: "bench-registry-" });
  const load: LoadProcess[] = [];
  let cluster: LocalCluster | undefined;
  try {
    const blueprint_module = await writeMemberWrapper(
      data_dir,
      profile_dir === undefined ? undefined : join(profile_dir, `member-n${processes}`),
    );
    cluster = await LocalCluster.start({
      data_dir,
      extra_args: ["--join-token", NONCE],
      blueprint_module,
      // The wrapper lives in the data directory: the members still take this repository's
      // configuration (import map, node_modules), as `mod.ts` run directly would.
      runtime_args: ["--config", new URL("../../deno.json", import.meta.url).pathname],
    });
    const leader = await cluster.waitForLeader(30_000);
    const endpoints = cluster.endpoints.join(",");
    const join_started = performance.now();
    for (let w = 0; w < workers; w++) {
      const share = Math.floor(processes / workers) + (w < processes % workers ? 1 : 0);
      const profile = profile_dir === undefined
        ? undefined
        : join(profile_dir, `load-n${processes}-w${w}.cpuprofile`);
      load.push(LoadProcess.spawn(endpoints, share, w, profile, per_process_timers));
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
    for (const { pid } of pids) Deno.kill(pid, "SIGUSR2");
    for (const l of load) l.send("measure");
    await delay(window_ms);
    for (const l of load) l.send("stop");
    for (const { pid } of pids) Deno.kill(pid, "SIGUSR2");
    const after = pids.map(sampleMember);
    const window_s = (performance.now() - window_start) / 1000;
    const load_after = load.map((l) => cpuTicks(l.pid));
    const results = await Promise.all(load.map((l) => l.waitResult()));
    // The members write their lag (and profiles) after the second signal.
    const member_lag = await Promise.all(pids.map(({ pid }) => readMemberLag(data_dir, pid)));
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
        // How late a 10 ms timer fired on the member: its event loop's stalls.
        loop_lag_p99_ms: member_lag[i]?.p99_ms ?? NaN,
        loop_lag_max_ms: member_lag[i]?.max_ms ?? NaN,
        loop_stalled_ms_per_s: member_lag[i]?.stalled_ms_per_s ?? NaN,
      });
    }
    const latencies_ms = [...by_endpoint.values()].flat().sort((a, b) => a - b);
    const acks = results.reduce((sum, r) => sum + r.acks, 0);
    const load_ticks = load_after.reduce((sum, t, i) => sum + t - load_before[i], 0);
    const member_ticks = after.reduce((sum, m, i) => sum + m.cpu_ticks - before[i].cpu_ticks, 0);
    const phase_counts = new Array<number>(PHASE_SLOTS).fill(0);
    for (const result of results) result.phase_counts.forEach((n, i) => phase_counts[i] += n);
    const beats = phase_counts.reduce((sum, n) => sum + n, 0);
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
      // CPU per ack: the three members together, and the load processes (the client side).
      members_cpu_us_per_ack: Math.round(ticksToSeconds(member_ticks) * 1e6 / Math.max(1, acks)),
      load_cpu_us_per_ack: Math.round(ticksToSeconds(load_ticks) * 1e6 / Math.max(1, acks)),
      load_loop_lag_p99_ms: Math.max(...results.map((r) => r.loop_lag.p99_ms)),
      load_loop_lag_max_ms: Math.max(...results.map((r) => r.loop_lag.max_ms)),
      // Beats in the busiest 1/PHASE_SLOTS of the second over an even share: 1 = spread evenly.
      beat_burst_ratio: round(Math.max(...phase_counts) * PHASE_SLOTS / Math.max(1, beats)),
      leader_changed: leader_after === undefined || leader_after.name !== leader.name ? 1 : 0,
      loadavg: load_average,
    });
    return rows;
  } finally {
    await Promise.all(load.map((l) => l.kill()));
    await cluster?.stop().catch(() => {});
    if (logs_dir !== undefined && cluster !== undefined) {
      for (const { name } of cluster.members) {
        await Deno.copyFile(
          join(data_dir, `${name}.log`),
          join(logs_dir, `n${processes}-${name}.log`),
        )
          .catch(() => {});
      }
    }
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
    per_process_timers: boolean,
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
        ...(per_process_timers ? ["--per-process-timers"] : []),
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
  readonly phase_counts = new Array<number>(PHASE_SLOTS).fill(0);

  sent(): void {
    if (!this.measuring) return;
    this.phase_counts[Math.floor((Date.now() % 1000) * PHASE_SLOTS / 1000)]++;
  }

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
        clock.sent();
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

/** The width of one beat slot, in ms: a load process's poll timer fires once per slot. */
const BEAT_SLOT_MS = 10;

/**
 * One poll timer for all the simulated processes of a load process, instead of a timer each.
 * Each process still has its own stream and its own poll every interval, but at a phase of
 * its own: processes are dealt round-robin to the interval's {@link BEAT_SLOT_MS} slots, so
 * the beats spread evenly across the second as those of processes started at unrelated times
 * would. The timer fires once per slot and polls that slot's processes (their writes then
 * share the connection's socket writes). Slots follow the wall clock, so the load processes'
 * slots line up; each deals from its own first slot.
 */
class BeatSlots {
  readonly #interval_ms: number;
  readonly #slots: Set<() => void>[];
  #next_deal: number;
  #next_due_ms = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(interval_ms: number, first_slot: number) {
    if (!(interval_ms >= BEAT_SLOT_MS && interval_ms % BEAT_SLOT_MS === 0)) {
      throw new RangeError(`interval ${interval_ms} ms is not a multiple of ${BEAT_SLOT_MS} ms`);
    }
    this.#interval_ms = interval_ms;
    this.#slots = Array.from({ length: interval_ms / BEAT_SLOT_MS }, () => new Set());
    this.#next_deal = first_slot % this.#slots.length;
  }

  /** The {@link PollScheduler} to give each process. */
  readonly schedule: PollScheduler = (interval_ms, poll) => {
    if (interval_ms !== this.#interval_ms) {
      throw new RangeError(
        `poll interval ${interval_ms} ms; these slots are for ${this.#interval_ms}`,
      );
    }
    const slot = this.#slots[this.#next_deal];
    this.#next_deal = (this.#next_deal + 1) % this.#slots.length;
    const entry = () => poll();
    slot.add(entry);
    if (this.#timer === undefined) {
      this.#next_due_ms = (Math.floor(Date.now() / BEAT_SLOT_MS) + 1) * BEAT_SLOT_MS;
      this.#arm();
    }
    return () => slot.delete(entry);
  };

  /** Stops the timer (the processes poll no more). */
  stop(): void {
    clearTimeout(this.#timer);
  }

  #arm(): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, this.#next_due_ms - Date.now()));
  }

  /** Polls every slot whose time has come; a late timer catches up, at most one interval. */
  #fire(): void {
    const now_ms = Date.now();
    let fired = 0;
    while (this.#next_due_ms <= now_ms && fired < this.#slots.length) {
      const slot = this.#slots[Math.floor(this.#next_due_ms / BEAT_SLOT_MS) % this.#slots.length];
      for (const poll of [...slot]) poll();
      this.#next_due_ms += BEAT_SLOT_MS;
      fired++;
    }
    if (this.#next_due_ms <= now_ms) {
      this.#next_due_ms = (Math.floor(now_ms / BEAT_SLOT_MS) + 1) * BEAT_SLOT_MS;
    }
    this.#arm();
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
      "per-process-timers": { type: "boolean", default: false },
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
  const lag = new LoopLagMonitor();
  const transport = new TimedTransport(await RegistryTransport.create(), clock);
  const worker_index = Number(values.index ?? 0);
  const slots = new BeatSlots(POLL_INTERVAL_MS, worker_index * 7);
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
          poll_scheduler: values["per-process-timers"] ? undefined : slots.schedule,
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
      lag.start();
      if (values.profile !== undefined) await profiler.start();
    } else if (command === "stop" || command === undefined) break;
  }
  clock.measuring = false;
  const loop_lag = lag.stop();
  if (values.profile !== undefined) await profiler.stop(values.profile);
  const result: WorkerResult = {
    latencies_ms: clock.latencies_ms,
    acks: clock.acks,
    stream_ends: clock.stream_ends,
    not_synchronized: processes.filter((p) => p.connection !== "synchronized").length,
    loop_lag,
    phase_counts: clock.phase_counts,
  };
  console.log(JSON.stringify(result));
  // The parent stops the cluster; leaving 5,000 processes one by one would only measure Finalize.
  Deno.exit(0);
}

// ---- event-loop lag ----

/** How often the lag monitor's timer is due, in ms. */
const LAG_TICK_MS = 10;
/** Bounds the lag samples one monitor keeps (60 s of 10 ms ticks). */
const MAX_LAG_SAMPLES = 6_000;

/** What a {@link LoopLagMonitor} saw: how late its timer fired, in ms. */
export interface LoopLag {
  /** Median lateness. */
  readonly p50_ms: number;
  /** 99th percentile lateness. */
  readonly p99_ms: number;
  /** Worst lateness: the longest stall of the event loop. */
  readonly max_ms: number;
  /** Sum of the lateness above one tick: time the loop was busy past a timer, per second. */
  readonly stalled_ms_per_s: number;
}

/**
 * Measures event-loop delay: a timer due every {@link LAG_TICK_MS} records how late it fires.
 * (Deno's `monitorEventLoopDelay` from `node:perf_hooks` reports no stalls, so this times a
 * timer itself.) A stall of the loop delays every ack that waits behind it.
 */
export class LoopLagMonitor {
  #samples_ms: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started_ms = 0;

  /** Starts sampling (a second call restarts it). */
  start(): void {
    this.stop();
    this.#samples_ms = [];
    this.#started_ms = performance.now();
    let due_ms = this.#started_ms + LAG_TICK_MS;
    const tick = () => {
      const now_ms = performance.now();
      if (this.#samples_ms.length < MAX_LAG_SAMPLES) this.#samples_ms.push(now_ms - due_ms);
      due_ms = now_ms + LAG_TICK_MS;
      this.#timer = setTimeout(tick, LAG_TICK_MS);
    };
    this.#timer = setTimeout(tick, LAG_TICK_MS);
  }

  /** Stops sampling and summarizes what was seen. */
  stop(): LoopLag {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const sorted = [...this.#samples_ms].sort((a, b) => a - b);
    const window_s = Math.max(1e-3, (performance.now() - this.#started_ms) / 1000);
    const stalled_ms = sorted.reduce((sum, lag) => sum + Math.max(0, lag - LAG_TICK_MS), 0);
    return {
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      max_ms: round(sorted.at(-1) ?? NaN),
      stalled_ms_per_s: round(stalled_ms / window_s),
    };
  }
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

/** Where a member's wrapper writes its event-loop lag of the window. */
function memberLagPath(data_dir: string, pid: number): string {
  return join(data_dir, `loop-lag-${pid}.json`);
}

/** The lag a member wrote after the window, or undefined when it wrote none in time. */
async function readMemberLag(data_dir: string, pid: number): Promise<LoopLag | undefined> {
  for (let attempt = 0; attempt < LAG_READ_ATTEMPTS; attempt++) {
    try {
      return JSON.parse(await Deno.readTextFile(memberLagPath(data_dir, pid)));
    } catch {
      await delay(LAG_READ_PAUSE_MS);
    }
  }
  return undefined;
}

/** How often, and how long apart, the parent looks for a member's lag file. */
const LAG_READ_ATTEMPTS = 50;
const LAG_READ_PAUSE_MS = 100;

/**
 * Writes a module that runs the Draft CLI and measures its event-loop lag (and, given
 * `profile_prefix`, its CPU profile) between two SIGUSR2 signals (the measured window), then
 * answers its path for {@link LocalCluster}'s `blueprint_module`.
 */
async function writeMemberWrapper(
  data_dir: string,
  profile_prefix: string | undefined,
): Promise<string> {
  const path = join(data_dir, "measured_member.ts");
  const here = new URL(import.meta.url).href;
  const entry = new URL("../../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    path,
    `import { LoopLagMonitor, WindowProfiler } from ${JSON.stringify(here)};
import { main } from ${JSON.stringify(entry)};
const profile_prefix = ${JSON.stringify(profile_prefix ?? null)};
const profiler = new WindowProfiler();
const lag = new LoopLagMonitor();
let signals = 0;
Deno.addSignalListener("SIGUSR2", () => {
  if (signals++ === 0) {
    lag.start();
    if (profile_prefix !== null) profiler.start();
    return;
  }
  Deno.writeTextFileSync(${
      JSON.stringify(data_dir)
    } + "/loop-lag-" + Deno.pid + ".json", JSON.stringify(lag.stop()));
  if (profile_prefix !== null) profiler.stop(profile_prefix + "-" + Deno.pid + ".cpuprofile");
});
Deno.exit(await main(Deno.args));
`,
  );
  return path;
}

if (import.meta.main && Deno.args.includes("--worker")) await workerMain(Deno.args);
