/**
 * `deno task bench blueprint [--quick] [--json] [--seconds S] [--clients 1,64,256]
 * [--workers W] [--only blueprint,etcd,echo] [--skip-reads] [--profile DIR] [--module PATH]`: a 3-node
 * Blueprint cluster on loopback (real processes, data on the real disk) driven through the
 * Blueprint client; where `etcd` is on the PATH (Debian package `etcd-server`), a 3-member
 * etcd cluster on loopback driven by the same client code and the same load in the same run,
 * and the ratios; and the ceiling of the gRPC layer itself (`echo`): a trivial grpc-js unary
 * echo server, and our RpcServer answering etcd's Put without Raft or storage.
 *
 * Load: N concurrent callers spread over W Web Workers (default 2, never more than N), each
 * worker with its own client and so its own HTTP/2 connection to the leader (found the same
 * way for both servers: Maintenance.Status then MemberList). One process with one connection
 * cannot drive more than about 5k calls/s on these machines, which is why the callers are
 * spread. Puts of 8-byte keys (random over 10,000) with 256-byte values at each N; then
 * linearizable and serializable gets of those keys at the largest N up to 64. Figures:
 * operations per second, latency p50/p99 in ms (call to answer), errors, and the CPU used
 * during the phase in percent of one core: by the load generator (`gen_cpu_pct`, all its
 * workers), by all server processes (`srv_cpu_pct`) and by the leader (`leader_cpu_pct`);
 * `leader_us_per_op` and `gen_us_per_op` are CPU per call (the figure to compare when others
 * load the machine); `load1` is the machine's 1-minute load average after the phase. Both
 * servers acknowledge a put after a quorum has it on disk (their defaults). The generator
 * shares the 2 cores with the servers: read the CPU columns before the ratios.
 *
 * `--profile DIR` starts the Blueprint members with `--cpu-prof-dir=DIR`; each writes a V8
 * CPU profile (`.cpuprofile`, open it in Chrome DevTools) when the cluster stops.
 * `--module PATH` runs the members from another checkout's `mod.ts` (to compare two builds
 * of the server under the same load generator).
 *
 * Aims (issue 4): puts at 256 clients at least 2x etcd's with p99 no worse; gets at least
 * equal.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { grpc } from "../../deps.ts";
import { BlueprintClient, type ClusterFlavor, LocalCluster } from "../../blueprint/client/mod.ts";
import { ETCD_SERVICES, loadEtcdSchema } from "../../shared/proto/mod.ts";
import { RpcServer } from "../../shared/rpc/mod.ts";
import { BenchReport, type BenchRow, percentile } from "./report.ts";

const KEY_SPACE = 10_000;
const VALUE_BYTES = 256;
const DEFAULT_CLIENTS = [1, 64, 256];
const ECHO_CLIENTS = [64, 256];
const READ_CLIENTS_MAX = 64;
const WARMUP_OPS_PER_WORKER = 100;
/** One per core here: more isolates cost more CPU per call (measured 500 against 900 µs at 4). */
const DEFAULT_WORKERS = 2;
const MAX_WORKERS = 32;
/** Bounds the latencies one worker keeps in one phase (and so the phase). */
const MAX_SAMPLES_PER_WORKER = 2_000_000;
/** The raw echo method: bytes in, the same bytes out, no protobuf. */
const ECHO_PATH = "/draft.bench.Echo/Call";
/** Linux reports process CPU times in clock ticks of 1/100 s. */
const CLOCK_TICKS_PER_S = 100;

/** What one call of a phase does. */
type Operation = "put" | "get" | "get_serializable" | "echo";

/** Where the workers send calls. */
type Target =
  | { readonly kind: "cluster"; readonly endpoints: string[]; readonly find_leader: boolean }
  | { readonly kind: "raw"; readonly address: string };

/** A message from the coordinator to a load worker. */
type ToWorker =
  | { readonly type: "init"; readonly target: Target }
  | {
    readonly type: "phase";
    readonly operation: Operation;
    readonly clients: number;
    readonly duration_ms: number;
    readonly max_ops: number;
  }
  | { readonly type: "close" };

/** A message from a load worker to the coordinator. */
type FromWorker =
  | { readonly type: "ready" }
  | {
    readonly type: "result";
    readonly latencies_ms: Float64Array;
    readonly errors: number;
    readonly elapsed_ms: number;
    readonly first_error: string;
  }
  | { readonly type: "failed"; readonly message: string };

interface Phase {
  readonly bench: string;
  readonly operation: Operation;
  readonly clients: number;
}

interface PhaseResult {
  readonly ops_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly errors: number;
  readonly gen_cpu_pct: number;
  readonly srv_cpu_pct: number;
  readonly leader_cpu_pct: number;
  /** CPU the leader spent per successful call, in µs: robust when others share the cores. */
  readonly leader_us_per_op: number;
  /** CPU the load generator spent per successful call, in µs. */
  readonly gen_us_per_op: number;
  readonly load1: number;
}

/** The processes whose CPU a phase reports. */
interface Servers {
  readonly all: () => number[];
  readonly leader: () => number | undefined;
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
      workers: { type: "string" },
      only: { type: "string" },
      "skip-reads": { type: "boolean", default: false },
      profile: { type: "string" },
      module: { type: "string" },
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
  const workers = values.workers ? Number(values.workers) : DEFAULT_WORKERS;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RangeError(`--workers must be an integer in [1, ${MAX_WORKERS}], got ${workers}`);
  }
  const settings: Settings = {
    levels,
    duration_ms: seconds * 1000,
    workers,
    reads: !values["skip-reads"],
    profile_dir: values.profile,
    blueprint_module: values.module,
  };
  const suites = await chooseSuites(values.only);
  const report = new BenchReport(values.json);
  const results = new Map<string, PhaseResult>();
  for (const suite of suites) {
    const rows = suite === "echo" ? await runEcho(settings) : await runCluster(suite, settings);
    for (const [bench, impl, result] of rows) {
      results.set(`${bench}|${impl}`, result);
      report.add({ bench, impl, ...result } as BenchRow);
    }
  }
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
  report.finish();
}

interface Settings {
  readonly levels: number[];
  readonly duration_ms: number;
  readonly workers: number;
  readonly reads: boolean;
  readonly profile_dir: string | undefined;
  readonly blueprint_module: string | undefined;
}

type Suite = ClusterFlavor | "echo";

async function chooseSuites(only: string | undefined): Promise<Suite[]> {
  const allowed: Suite[] = ["blueprint", "etcd", "echo"];
  const asked = only === undefined ? undefined : only.split(",");
  const unknown = asked?.filter((name) => !allowed.includes(name as Suite)) ?? [];
  if (unknown.length > 0) {
    throw new RangeError(`--only names ${unknown.join(", ")}; allowed: ${allowed.join(", ")}`);
  }
  const has_etcd = await new Deno.Command("sh", { args: ["-c", "command -v etcd"] }).output()
    .then((output) => output.success, () => false);
  if (asked?.includes("etcd") && !has_etcd) {
    throw new Error("--only etcd: etcd is not on the PATH");
  }
  if (!has_etcd && asked === undefined) {
    console.error("bench blueprint: etcd not on the PATH (apt-get install etcd-server); no peer");
  }
  if (asked !== undefined) return asked as Suite[];
  return has_etcd ? ["blueprint", "etcd", "echo"] : ["blueprint", "echo"];
}

// ---- the clusters ------------------------------------------------------------------------

async function runCluster(
  flavor: ClusterFlavor,
  settings: Settings,
): Promise<[string, string, PhaseResult][]> {
  const data_dir = await Deno.makeTempDir({ prefix: `bench-${flavor}-` });
  const profiling = flavor === "blueprint" && settings.profile_dir !== undefined;
  const cluster = await LocalCluster.start({
    flavor,
    data_dir,
    runtime_args: profiling ? [`--cpu-prof-dir=${settings.profile_dir}`] : [],
    blueprint_module: settings.blueprint_module,
  });
  let generator: LoadGenerator | undefined;
  try {
    const leader = await cluster.waitForLeader(30_000);
    const servers: Servers = {
      all: () => cluster.members.map((m) => cluster.pid(m.name)).filter((p) => p !== undefined),
      leader: () => cluster.pid(leader.name),
    };
    const target: Target = { kind: "cluster", endpoints: cluster.endpoints, find_leader: true };
    generator = await LoadGenerator.start(target, settings.workers);
    await generator.run("put", settings.workers * 8, Infinity, WARMUP_OPS_PER_WORKER);
    const phases: Phase[] = settings.levels.map((clients) => ({
      bench: `put c=${clients}`,
      operation: "put",
      clients,
    }));
    if (settings.reads) {
      const read_clients = Math.min(READ_CLIENTS_MAX, Math.max(...settings.levels));
      phases.push(
        { bench: `get linearizable c=${read_clients}`, operation: "get", clients: read_clients },
        {
          bench: `get serializable c=${read_clients}`,
          operation: "get_serializable",
          clients: read_clients,
        },
      );
    }
    const impl = flavor === "blueprint" ? "draft" : "etcd";
    const results: [string, string, PhaseResult][] = [];
    for (const phase of phases) {
      const result = await measure(generator, phase, settings.duration_ms, servers);
      results.push([phase.bench, impl, result]);
    }
    return results;
  } finally {
    generator?.close();
    await cluster.stop();
    await Deno.remove(data_dir, { recursive: true }).catch(() => {});
  }
}

// ---- the gRPC ceiling --------------------------------------------------------------------

/**
 * Two servers that do no work, each in its own process: grpc-js with raw bytes (what HTTP/2
 * and grpc-js cost), and our RpcServer answering etcd's Put with a fixed header (what our
 * RPC layer and protobuf add). Driven like the clusters, by the same workers.
 */
async function runEcho(settings: Settings): Promise<[string, string, PhaseResult][]> {
  const results: [string, string, PhaseResult][] = [];
  for (const mode of ["raw", "rpc"] as const) {
    const server = await EchoServerProcess.start(mode);
    let generator: LoadGenerator | undefined;
    try {
      const target: Target = mode === "raw"
        ? { kind: "raw", address: server.address }
        : { kind: "cluster", endpoints: [server.address], find_leader: false };
      const operation: Operation = mode === "raw" ? "echo" : "put";
      generator = await LoadGenerator.start(target, settings.workers);
      await generator.run(operation, settings.workers * 8, Infinity, WARMUP_OPS_PER_WORKER);
      const servers: Servers = { all: () => [server.pid], leader: () => server.pid };
      for (const clients of ECHO_CLIENTS) {
        const phase: Phase = {
          bench: mode === "raw" ? `echo c=${clients}` : `put c=${clients}`,
          operation,
          clients,
        };
        const result = await measure(generator, phase, settings.duration_ms, servers);
        results.push([phase.bench, mode === "raw" ? "grpc-echo" : "rpc-echo", result]);
      }
    } finally {
      generator?.close();
      await server.stop();
    }
  }
  return results;
}

/** An echo server in a child process of this module (`echo-server raw|rpc`). */
class EchoServerProcess {
  private constructor(
    readonly child: Deno.ChildProcess,
    readonly address: string,
  ) {}

  get pid(): number {
    return this.child.pid;
  }

  static async start(mode: "raw" | "rpc"): Promise<EchoServerProcess> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "echo-server", mode],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    // Bounded: the child prints one line, or exits (the stream ends).
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`echo server (${mode}) exited before listening`);
      text += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
    const match = /^listening (\S+)/.exec(text);
    if (!match) throw new Error(`echo server (${mode}) said ${JSON.stringify(text)}`);
    return new EchoServerProcess(child, match[1]);
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // already exited
    }
    await this.child.status;
  }
}

/** The child side of {@link EchoServerProcess}: listens, prints its address, serves. */
async function serveEcho(mode: string): Promise<void> {
  if (mode === "raw") {
    const server = new grpc.Server();
    const identity = (bytes: Buffer) => bytes;
    server.addService({
      Call: {
        path: ECHO_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    }, {
      Call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, call.request),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      )
    );
    console.log(`listening 127.0.0.1:${port}`);
  } else if (mode === "rpc") {
    const server = new RpcServer();
    let revision = 0n;
    const header = () => ({ cluster_id: 1n, member_id: 1n, revision: ++revision, raft_term: 1n });
    server.addService(await loadEtcdSchema(), ETCD_SERVICES.KV, {
      Put: () => ({ header: header() }),
      Range: () => ({ header: header(), kvs: [], count: 0n }),
    });
    const { address } = await server.listen("127.0.0.1:0");
    console.log(`listening ${address}`);
  } else {
    throw new RangeError(`echo-server mode is ${mode}; allowed: raw, rpc`);
  }
  await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
  Deno.exit(0);
}

// ---- measuring ---------------------------------------------------------------------------

/** Runs one phase and reports its throughput, latency and the CPU it cost each side. */
async function measure(
  generator: LoadGenerator,
  phase: Phase,
  duration_ms: number,
  servers: Servers,
): Promise<PhaseResult> {
  const server_pids = servers.all();
  const leader_pid = servers.leader();
  const before = { gen: cpuSeconds(Deno.pid), srv: sumCpu(server_pids), leader: 0 };
  before.leader = leader_pid === undefined ? NaN : cpuSeconds(leader_pid);
  const started = performance.now();
  const result = await generator.run(phase.operation, phase.clients, duration_ms, Infinity);
  const wall_s = (performance.now() - started) / 1000;
  const percent = (cpu_s: number) => Math.round((cpu_s / wall_s) * 100);
  const latencies = result.latencies_ms;
  const per_op_us = (cpu_s: number) => Math.round((cpu_s / Math.max(1, latencies.length)) * 1e6);
  if (result.first_error) {
    console.error(
      `bench blueprint: ${phase.bench}: ${result.errors} errors, first: ${result.first_error}`,
    );
  }
  const gen_s = cpuSeconds(Deno.pid) - before.gen;
  const leader_s = leader_pid === undefined ? NaN : cpuSeconds(leader_pid) - before.leader;
  return {
    ops_per_s: Math.round(latencies.length / result.elapsed_s),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    errors: result.errors,
    gen_cpu_pct: percent(gen_s),
    srv_cpu_pct: percent(sumCpu(server_pids) - before.srv),
    leader_cpu_pct: percent(leader_s),
    leader_us_per_op: per_op_us(leader_s),
    gen_us_per_op: per_op_us(gen_s),
    load1: loadAverage(),
  };
}

/** User plus system CPU time of a process so far, in seconds (Linux `/proc`), or NaN. */
function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return NaN;
  }
}

function sumCpu(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

// ---- the load generator ------------------------------------------------------------------

/** What one phase measured, over every worker. */
interface LoadResult {
  /** Latencies of the calls that succeeded, sorted, in ms. */
  readonly latencies_ms: number[];
  readonly errors: number;
  /** The longest worker's running time, in s. */
  readonly elapsed_s: number;
  readonly first_error: string;
}

/**
 * Web Workers that each hold one client (one HTTP/2 connection) and run their share of the
 * concurrent callers. One request to a worker is outstanding at a time.
 */
class LoadGenerator {
  private constructor(readonly workers: Worker[]) {}

  static async start(target: Target, count: number): Promise<LoadGenerator> {
    const workers = Array.from(
      { length: count },
      () => new Worker(import.meta.url, { type: "module" }),
    );
    const generator = new LoadGenerator(workers);
    try {
      await Promise.all(workers.map((worker) => ask(worker, { type: "init", target })));
    } catch (error) {
      generator.close();
      throw error;
    }
    return generator;
  }

  /** Runs `clients` callers (spread over the workers) until `duration_ms` or `max_ops` each. */
  async run(
    operation: Operation,
    clients: number,
    duration_ms: number,
    max_ops: number,
  ): Promise<LoadResult> {
    const used = this.workers.slice(0, Math.min(clients, this.workers.length));
    const shares = used.map((_, i) =>
      Math.floor(clients / used.length) + (i < clients % used.length ? 1 : 0)
    );
    const replies = await Promise.all(used.map((worker, i) =>
      ask(worker, {
        type: "phase",
        operation,
        clients: shares[i],
        duration_ms: Number.isFinite(duration_ms) ? duration_ms : 600_000,
        max_ops,
      })
    ));
    const latencies_ms: number[] = [];
    let errors = 0;
    let elapsed_ms = 0;
    let first_error = "";
    for (const reply of replies) {
      if (reply.type !== "result") throw new Error(`invariant: a worker answered ${reply.type}`);
      for (const latency of reply.latencies_ms) latencies_ms.push(latency);
      errors += reply.errors;
      elapsed_ms = Math.max(elapsed_ms, reply.elapsed_ms);
      first_error ||= reply.first_error;
    }
    latencies_ms.sort((a, b) => a - b);
    return { latencies_ms, errors, elapsed_s: elapsed_ms / 1000, first_error };
  }

  close(): void {
    for (const worker of this.workers) {
      worker.postMessage({ type: "close" } satisfies ToWorker);
      setTimeout(() => worker.terminate(), 1000);
    }
  }
}

function ask(worker: Worker, message: ToWorker): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.type === "failed") reject(new Error(`load worker: ${event.data.message}`));
      else resolve(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`load worker crashed: ${event.message}`));
    };
    worker.postMessage(message);
  });
}

/** One worker's way of making a call of each operation. */
interface Driver {
  call(operation: Operation, key: string): Promise<unknown>;
  close(): void;
}

async function openDriver(target: Target): Promise<Driver> {
  if (target.kind === "raw") {
    const client = new grpc.Client(target.address, grpc.credentials.createInsecure());
    const payload = Buffer.alloc(VALUE_BYTES + 8, 0x61);
    const identity = (bytes: Buffer) => bytes;
    return {
      call: () =>
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            ECHO_PATH,
            identity,
            identity,
            payload,
            (error, reply) => (error ? reject(error) : resolve(reply)),
          )
        ),
      close: () => client.close(),
    };
  }
  const client = await BlueprintClient.connect({
    endpoints: target.endpoints,
    deadline_ms: 10_000,
    attempt_timeout_ms: 10_000,
  });
  if (target.find_leader) await client.findLeader();
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  return {
    call: (operation, key) => {
      switch (operation) {
        case "put":
          return client.put(key, value);
        case "get":
          return client.get(key);
        case "get_serializable":
          return client.get(key, { serializable: true });
        case "echo":
          throw new Error("echo needs the raw target");
      }
    },
    close: () => client.close(),
  };
}

/** Runs `clients` callers of `operation` against `driver`. */
async function runCallers(
  driver: Driver,
  message: ToWorker & { type: "phase" },
): Promise<FromWorker & { type: "result" }> {
  const max_ops = Math.min(message.max_ops, MAX_SAMPLES_PER_WORKER);
  let samples = new Float64Array(Math.min(max_ops, 4096));
  let count = 0;
  let started = 0;
  let errors = 0;
  let first_error = "";
  const start = performance.now();
  const end = start + message.duration_ms;
  const caller = async () => {
    // Bounded by max_ops and the phase's end.
    while (started < max_ops && performance.now() < end) {
      started++;
      const key = `k${String(Math.floor(Math.random() * KEY_SPACE)).padStart(7, "0")}`;
      const sent = performance.now();
      try {
        await driver.call(message.operation, key);
        if (count === samples.length) {
          const grown = new Float64Array(samples.length * 2);
          grown.set(samples);
          samples = grown;
        }
        samples[count++] = performance.now() - sent;
      } catch (error) {
        errors++;
        first_error ||= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: message.clients }, caller));
  return {
    type: "result",
    latencies_ms: samples.slice(0, count),
    errors,
    elapsed_ms: performance.now() - start,
    first_error,
  };
}

/** The worker side: answers the coordinator's messages one at a time. */
function serveLoadWorker(scope: {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  close(): void;
}): void {
  let driver: Driver | undefined;
  scope.onmessage = async (event) => {
    const message = event.data;
    try {
      switch (message.type) {
        case "init":
          driver = await openDriver(message.target);
          scope.postMessage({ type: "ready" });
          return;
        case "phase": {
          if (!driver) throw new Error("phase before init");
          const result = await runCallers(driver, message);
          scope.postMessage(result, [result.latencies_ms.buffer as ArrayBuffer]);
          return;
        }
        case "close":
          driver?.close();
          scope.close();
          return;
      }
    } catch (error) {
      scope.postMessage({
        type: "failed",
        message: error instanceof Error ? error.message : String(error),
      });
    }
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

const worker_scope = globalThis as unknown as { WorkerGlobalScope?: unknown };
if (typeof worker_scope.WorkerGlobalScope !== "undefined") {
  serveLoadWorker(globalThis as unknown as Parameters<typeof serveLoadWorker>[0]);
} else if (import.meta.main && Deno.args[0] === "echo-server") {
  await serveEcho(Deno.args[1]);
}
