/**
 * A synchronous in-memory cluster for unit tests: Ready handling with immediate persistence
 * and a message pump with per-link drop rules (etcd's `network` test helper, in small).
 * Not exported through mod.ts: test-only.
 *
 * @module
 */
import { MemoryRaftStorage } from "./memory_storage.ts";
import { RaftNode, type RaftNodeOptions } from "./raft.ts";
import { SeededRng } from "./rng.ts";
import type { Entry, Message, NodeId, ReadState, Ready } from "./types.ts";

/** Persist a Ready into storage the way a driver must (snapshot, entries, hard state). */
export function persistReady(storage: MemoryRaftStorage, rd: Ready): void {
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hard_state) storage.setHardState(rd.hard_state);
}

/** One test member. */
export interface TestMember {
  /** The node. */
  node: RaftNode;
  /** Its durable storage (survives restarts). */
  storage: MemoryRaftStorage;
  /** Entries applied, in order. */
  applied: Entry[];
  /** Read states received. */
  read_states: ReadState[];
}

/** Options that differ from the test defaults. */
export type TestNodeOverrides = Partial<Omit<RaftNodeOptions, "id" | "storage">>;

/** Build a node config with test defaults. */
export function testConfig(
  id: NodeId,
  storage: MemoryRaftStorage,
  overrides: TestNodeOverrides = {},
): RaftNodeOptions {
  return {
    id,
    storage,
    election_tick: 10,
    heartbeat_tick: 1,
    pre_vote: false,
    check_quorum: false,
    max_inflight_msgs: 256,
    max_size_per_msg_bytes: 1 << 20,
    rng: new SeededRng([...id].reduce((h, ch) => h * 31 + ch.charCodeAt(0), 7) >>> 0),
    ...overrides,
  };
}

/** A cluster whose messages are delivered synchronously by {@link stabilize}. */
export class TestCluster {
  /** Members by id. */
  readonly members = new Map<NodeId, TestMember>();
  /** Links "from->to" that drop everything. */
  readonly cut = new Set<string>();
  /** Drop messages this predicate selects (besides cut links). */
  drop: (message: Message) => boolean = () => false;
  /** Messages seen by the pump, in order (for assertions). */
  readonly trace: Message[] = [];

  /** Founding members `ids`, all voters. */
  constructor(ids: NodeId[], overrides: TestNodeOverrides = {}) {
    for (const id of ids) {
      const storage = new MemoryRaftStorage({ voters: ids, learners: [] });
      this.add(id, storage, overrides);
    }
  }

  /** Add (or restart) a member over `storage`. */
  add(id: NodeId, storage: MemoryRaftStorage, overrides: TestNodeOverrides = {}): TestMember {
    const member: TestMember = {
      node: new RaftNode(testConfig(id, storage, overrides)),
      storage,
      applied: [],
      read_states: [],
    };
    this.members.set(id, member);
    return member;
  }

  /** The member `id` (throws if unknown). */
  get(id: NodeId): TestMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** Node `id`. */
  node(id: NodeId): RaftNode {
    return this.get(id).node;
  }

  /** Drop every message to and from `id`. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  /** Restore every link. */
  heal(): void {
    this.cut.clear();
  }

  /** Handle one Ready of `id` (persist, apply, advance) and return its messages. */
  drain(id: NodeId): Message[] {
    const m = this.get(id);
    if (!m.node.hasReady()) return [];
    const rd = m.node.ready();
    persistReady(m.storage, rd);
    m.applied.push(...rd.committed_entries);
    m.read_states.push(...rd.read_states);
    m.node.advance(rd);
    return rd.messages;
  }

  /** Deliver messages until no node has work (bounded), honouring cut links. */
  stabilize(max_rounds = 1000): void {
    for (let round = 0; round < max_rounds; round++) {
      let moved = false;
      for (const id of this.members.keys()) {
        for (const msg of this.drain(id)) {
          moved = true;
          this.trace.push(msg);
          if (this.cut.has(`${msg.from}->${msg.to}`) || this.drop(msg)) continue;
          this.members.get(msg.to)?.node.step(msg);
        }
      }
      if (!moved) return;
    }
    throw new Error(`cluster did not stabilize in ${max_rounds} rounds`);
  }

  /** Tick `id` until it campaigns and let the cluster settle. */
  elect(id: NodeId): void {
    const node = this.node(id);
    for (let i = 0; i < 100 && node.status().soft_state.role === 0; i++) node.tick();
    this.stabilize();
  }

  /** Tick every member `n` times, stabilizing after each round. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) m.node.tick();
      this.stabilize();
    }
  }
}
