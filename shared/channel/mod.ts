/**
 * Worker channels: bounded single-producer single-consumer rings on a SharedArrayBuffer that
 * carry variable-size binary messages between isolates without a `postMessage` per message.
 *
 * One ring per direction. The bounded capacity is the back-pressure: `trySend` answers false
 * when the ring is full and `send` waits until the consumer drains. Messages larger than the
 * free space (even larger than the whole ring) travel in fragments and arrive whole. The main
 * isolate waits with `Atomics.waitAsync` (`send`, `receive`); a worker may block its thread with
 * `Atomics.wait` (`sendBlocking`, `receiveBlocking`). A worker that dies (throws, exits, is
 * terminated) makes the main side's pending and later calls reject with
 * {@link ChannelClosedError}: never a hang.
 *
 * @example
 * ```ts
 * // main isolate
 * const channel = await spawnWorkerChannel(new URL("./echo_worker.ts", import.meta.url));
 * await channel.sender.send(new TextEncoder().encode("ping"));
 * const reply = await channel.receiver.receive(); // Uint8Array, or null once closed and drained
 * channel.terminate();
 *
 * // echo_worker.ts
 * const { sender, receiver } = await acceptWorkerChannel();
 * for (let m = receiver.receiveBlocking(); m !== null; m = receiver.receiveBlocking()) {
 *   sender.sendBlocking(m);
 * }
 * sender.close();
 * ```
 *
 * @module
 */
export { ChannelClosedError, ChannelTimeoutError } from "./errors.ts";
export {
  createRing,
  MAX_CAPACITY_BYTES,
  MAX_MESSAGE_BYTES,
  MIN_CAPACITY_BYTES,
} from "./ring_layout.ts";
export { abortRing } from "./ring_access.ts";
export { MAX_PENDING_SENDS, RingSender } from "./ring_sender.ts";
export { MAX_PENDING_RECEIVES, RingReceiver } from "./ring_receiver.ts";
export {
  acceptWorkerChannel,
  DEFAULT_CAPACITY_BYTES,
  spawnWorkerChannel,
  type SpawnWorkerChannelOptions,
  type WorkerChannel,
} from "./worker_channel.ts";
