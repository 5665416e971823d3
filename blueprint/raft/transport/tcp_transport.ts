/**
 * Raft peer transport over TCP. Each node dials every peer once for its outbound messages
 * and accepts the peers' connections for inbound ones, so each connection carries one
 * direction and needs no request matching.
 *
 * Outbound: one bounded queue per peer (full = drop and count; Raft retries), one writer loop
 * per peer that sends everything queued in one write (batching), and reconnects with capped
 * exponential back-off and jitter. A peer becoming unreachable is logged once, and its return
 * once.
 *
 * @module
 */
import type { NodeId } from "../core/mod.ts";
import { backoffDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
import {
  decodeHello,
  encodeFrame,
  encodeHelloFrame,
  encodeMessageFrames,
  FrameDecoder,
  FrameError,
  FrameKind,
} from "./frame_codec.ts";
import { OutboundQueue } from "./outbound_queue.ts";

/** Where a peer listens. */
export interface PeerAddress {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** Configuration of a {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** Cluster this node belongs to; connections from other clusters are refused. */
  cluster_id: string;
  /** This node's id (sent in the hello). */
  node_id: NodeId;
  /** Where to listen; port 0 picks a free port (see {@link TcpTransport.address}). */
  listen: PeerAddress;
  /** The peers to send to, by id. */
  peers: Record<NodeId, PeerAddress>;
  /** Called for each message received, with the sender's id from its hello. */
  on_message: (from: NodeId, payload: Uint8Array) => void;
  /** Largest message accepted or sent, in bytes (default 16 MiB). */
  max_frame_bytes?: number;
  /** Most messages queued per peer (default 8,192). */
  max_queue_messages?: number;
  /** Most bytes queued per peer (default 64 MiB). */
  max_queue_bytes?: number;
  /** Most bytes per socket write (default 1 MiB). */
  max_batch_bytes?: number;
  /** Reconnect back-off (default 50 ms doubling to 2 s, with jitter). */
  backoff?: BackoffOptions;
  /** Uniform [0, 1) randomness for jitter (default Math.random). */
  random?: () => number;
  /** Where reachability changes and protocol errors are reported (default console.warn). */
  log?: (line: string) => void;
  /**
   * Called whenever messages to a peer may have been lost (a connection attempt or a write
   * failed, or the peer closed the connection), so Raft can probe instead of streaming.
   */
  on_unreachable?: (peer: NodeId) => void;
  /**
   * Answers a request frame (checkpoint transfer). Requests of one connection are answered
   * one at a time, in order. Without it, a request frame closes the connection.
   */
  on_request?: (from: NodeId, payload: Uint8Array) => Uint8Array | Promise<Uint8Array>;
}

/** Most requests one {@link RequestChannel} has in flight. */
export const MAX_REQUESTS_IN_FLIGHT = 64;

/** Counters of one peer. */
export interface PeerStats {
  /** Messages written to the socket. */
  sent: number;
  /** Messages dropped because the queue was full or the connection failed mid-batch. */
  dropped: number;
  /** Successful connections made. */
  connects: number;
  /** Whether a connection is up now. */
  connected: boolean;
  /** Messages waiting. */
  queued: number;
}

const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const READ_BUFFER_BYTES = 256 * 1024;
const MAX_INBOUND_CONNECTIONS = 256;
const HELLO_TIMEOUT_MS = 10_000;

interface Peer {
  id: NodeId;
  address: PeerAddress;
  queue: OutboundQueue;
  conn: Deno.TcpConn | null;
  /** undefined until the first attempt; then whether the last attempt succeeded. */
  reachable: boolean | undefined;
  sent: number;
  lost_in_flight: number;
  connects: number;
  removed: boolean;
  task: Promise<void>;
}

/**
 * TCP transport for Raft messages (payloads are opaque encoded messages).
 *
 * @example
 * ```ts
 * const transport = new TcpTransport({
 *   cluster_id: "blueprint", node_id: "a", listen: { hostname: "127.0.0.1", port: 7001 },
 *   peers: { b: { hostname: "127.0.0.1", port: 7002 } },
 *   on_message: (from, bytes) => node.step(decodeMessage(bytes)),
 * });
 * transport.start();
 * transport.send("b", encodeMessage(message));
 * ```
 */
export class TcpTransport {
  readonly #options: TcpTransportOptions;
  readonly #max_frame_bytes: number;
  readonly #hello: Uint8Array;
  readonly #random: () => number;
  readonly #log: (line: string) => void;
  #listener: Deno.TcpListener | null = null;
  #peers = new Map<NodeId, Peer>();
  #inbound = new Set<Deno.TcpConn>();
  #tasks = new Set<Promise<void>>();
  #sleepers = new Set<() => void>();
  #stopped = false;
  #received = 0;

  /** @param options see {@link TcpTransportOptions} */
  constructor(options: TcpTransportOptions) {
    this.#options = options;
    this.#max_frame_bytes = options.max_frame_bytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(this.#max_frame_bytes) || this.#max_frame_bytes < 1024) {
      throw new RangeError(
        `max_frame_bytes must be an integer >= 1024, got ${this.#max_frame_bytes}`,
      );
    }
    this.#hello = encodeHelloFrame({ cluster_id: options.cluster_id, sender_id: options.node_id });
    this.#random = options.random ?? Math.random;
    this.#log = options.log ?? ((line) => console.warn(line));
  }

  /** Starts listening and dialing the peers. Returns the address actually bound. */
  start(): PeerAddress {
    if (this.#listener || this.#stopped) throw new Error("TcpTransport.start: already started");
    this.#listener = Deno.listen({
      hostname: this.#options.listen.hostname,
      port: this.#options.listen.port,
      transport: "tcp",
    });
    this.#track(this.#acceptLoop(this.#listener));
    for (const [id, address] of Object.entries(this.#options.peers)) this.addPeer(id, address);
    return this.address;
  }

  /** The bound listen address. */
  get address(): PeerAddress {
    if (!this.#listener) throw new Error("TcpTransport: not started");
    const addr = this.#listener.addr as Deno.NetAddr;
    return { hostname: addr.hostname, port: addr.port };
  }

  /** Starts sending to a new peer (or replaces its address). */
  addPeer(id: NodeId, address: PeerAddress): void {
    if (id === this.#options.node_id) return;
    const existing = this.#peers.get(id);
    if (existing) this.removePeer(id);
    const peer: Peer = {
      id,
      address,
      queue: new OutboundQueue({
        max_messages: this.#options.max_queue_messages ?? 8192,
        max_bytes: this.#options.max_queue_bytes ?? 64 * 1024 * 1024,
      }),
      conn: null,
      reachable: undefined,
      sent: 0,
      lost_in_flight: 0,
      connects: 0,
      removed: false,
      task: Promise.resolve(),
    };
    this.#peers.set(id, peer);
    peer.task = this.#track(this.#runPeer(peer));
  }

  /** Stops sending to a peer and closes its connection. */
  removePeer(id: NodeId): void {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#peers.delete(id);
    peer.removed = true;
    peer.queue.clear();
    peer.queue.wake();
    closeQuietly(peer.conn);
  }

  /**
   * Queues a message for a peer. Returns false when it was dropped (unknown peer, full queue,
   * or larger than the frame limit).
   */
  send(to: NodeId, payload: Uint8Array): boolean {
    const peer = this.#peers.get(to);
    if (!peer || this.#stopped) return false;
    if (payload.length > this.#max_frame_bytes) {
      peer.queue.dropped++;
      return false;
    }
    return peer.queue.push(payload);
  }

  /**
   * Opens a dedicated connection to `peer` for requests (answered in order by its
   * `on_request`). Rejects if the peer is unknown or cannot be reached.
   */
  async openRequestChannel(peer: NodeId): Promise<RequestChannel> {
    const known = this.#peers.get(peer);
    if (!known || this.#stopped) throw new Error(`raft transport: no address for peer ${peer}`);
    const conn = await Deno.connect({
      hostname: known.address.hostname,
      port: known.address.port,
      transport: "tcp",
    });
    try {
      conn.setNoDelay(true);
      await writeAll(conn, this.#hello);
    } catch (err) {
      closeQuietly(conn);
      throw err;
    }
    const channel = new RequestChannel(conn, this.#max_frame_bytes);
    this.#track(channel.closed);
    return channel;
  }

  /** Counters per peer, and messages received from all peers. */
  stats(): { peers: Record<NodeId, PeerStats>; received: number } {
    const peers: Record<NodeId, PeerStats> = {};
    for (const peer of this.#peers.values()) {
      peers[peer.id] = {
        sent: peer.sent,
        dropped: peer.queue.dropped + peer.lost_in_flight,
        connects: peer.connects,
        connected: peer.conn !== null,
        queued: peer.queue.length,
      };
    }
    return { peers, received: this.#received };
  }

  /** Closes the listener and every connection, and waits for all loops to end. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    for (const id of [...this.#peers.keys()]) this.removePeer(id);
    for (const conn of this.#inbound) closeQuietly(conn);
    for (const wake of this.#sleepers) wake();
    await Promise.allSettled([...this.#tasks]);
  }

  // ---- outbound ----------------------------------------------------------------------------

  async #runPeer(peer: Peer): Promise<void> {
    let attempt = 0;
    while (!this.#stopped && !peer.removed) {
      try {
        const conn = await Deno.connect({
          hostname: peer.address.hostname,
          port: peer.address.port,
          transport: "tcp",
        });
        if (this.#stopped || peer.removed) {
          closeQuietly(conn);
          return;
        }
        conn.setNoDelay(true);
        peer.conn = conn;
        await writeAll(conn, this.#hello);
        peer.connects++;
        attempt = 0;
        if (peer.reachable === false) {
          this.#log(`raft transport: peer ${peer.id} is reachable again`);
        }
        peer.reachable = true;
        this.#track(this.#watchForClose(peer, conn));
        await this.#writeLoop(peer, conn);
      } catch (err) {
        if (!this.#stopped && !peer.removed && peer.reachable !== false) {
          this.#log(
            `raft transport: peer ${peer.id} at ${peer.address.hostname}:${peer.address.port} ` +
              `is unreachable (${(err as Error).message}); retrying with back-off`,
          );
        }
        peer.reachable = false;
        if (!this.#stopped && !peer.removed) this.#options.on_unreachable?.(peer.id);
      } finally {
        closeQuietly(peer.conn);
        peer.conn = null;
      }
      if (this.#stopped || peer.removed) return;
      await this.#sleep(
        backoffDelayMs(attempt++, this.#options.backoff ?? DEFAULT_BACKOFF, this.#random),
      );
    }
  }

  async #writeLoop(peer: Peer, conn: Deno.TcpConn): Promise<void> {
    const max_batch_bytes = this.#options.max_batch_bytes ?? 1024 * 1024;
    while (!this.#stopped && !peer.removed && peer.conn === conn) {
      await peer.queue.waitNonEmpty();
      if (this.#stopped || peer.removed || peer.conn !== conn) return;
      const batch = peer.queue.takeBatch(max_batch_bytes);
      if (batch.length === 0) continue;
      try {
        await writeAll(conn, encodeMessageFrames(batch));
      } catch (err) {
        peer.lost_in_flight += batch.length;
        throw err;
      }
      peer.sent += batch.length;
    }
  }

  /** The peer never writes on our outbound connection: a read returning is its close. */
  async #watchForClose(peer: Peer, conn: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(64);
    try {
      while ((await conn.read(buffer)) !== null) { /* nothing is expected; ignore */ }
    } catch { /* reset: same as closed */ }
    if (peer.conn === conn) {
      peer.conn = null;
      closeQuietly(conn);
      peer.queue.wake(); // lets the write loop notice and reconnect
      if (!this.#stopped && !peer.removed && peer.reachable) {
        this.#log(
          `raft transport: peer ${peer.id} closed the connection; unreachable until it reconnects`,
        );
        peer.reachable = false;
      }
      if (!this.#stopped && !peer.removed) this.#options.on_unreachable?.(peer.id);
    }
  }

  // ---- inbound -----------------------------------------------------------------------------

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    try {
      for await (const conn of listener) {
        if (this.#stopped) {
          closeQuietly(conn);
          break;
        }
        if (this.#inbound.size >= MAX_INBOUND_CONNECTIONS) {
          this.#log(`raft transport: refusing a connection; ${MAX_INBOUND_CONNECTIONS} are open`);
          closeQuietly(conn);
          continue;
        }
        this.#track(this.#serveInbound(conn));
      }
    } catch (err) {
      if (!this.#stopped) this.#log(`raft transport: listener failed: ${(err as Error).message}`);
    }
  }

  async #serveInbound(conn: Deno.TcpConn): Promise<void> {
    this.#inbound.add(conn);
    const decoder = new FrameDecoder(this.#max_frame_bytes);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let sender: NodeId | null = null;
    const hello_timer = setTimeout(() => closeQuietly(conn), HELLO_TIMEOUT_MS);
    try {
      while (!this.#stopped) {
        const count = await conn.read(buffer);
        if (count === null) break;
        for (const frame of decoder.push(buffer.subarray(0, count))) {
          if (sender === null) {
            sender = this.#acceptHello(frame.kind, frame.payload);
            clearTimeout(hello_timer);
            continue;
          }
          if (frame.kind === FrameKind.Request && this.#options.on_request) {
            const response = await this.#options.on_request(sender, frame.payload);
            await writeAll(conn, encodeFrame(FrameKind.Response, response));
            continue;
          }
          if (frame.kind !== FrameKind.Message) {
            throw new FrameError(`unexpected frame kind ${frame.kind} after the hello`);
          }
          this.#received++;
          this.#options.on_message(sender, frame.payload);
        }
        decoder.check();
      }
    } catch (err) {
      if (!this.#stopped && !(err instanceof Deno.errors.BadResource)) {
        const from = sender ?? remoteName(conn);
        this.#log(`raft transport: dropping connection from ${from}: ${(err as Error).message}`);
      }
    } finally {
      clearTimeout(hello_timer);
      this.#inbound.delete(conn);
      closeQuietly(conn);
    }
  }

  #acceptHello(kind: FrameKind, payload: Uint8Array): NodeId {
    if (kind !== FrameKind.Hello) throw new FrameError("the first frame must be a hello");
    const hello = decodeHello(payload);
    if (hello.cluster_id !== this.#options.cluster_id) {
      throw new FrameError(
        `peer ${hello.sender_id} is in cluster "${hello.cluster_id}", ` +
          `this node in "${this.#options.cluster_id}"`,
      );
    }
    return hello.sender_id;
  }

  // ---- helpers -----------------------------------------------------------------------------

  #track(task: Promise<void>): Promise<void> {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
    return task;
  }

  #sleep(delay_ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delay_ms);
      this.#sleepers.add(wake);
    });
  }
}

/**
 * A request/response connection to one peer (see {@link TcpTransport.openRequestChannel}):
 * responses arrive in request order, so each answers the oldest waiting call.
 */
export class RequestChannel {
  readonly #conn: Deno.TcpConn;
  readonly #decoder: FrameDecoder;
  readonly #waiting: {
    resolve(payload: Uint8Array): void;
    reject(error: Error): void;
    timer: ReturnType<typeof setTimeout>;
  }[] = [];
  #error: Error | null = null;
  /** Resolves when the connection is closed and its reader has stopped. */
  readonly closed: Promise<void>;

  /** @internal Made by {@link TcpTransport.openRequestChannel}. */
  constructor(conn: Deno.TcpConn, max_frame_bytes: number) {
    this.#conn = conn;
    this.#decoder = new FrameDecoder(max_frame_bytes);
    this.closed = this.#readLoop();
  }

  /**
   * Sends one request; resolves with its response. Rejects after `timeout_ms` (and closes the
   * channel: later responses could no longer be matched), or when the channel fails.
   */
  call(payload: Uint8Array, timeout_ms: number): Promise<Uint8Array> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#waiting.length >= MAX_REQUESTS_IN_FLIGHT) {
      return Promise.reject(
        new RangeError(`more than ${MAX_REQUESTS_IN_FLIGHT} requests in flight on one channel`),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#fail(new Error(`request timed out after ${timeout_ms} ms`)),
        timeout_ms,
      );
      this.#waiting.push({ resolve, reject, timer });
      writeAll(this.#conn, encodeFrame(FrameKind.Request, payload)).catch((err) =>
        this.#fail(err as Error)
      );
    });
  }

  /** Closes the connection; waiting calls reject. */
  close(): void {
    this.#fail(new Error("request channel closed"));
  }

  #fail(error: Error): void {
    if (!this.#error) this.#error = error;
    closeQuietly(this.#conn);
    for (const waiter of this.#waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#error);
    }
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      // Bounded by the connection: ends when the peer or close() ends it.
      for (;;) {
        const count = await this.#conn.read(buffer);
        if (count === null) break;
        for (const frame of this.#decoder.push(buffer.subarray(0, count))) {
          const waiter = this.#waiting.shift();
          if (frame.kind !== FrameKind.Response || !waiter) {
            throw new FrameError(`unexpected frame kind ${frame.kind} on a request channel`);
          }
          clearTimeout(waiter.timer);
          waiter.resolve(frame.payload);
        }
        this.#decoder.check();
      }
      this.#fail(new Error("the peer closed the request channel"));
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

async function writeAll(conn: Deno.TcpConn, data: Uint8Array): Promise<void> {
  let written = 0;
  // Bounded: each write makes progress or throws.
  while (written < data.length) written += await conn.write(data.subarray(written));
}

function closeQuietly(conn: Deno.TcpConn | null): void {
  if (!conn) return;
  try {
    conn.close();
  } catch { /* already closed */ }
}

function remoteName(conn: Deno.TcpConn): string {
  const addr = conn.remoteAddr as Deno.NetAddr;
  return `${addr.hostname}:${addr.port}`;
}
