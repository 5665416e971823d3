/**
 * Entry point of the dedicated Raft worker: opens the durable log on the real disk, starts
 * the TCP transport, builds the core and runs the {@link WorkerLoop}; talks to the main
 * isolate only through the worker channel rings. Started by `startRaftNode`.
 *
 * @module
 */
import {
  acceptWorkerChannel,
  ChannelClosedError,
  ChannelTimeoutError,
  type RingReceiver,
  type RingSender,
} from "../../../shared/channel/mod.ts";
import { NodeFileSystem } from "../../../shared/fs/mod.ts";
import { RaftNode, SeededRng } from "../core/mod.ts";
import { RaftLogStore } from "../log/mod.ts";
import {
  CheckpointServer,
  type ChunkSource,
  completeDescriptor,
  decodeDescriptor,
  encodeChunkRequest,
  fetchCheckpoint,
  isDescriptor,
} from "../snapshot/mod.ts";
import { TcpTransport } from "../transport/mod.ts";
import {
  CommandTag,
  decodeCommand,
  type DriverEvent,
  encodeEvent,
  EventTag,
} from "./driver_protocol.ts";
import { SnapshotReceiver } from "./snapshot_receiver.ts";
import {
  decideVoteHold,
  decodeProbeResponse,
  encodeProbeRequest,
  encodeProbeResponse,
  isProbeRequest,
  type PeerState,
  PROBE_INTERVAL_MS,
  PROBE_TIMEOUT_MS,
} from "./vote_hold.ts";
import type { ResolvedRaftNodeConfig } from "./worker_config.ts";
import { WorkerLoop } from "./worker_loop.ts";

/** Commands drained from the ring per wake-up before the loop gets a turn. */
const MAX_COMMANDS_PER_DRAIN = 8_192;
/** The pump stops reading the ring while this many commands wait (back-pressure to main). */
const MAX_QUEUED_COMMANDS = 32_768;
/** Checkpoints kept for transfers: the newest registered ones (older ones go when idle). */
const CHECKPOINTS_KEPT = 2;
/** Timeout of the report a receiver sends its sender after a failed transfer. */
const REPORT_TIMEOUT_MS = 5_000;

interface Running {
  loop: WorkerLoop;
  log: RaftLogStore;
  transport: TcpTransport;
  timer: ReturnType<typeof setInterval>;
  server: CheckpointServer | null;
}

async function main(): Promise<void> {
  const { sender, receiver } = await acceptWorkerChannel();
  const first = await receiver.receive();
  if (first === null) return;
  const command = decodeCommand(first);
  if (command.tag !== CommandTag.Configure) {
    throw new Error(`raft worker: first command must be Configure, got ${CommandTag[command.tag]}`);
  }
  const config = JSON.parse(command.config_json) as ResolvedRaftNodeConfig;
  let running: Running;
  try {
    running = await startNode(config, sender);
  } catch (err) {
    await sendEvent(sender, { tag: EventTag.Failed, message: describe(err) });
    sender.close();
    return;
  }
  const { hostname, port } = running.transport.address;
  await sendEvent(sender, { tag: EventTag.Started, hostname, port });
  try {
    await pumpCommands(receiver, running.loop);
  } catch (err) {
    // The main side is gone (terminated or crashed): shut down quietly, nobody is listening.
    if (!(err instanceof ChannelClosedError)) console.error(`raft worker: ${describe(err)}`);
  }
  await shutDown(running, sender);
}

async function startNode(config: ResolvedRaftNodeConfig, sender: RingSender): Promise<Running> {
  const prefix = `raft node ${config.id}:`;
  const fs = new NodeFileSystem();
  const log = await RaftLogStore.open(fs, config.data_dir, {
    initial_conf_state: { voters: config.initial_members, learners: [] },
    segment_size_bytes: config.segment_size_bytes,
  });
  const transfers = config.checkpoints_dir !== "";
  let loop: WorkerLoop | undefined;
  let node: RaftNode | undefined;
  const server = transfers
    ? new CheckpointServer({
      fs,
      checkpoints_dir: config.checkpoints_dir,
      on_report: (from, report) => {
        if (report.ok) return;
        console.warn(
          `${prefix} ${from} could not install ${report.checkpoint_id}: ${report.reason}`,
        );
        loop?.snapshotFailed(from);
      },
    })
    : null;
  const transport = new TcpTransport({
    cluster_id: config.cluster_id,
    node_id: config.id,
    listen: config.listen,
    peers: config.peers,
    max_frame_bytes: Math.max(16 * 1024 * 1024, 2 * config.max_size_per_msg_bytes),
    on_message: (_from, payload) => loop?.receiveMessage(payload),
    on_unreachable: (peer) => loop?.peerUnreachable(peer),
    on_request: (from, payload) => {
      if (isProbeRequest(payload)) {
        const hard = node?.status().hard_state;
        return encodeProbeResponse({
          term: hard?.term ?? 0,
          last_index: node?.logBounds().last ?? 0,
        });
      }
      if (server) return server.handle(from, payload);
      return Uint8Array.of(1); // an error response: this member serves no checkpoints
    },
    log: (line) => console.warn(`${prefix} ${line}`),
  });
  const connect = async (peer: string): Promise<ChunkSource> =>
    await transport.openRequestChannel(peer);
  const receiver = transfers
    ? new SnapshotReceiver({
      committedIndex: () => loop?.committed_index ?? 0,
      isStaged: (id) => completeDescriptor(fs, config.received_dir, id) !== undefined,
      fetch: async (from, descriptor) => {
        const started_ms = performance.now();
        const result = await fetchCheckpoint({
          fs,
          received_dir: config.received_dir,
          descriptor,
          connect: () => connect(from),
          log: (line) => console.warn(`${prefix} ${line}`),
        });
        const elapsed_ms = performance.now() - started_ms;
        console.warn(
          `${prefix} staged checkpoint ${descriptor.checkpoint_id}: ${result.received_bytes} bytes ` +
            `in ${elapsed_ms.toFixed(0)} ms (${result.retries} retries)`,
        );
      },
      redeliver: (payload) => loop?.receiveMessage(payload),
      report: (to, descriptor, ok, reason) => {
        connect(to).then(async (channel) => {
          try {
            const request = { op: "report" as const, checkpoint_id: descriptor.checkpoint_id };
            await channel.call(encodeChunkRequest({ ...request, ok, reason }), REPORT_TIMEOUT_MS);
          } finally {
            channel.close();
          }
        }).catch(() => {/* the sender's snapshot timeout retries anyway */});
      },
      log: (line) => console.warn(`${prefix} ${line}`),
    })
    : null;
  // The ids of the newest registered checkpoints: older ones may be deleted when idle.
  const registered: string[] = [];
  const register = (data: Uint8Array) => {
    if (!server || !isDescriptor(data)) return;
    const id = decodeDescriptor(data).checkpoint_id;
    if (!registered.includes(id)) registered.push(id);
    registered.splice(0, Math.max(0, registered.length - CHECKPOINTS_KEPT));
    server.prune(registered);
  };
  try {
    register(log.snapshot().data);
    // An empty log (snapshot included) is "no state": a term alone may be all that a wiped
    // member learned before it crashed again, and it must keep holding then too.
    const fresh = log.lastIndex() === 0;
    const vote_hold = config.hold_vote_when_fresh && fresh && config.initial_members.length > 1;
    node = new RaftNode({
      id: config.id,
      storage: log,
      election_tick: config.election_tick,
      heartbeat_tick: config.heartbeat_tick,
      pre_vote: config.pre_vote,
      check_quorum: config.check_quorum,
      max_inflight_msgs: config.max_inflight_msgs,
      max_size_per_msg_bytes: config.max_size_per_msg_bytes,
      max_uncommitted_entries: config.max_uncommitted_entries,
      applied: config.applied_index,
      rng: new SeededRng(config.seed),
      vote_hold,
    });
    loop = new WorkerLoop(node, {
      save: (update) => log.save(update),
      send: (to, payload) => transport.send(to, payload),
      emit: (event) => sender.send(event),
      snapshot: async (index, conf_state, data) => {
        await log.createSnapshot(index, conf_state, data);
        log.compact(index);
        register(data);
      },
      setPeer: (id, address) => address ? transport.addPeer(id, address) : transport.removePeer(id),
      extraStatus: () => ({
        log_stats: log.stats(),
        transport: transport.stats(),
        snapshot_transfer: {
          fetching: receiver?.fetching ?? null,
          fetched: receiver?.fetched ?? 0,
          failed: receiver?.failed ?? 0,
          chunks_served: server?.chunks_served ?? 0,
          checkpoints_kept: registered,
        },
      }),
      log: (line) => console.error(`${prefix} ${line}`),
      admitSnapshot: receiver ? (message, payload) => receiver.admit(message, payload) : undefined,
    });
    transport.start();
  } catch (err) {
    await transport.stop();
    server?.close();
    log.close();
    throw err;
  }
  const timer = setInterval(() => loop!.tick(), config.tick_ms);
  if (loop.vote_held) {
    probePeers(config, transport, loop).catch((err) =>
      console.error(`${prefix} probing peers: ${describe(err)}`)
    );
  }
  return { loop, log, transport, timer, server };
}

/**
 * While the vote is held, asks every voter for its Raft state until the cluster turns out
 * new (release the hold) or existing (the core ends the hold once caught up).
 */
async function probePeers(
  config: ResolvedRaftNodeConfig,
  transport: TcpTransport,
  loop: WorkerLoop,
): Promise<void> {
  const prefix = `raft node ${config.id}:`;
  console.warn(`${prefix} started with no Raft state: holding the vote until the cluster is known`);
  const answers = new Map<string, PeerState>();
  const peers = config.initial_members.filter((id) => id !== config.id);
  // Bounded by the hold: it ends by release, by catching up, or by stopping.
  while (loop.vote_held && !loop.stop_requested && !loop.fatal) {
    await Promise.all(peers.map(async (peer) => {
      try {
        const channel = await transport.openRequestChannel(peer);
        try {
          answers.set(
            peer,
            decodeProbeResponse(await channel.call(encodeProbeRequest(), PROBE_TIMEOUT_MS)),
          );
        } finally {
          channel.close();
        }
      } catch {
        // unreachable for now: asked again next round
      }
    }));
    const decision = decideVoteHold(config.id, config.initial_members, answers);
    if (decision === "release") {
      console.warn(`${prefix} a quorum of the voters is new too: a new cluster, voting`);
      loop.releaseVoteHold();
      return;
    }
    if (decision === "hold_until_caught_up") {
      console.warn(`${prefix} the cluster exists: no vote until caught up with its leader`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
  }
}

/** Feeds commands to the loop until Stop, the end of the stream, or a fatal error. */
async function pumpCommands(receiver: RingReceiver, loop: WorkerLoop): Promise<void> {
  while (!loop.stop_requested && !loop.fatal) {
    if (loop.queued_commands >= MAX_QUEUED_COMMANDS) {
      await loop.idle();
      continue;
    }
    const message = await receiver.receive(1_000).catch((err) => {
      if (err instanceof ChannelTimeoutError) return undefined;
      throw err;
    });
    if (message === null) return;
    if (message === undefined) continue; // a periodic look at the stop and fatal flags
    loop.receiveCommand(decodeCommand(message));
    for (let i = 0; i < MAX_COMMANDS_PER_DRAIN; i++) {
      const next = receiver.tryReceive();
      if (next === null) break;
      loop.receiveCommand(decodeCommand(next));
    }
  }
}

async function shutDown(running: Running, sender: RingSender): Promise<void> {
  clearInterval(running.timer);
  await running.loop.idle();
  await running.transport.stop();
  running.server?.close();
  running.log.close();
  const fatal = running.loop.fatal;
  try {
    await sendEvent(
      sender,
      fatal ? { tag: EventTag.Failed, message: fatal.message } : { tag: EventTag.Stopped },
    );
    sender.close();
  } catch (err) {
    if (!(err instanceof ChannelClosedError)) throw err;
  }
  (globalThis as unknown as { close(): void }).close();
}

async function sendEvent(sender: RingSender, event: DriverEvent): Promise<void> {
  await sender.send(encodeEvent(event));
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

await main();
