/**
 * A Web Worker joined to its parent by two rings, with the worker's death turned into
 * ChannelClosedError on the parent's side.
 *
 * Handshake, so that no message is lost while the worker module is still loading: the worker
 * calls {@link acceptWorkerChannel}, which posts "hello"; the parent answers with the two rings;
 * the worker posts "accepted" and the parent's {@link spawnWorkerChannel} resolves.
 *
 * @module
 */
import { ChannelClosedError, ChannelTimeoutError } from "./errors.ts";
import { createRing, validateCapacity } from "./ring_layout.ts";
import { abortRing } from "./ring_access.ts";
import { RingReceiver } from "./ring_receiver.ts";
import { RingSender } from "./ring_sender.ts";

/** The parent's end of a worker channel. */
export interface WorkerChannel {
  /** Sends to the worker. */
  sender: RingSender;
  /** Receives from the worker. */
  receiver: RingReceiver;
  /** The worker itself; stop it with {@link WorkerChannel.terminate}, not `worker.terminate`. */
  worker: Worker;
  /**
   * Aborts both rings (waiters on both sides reject with ChannelClosedError) and stops the
   * worker. Idempotent.
   */
  terminate(): void;
}

/** Options of {@link spawnWorkerChannel}. */
export interface SpawnWorkerChannelOptions {
  /** Data capacity of each ring (one per direction); default {@link DEFAULT_CAPACITY_BYTES}. */
  capacity_bytes?: number;
  /** The worker's name, shown in its error messages. */
  name?: string;
  /** Give up if the worker has not accepted the channel by then; default 60 s. */
  handshake_timeout_ms?: number;
}

/** Ring capacity of a worker channel unless told otherwise: 1 MiB per direction. */
export const DEFAULT_CAPACITY_BYTES = 1 << 20;

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 60_000;

/** Longest timer delay: `setTimeout` fires at once for anything longer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Tags of the handshake messages, so that they cannot be mistaken for the user's own. */
const HELLO = "draft.channel.hello";
const RINGS = "draft.channel.rings";
const ACCEPTED = "draft.channel.accepted";

interface RingsMessage {
  kind: typeof RINGS;
  to_worker: SharedArrayBuffer;
  from_worker: SharedArrayBuffer;
}

/**
 * Starts `module_url` as a module worker and connects to it by two rings. The worker must call
 * {@link acceptWorkerChannel}. If the worker throws an uncaught error, both rings are aborted:
 * the parent's pending and later `send`/`receive` reject with ChannelClosedError.
 *
 * @param module_url the worker module (file or http URL)
 * @returns the parent's end once the worker accepted
 * @throws ChannelClosedError (rejection) if the worker dies before accepting
 * @throws ChannelTimeoutError (rejection) if it does not accept within the handshake timeout
 * @throws RangeError (rejection) for a bad `capacity_bytes` or `handshake_timeout_ms`
 * @example
 * ```ts
 * const channel = await spawnWorkerChannel(new URL("./wal_worker.ts", import.meta.url), {
 *   capacity_bytes: 4 << 20,
 *   name: "wal",
 * });
 * await channel.sender.send(record);
 * const ack = await channel.receiver.receive();
 * ```
 */
export async function spawnWorkerChannel(
  module_url: URL | string,
  options: SpawnWorkerChannelOptions = {},
): Promise<WorkerChannel> {
  const capacity_bytes = options.capacity_bytes ?? DEFAULT_CAPACITY_BYTES;
  validateCapacity(capacity_bytes);
  const handshake_timeout_ms = options.handshake_timeout_ms ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (
    !Number.isFinite(handshake_timeout_ms) || handshake_timeout_ms < 0 ||
    handshake_timeout_ms > MAX_TIMER_MS
  ) {
    throw new RangeError(
      `handshake_timeout_ms ${handshake_timeout_ms} is invalid: allowed is 0 to ${MAX_TIMER_MS}`,
    );
  }
  const to_worker = createRing(capacity_bytes);
  const from_worker = createRing(capacity_bytes);
  const worker = new Worker(module_url, { type: "module", name: options.name });
  const label = `worker ${options.name ?? String(module_url)}`;
  let death: string | null = null;
  const abortBoth = () => {
    abortRing(to_worker, death ?? `${label} stopped`);
    abortRing(from_worker, death ?? `${label} stopped`);
  };
  worker.addEventListener("error", (event) => {
    // Handled here: the error becomes ChannelClosedError instead of ending the process.
    event.preventDefault();
    death = `${label} died: ${(event as ErrorEvent).message}`;
    abortBoth();
  });
  const channel: WorkerChannel = {
    sender: new RingSender(to_worker),
    receiver: new RingReceiver(from_worker),
    worker,
    terminate() {
      death ??= `${label} was terminated`;
      abortBoth();
      worker.terminate();
    },
  };
  try {
    await handshake(
      worker,
      { kind: RINGS, to_worker, from_worker },
      handshake_timeout_ms,
      () => death,
    );
  } catch (error) {
    channel.terminate();
    throw error;
  }
  return channel;
}

/** Runs the parent's half of the handshake; rejects on the worker's death or the timeout. */
function handshake(
  worker: Worker,
  rings: RingsMessage,
  timeout_ms: number,
  death: () => string | null,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      if (error) reject(error);
      else resolve();
    };
    const onMessage = (event: MessageEvent) => {
      const kind = (event.data as { kind?: unknown } | null)?.kind;
      if (kind === HELLO) worker.postMessage(rings);
      else if (kind === ACCEPTED) finish();
    };
    // Runs after the listener that records the death (listeners run in order).
    const onError = () => finish(new ChannelClosedError(death() ?? "worker died"));
    const timer = setTimeout(
      () =>
        finish(new ChannelTimeoutError(`worker did not accept the channel in ${timeout_ms} ms`)),
      timeout_ms,
    );
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}

/**
 * Called inside the worker module: receives the two rings from the parent. The worker's own
 * exit (`self.close()`, `Deno.exit`) aborts both rings, so the parent never waits on a worker
 * that is gone; close the sender first for a clean end of stream.
 *
 * @returns the worker's end: `sender` to the parent, `receiver` from the parent; the same
 *   ends on every call
 * @throws Error (rejection) when called outside a worker
 * @example
 * ```ts
 * const { sender, receiver } = await acceptWorkerChannel();
 * for (let m = receiver.receiveBlocking(); m !== null; m = receiver.receiveBlocking()) {
 *   sender.sendBlocking(m);
 * }
 * sender.close();
 * ```
 */
export function acceptWorkerChannel(): Promise<{ sender: RingSender; receiver: RingReceiver }> {
  accepted ??= acceptOnce();
  return accepted;
}

/** The worker's one channel: accepting again returns the same ends. */
let accepted: Promise<{ sender: RingSender; receiver: RingReceiver }> | undefined;

function acceptOnce(): Promise<{ sender: RingSender; receiver: RingReceiver }> {
  const scope = globalThis as unknown as WorkerScope;
  if (typeof scope.postMessage !== "function" || typeof scope.close !== "function") {
    return Promise.reject(new Error("acceptWorkerChannel must be called inside a Worker"));
  }
  return new Promise((resolve) => {
    const onMessage = (event: MessageEvent) => {
      const data = event.data as RingsMessage | null;
      if (data?.kind !== RINGS) return;
      scope.removeEventListener("message", onMessage);
      event.stopImmediatePropagation();
      abortOnExit(scope, [data.to_worker, data.from_worker]);
      const sender = new RingSender(data.from_worker);
      const receiver = new RingReceiver(data.to_worker);
      scope.postMessage({ kind: ACCEPTED });
      resolve({ sender, receiver });
    };
    scope.addEventListener("message", onMessage);
    scope.postMessage({ kind: HELLO });
  });
}

/** The parts of a worker's global scope this module uses. */
interface WorkerScope {
  postMessage(message: unknown): void;
  close(): void;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  removeEventListener(type: string, listener: (event: MessageEvent) => void): void;
}

/**
 * The parent gets no event when a worker exits by itself, so the worker aborts the rings on
 * its way out: `Deno.exit` fires "unload"; `self.close()` does not, so it is wrapped.
 */
function abortOnExit(scope: WorkerScope, rings: SharedArrayBuffer[]): void {
  const abortAll = () => {
    for (const ring of rings) abortRing(ring);
  };
  scope.addEventListener("unload", abortAll);
  const close = scope.close.bind(scope);
  scope.close = () => {
    abortAll();
    close();
  };
}
