/**
 * `deno task bench channel [--quick] [--json]`: 1 KiB messages between the main isolate and a
 * worker, through the SharedArrayBuffer ring and through `postMessage` (structured clone of a
 * Uint8Array, no transfer).
 *
 * - One way, in each direction: messages/s and MB/s (10^6 bytes), timed from the first message
 *   sent to the receiver's confirmation that it got the last one.
 * - Round trip (main sends, the worker echoes, main waits for the echo before the next):
 *   round trips/s and the latency percentiles, which show the cost of waking the other side.
 *
 * The ring side uses each end's fastest path: `trySend`/`tryReceive` with the waiting call as
 * fallback on the main isolate, `sendBlocking`/`receiveBlocking` in the worker.
 *
 * This module is also the benchmark's worker: started with a name beginning `channel-bench`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  acceptWorkerChannel,
  type RingSender,
  spawnWorkerChannel,
} from "../../shared/channel/mod.ts";
import { BenchReport, percentile } from "./report.ts";

/** Size of every benchmark message. */
const MESSAGE_BYTES = 1024;
/** Ring capacity per direction. */
const RING_CAPACITY_BYTES = 1 << 20;
/** Messages per run through the ring, full and quick. */
const RING_MESSAGES = { full: 2_000_000, quick: 200_000 };
/** Messages per run through postMessage (about 10x slower), full and quick. */
const POST_MESSAGES = { full: 300_000, quick: 30_000 };
/** Round trips per run, both implementations, full and quick. */
const ROUND_TRIPS = { full: 50_000, quick: 5_000 };
/** Prefix of the worker's name that makes this module run as the benchmark's worker. */
const WORKER_NAME_PREFIX = "channel-bench";

type Direction = "main->worker" | "worker->main" | "round-trip";

/** What the worker is asked to do, encoded in its name: `channel-bench:<impl>:<dir>:<count>`. */
interface WorkerTask {
  impl: "ring" | "postMessage";
  direction: Direction;
  messages: number;
}

/**
 * Runs the channel benchmark.
 *
 * @param args `--quick` for a short run, `--json` for one JSON object per line
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const size = values.quick ? "quick" : "full";
  const report = new BenchReport(values.json);
  for (const direction of ["main->worker", "worker->main"] as Direction[]) {
    const ring_task: WorkerTask = { impl: "ring", direction, messages: RING_MESSAGES[size] };
    report.add(row(ring_task, await timeRing(ring_task)));
    const post_task: WorkerTask = { impl: "postMessage", direction, messages: POST_MESSAGES[size] };
    report.add(row(post_task, await timePostMessage(post_task)));
  }
  for (const impl of ["ring", "postMessage"] as const) {
    const task: WorkerTask = { impl, direction: "round-trip", messages: ROUND_TRIPS[size] };
    const latencies_ms = impl === "ring" ? await ringRoundTrips(task) : await postRoundTrips(task);
    report.add(roundTripRow(task, latencies_ms));
  }
  report.finish();
}

function roundTripRow(task: WorkerTask, latencies_ms: number[]) {
  const total_ms = latencies_ms.reduce((sum, ms) => sum + ms, 0);
  latencies_ms.sort((a, b) => a - b);
  return {
    bench: "1KiB round trip",
    impl: task.impl,
    messages: task.messages,
    round_trips_per_s: Math.round(task.messages / (total_ms / 1000)),
    p50_us: percentile(latencies_ms, 50) * 1000,
    p99_us: percentile(latencies_ms, 99) * 1000,
    seconds: total_ms / 1000,
  };
}

/** Latency of each of `task.messages` round trips through the rings, in ms. */
async function ringRoundTrips(task: WorkerTask): Promise<number[]> {
  const channel = await spawnWorkerChannel(import.meta.url, {
    capacity_bytes: RING_CAPACITY_BYTES,
    name: workerName(task),
  });
  try {
    const message = new Uint8Array(MESSAGE_BYTES).fill(7);
    const latencies_ms: number[] = [];
    for (let i = 0; i < task.messages; i++) {
      const start_ms = performance.now();
      if (!channel.sender.trySend(message)) await channel.sender.send(message);
      const echo = channel.receiver.tryReceive() ?? await channel.receiver.receive();
      latencies_ms.push(performance.now() - start_ms);
      if (echo?.length !== MESSAGE_BYTES) throw new Error(`ring round trip ${i}: bad echo`);
    }
    return latencies_ms;
  } finally {
    channel.terminate();
  }
}

/** Latency of each of `task.messages` round trips by postMessage, in ms. */
async function postRoundTrips(task: WorkerTask): Promise<number[]> {
  const worker = new Worker(import.meta.url, { type: "module", name: workerName(task) });
  try {
    await nextMessage(worker); // the worker is ready
    const message = new Uint8Array(MESSAGE_BYTES).fill(7);
    const latencies_ms: number[] = [];
    for (let i = 0; i < task.messages; i++) {
      const start_ms = performance.now();
      const echoed = nextMessage(worker);
      worker.postMessage(message);
      await echoed;
      latencies_ms.push(performance.now() - start_ms);
    }
    return latencies_ms;
  } finally {
    worker.terminate();
  }
}

function row(task: WorkerTask, seconds: number) {
  return {
    bench: `1KiB ${task.direction}`,
    impl: task.impl,
    messages: task.messages,
    msgs_per_s: Math.round(task.messages / seconds),
    mb_per_s: (task.messages * MESSAGE_BYTES) / seconds / 1e6,
    seconds,
  };
}

function workerName(task: WorkerTask): string {
  return `${WORKER_NAME_PREFIX}:${task.impl}:${task.direction}:${task.messages}`;
}

/** Seconds to move `task.messages` through the ring, start to the receiver's last message. */
async function timeRing(task: WorkerTask): Promise<number> {
  const channel = await spawnWorkerChannel(import.meta.url, {
    capacity_bytes: RING_CAPACITY_BYTES,
    name: workerName(task),
  });
  try {
    const message = new Uint8Array(MESSAGE_BYTES).fill(7);
    const start_ms = performance.now();
    if (task.direction === "main->worker") {
      for (let i = 0; i < task.messages; i++) {
        if (!channel.sender.trySend(message)) await channel.sender.send(message);
      }
      // The worker answers once it has taken the last message.
      await channel.receiver.receive();
    } else {
      await channel.sender.send(message); // the start signal
      for (let i = 0; i < task.messages; i++) {
        const received = channel.receiver.tryReceive() ?? await channel.receiver.receive();
        if (received === null || received.length !== MESSAGE_BYTES) {
          throw new Error(`ring benchmark: message ${i} missing or of the wrong size`);
        }
      }
    }
    return (performance.now() - start_ms) / 1000;
  } finally {
    channel.terminate();
  }
}

/** Seconds to move `task.messages` by postMessage, start to the receiver's last message. */
async function timePostMessage(task: WorkerTask): Promise<number> {
  const worker = new Worker(import.meta.url, { type: "module", name: workerName(task) });
  try {
    await nextMessage(worker); // the worker is ready
    const message = new Uint8Array(MESSAGE_BYTES).fill(7);
    const start_ms = performance.now();
    if (task.direction === "main->worker") {
      for (let i = 0; i < task.messages; i++) worker.postMessage(message);
      await nextMessage(worker);
    } else {
      const all_received = countMessages(worker, task.messages);
      worker.postMessage("start");
      await all_received;
    }
    return (performance.now() - start_ms) / 1000;
  } finally {
    worker.terminate();
  }
}

function nextMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve) => {
    worker.addEventListener("message", (event) => resolve(event.data), { once: true });
  });
}

function countMessages(worker: Worker, messages: number): Promise<void> {
  return new Promise((resolve) => {
    let received = 0;
    const onMessage = () => {
      if (++received < messages) return;
      worker.removeEventListener("message", onMessage);
      resolve();
    };
    worker.addEventListener("message", onMessage);
  });
}

// ---- the worker's side -------------------------------------------------------------------

function parseWorkerTask(name: string): WorkerTask {
  const [, impl, direction, messages] = name.split(":");
  return {
    impl: impl as WorkerTask["impl"],
    direction: direction as Direction,
    messages: Number(messages),
  };
}

async function workerMain(task: WorkerTask): Promise<void> {
  if (task.impl === "ring") await ringWorker(task);
  else postMessageWorker(task);
}

async function ringWorker(task: WorkerTask): Promise<void> {
  const { sender, receiver } = await acceptWorkerChannel();
  if (task.direction === "round-trip") {
    for (let i = 0; i < task.messages; i++) {
      sender.sendBlocking(receiver.receiveBlocking() ?? new Uint8Array(0));
    }
  } else if (task.direction === "main->worker") {
    for (let i = 0; i < task.messages; i++) {
      if (receiver.receiveBlocking() === null) {
        throw new Error("ring benchmark: channel closed early");
      }
    }
    sender.sendBlocking(new Uint8Array(1));
  } else {
    receiver.receiveBlocking(); // the start signal
    sendMany(sender, task.messages);
  }
}

function sendMany(sender: RingSender, messages: number): void {
  const message = new Uint8Array(MESSAGE_BYTES).fill(9);
  for (let i = 0; i < messages; i++) {
    if (!sender.trySend(message)) sender.sendBlocking(message);
  }
}

/** The parts of a worker's global scope the postMessage side uses. */
interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

function postMessageWorker(task: WorkerTask): void {
  const scope = globalThis as unknown as WorkerScope;
  let received = 0;
  scope.onmessage = (event: MessageEvent) => {
    if (task.direction === "round-trip") {
      scope.postMessage(event.data);
      return;
    }
    if (task.direction === "main->worker") {
      if (++received === task.messages) scope.postMessage("done");
      return;
    }
    if (event.data !== "start") return;
    const message = new Uint8Array(MESSAGE_BYTES).fill(9);
    for (let i = 0; i < task.messages; i++) scope.postMessage(message);
  };
  scope.postMessage("ready");
}

const worker_name = (globalThis as { name?: unknown }).name;
if (typeof worker_name === "string" && worker_name.startsWith(WORKER_NAME_PREFIX)) {
  await workerMain(parseWorkerTask(worker_name));
}
