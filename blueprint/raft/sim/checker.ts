/**
 * Safety checkers for the Raft simulation: Election Safety, Log Matching, Leader
 * Completeness, State Machine Safety, committed entries never change, and ReadIndex reads
 * see every write committed before they began. Pure: the simulator reports what it observes
 * and the checker returns the first violation it finds.
 *
 * @module
 */
import { type Entry, type HardState, type NodeId, Role, type Snapshot } from "../core/mod.ts";

/** What a node looks like to the checkers at one moment. */
export interface NodeView {
  /** Node id. */
  id: NodeId;
  /** Current term. */
  term: number;
  /** Current role. */
  role: Role;
  /** First index of the node's log view (snapshot index + 1). */
  first_index: number;
  /** Last index of the node's log view. */
  last_index: number;
  /** Term of `index` in the node's log view (0 if unavailable). */
  termAt(index: number): number;
}

/** A safety property was broken. */
export class SafetyViolation extends Error {
  /** Name the broken `property` and what was seen. */
  constructor(readonly property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = "SafetyViolation";
  }
}

interface CommittedRecord {
  term: number;
  hash: number;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function mixNumber(h: number, n: number): number {
  // Numbers here are < 2^53: mix low and high 32-bit halves.
  const lo = n >>> 0;
  const hi = Math.floor(n / 2 ** 32) >>> 0;
  for (const word of [lo, hi]) {
    for (let shift = 0; shift < 32; shift += 8) {
      h = Math.imul(h ^ ((word >>> shift) & 0xff), FNV_PRIME);
    }
  }
  return h >>> 0;
}

/** Hash of one entry's content (term, index, type, data). */
export function entryHash(entry: Entry): number {
  let h = mixNumber(FNV_OFFSET, entry.term);
  h = mixNumber(h, entry.index);
  h = mixNumber(h, entry.type);
  for (const b of entry.data) h = Math.imul(h ^ b, FNV_PRIME);
  return h >>> 0;
}

function chainHash(prev: number, entry: Entry): number {
  return mixNumber(mixNumber(prev, entryHash(entry)), 0x9e3779b9);
}

/**
 * Accumulates observations and throws {@link SafetyViolation} on the first broken property.
 */
export class SafetyChecker {
  /** term → the one leader seen in it (Election Safety). */
  readonly #leader_of_term = new Map<number, NodeId>();
  /** "index:term" → hash of the whole log prefix ending there (Log Matching). */
  readonly #prefix_hash = new Map<string, number>();
  /** Per node: index → prefix hash of its persisted log. */
  readonly #node_chain = new Map<NodeId, Map<number, number>>();
  /** Per node: index → term of its persisted log. */
  readonly #node_terms = new Map<NodeId, Map<number, number>>();
  /** Per node: last persisted index. */
  readonly #node_last = new Map<NodeId, number>();
  /** index → the entry committed there (never changes). */
  readonly #committed = new Map<number, CommittedRecord>();
  #max_committed = 0;
  /** Per node: last applied index (applies must be contiguous). */
  readonly #applied = new Map<NodeId, number>();
  /** Per node: last persisted hard state. */
  readonly #hard_states = new Map<NodeId, HardState>();
  /** Nodes seen as leader, with the term, to check completeness once per term. */
  readonly #checked_leader = new Map<NodeId, number>();

  /** Start from the founding snapshot (`base_index`, `base_term`) every member holds. */
  constructor(base_index: number, base_term: number) {
    this.#prefix_hash.set(`${base_index}:${base_term}`, FNV_OFFSET);
    // A member that joins later starts from the empty log.
    this.#prefix_hash.set("0:0", mixNumber(FNV_OFFSET, 0));
  }

  /** Highest index known committed anywhere. */
  maxCommitted(): number {
    return this.#max_committed;
  }

  /** Number of indexes known committed. */
  committedCount(): number {
    return this.#committed.size;
  }

  /** A node's persisted log starts from `snapshot` (founding, restart or install). */
  observeSnapshot(id: NodeId, snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const base = this.#prefix_hash.get(`${index}:${term}`);
    if (base === undefined) {
      throw new SafetyViolation(
        "Log Matching",
        `${id} installed a snapshot at ${index}:${term} that no node ever logged`,
      );
    }
    const record = this.#committed.get(index);
    if (record && record.term !== term) {
      throw new SafetyViolation(
        "State Machine Safety",
        `${id} installed snapshot ${index}:${term} but ${index} committed with term ${record.term}`,
      );
    }
    this.#node_chain.set(id, new Map([[index, base]]));
    this.#node_terms.set(id, new Map([[index, term]]));
    this.#node_last.set(id, index);
    const applied = this.#applied.get(id) ?? 0;
    if (index > applied) this.#applied.set(id, index);
  }

  /** A node persisted `entries` (appended after truncating any suffix from entries[0]). */
  observePersist(id: NodeId, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const chain = this.#node_chain.get(id);
    if (!chain) throw new Error(`checker: ${id} persisted before any snapshot was observed`);
    const first = entries[0].index;
    let prev = chain.get(first - 1);
    if (prev === undefined) {
      throw new SafetyViolation(
        "Log Matching",
        `${id} appended at ${first} with no entry at ${first - 1} (gap in the log)`,
      );
    }
    const old_last = this.#node_last.get(id) ?? 0;
    const terms = this.#node_terms.get(id)!;
    for (let i = first; i <= old_last; i++) {
      this.#checkNotDroppingCommitted(id, i, terms.get(i), entries[i - first]);
      chain.delete(i);
      terms.delete(i);
    }
    for (const entry of entries) {
      prev = chainHash(prev, entry);
      chain.set(entry.index, prev);
      terms.set(entry.index, entry.term);
      const key = `${entry.index}:${entry.term}`;
      const seen = this.#prefix_hash.get(key);
      if (seen === undefined) this.#prefix_hash.set(key, prev);
      else if (seen !== prev) {
        throw new SafetyViolation(
          "Log Matching",
          `${id} holds entry ${key} whose preceding log differs from another node's`,
        );
      }
    }
    this.#node_last.set(id, entries[entries.length - 1].index);
  }

  /** A node that holds a committed entry never replaces or drops it. */
  #checkNotDroppingCommitted(
    id: NodeId,
    index: number,
    old_term: number | undefined,
    replacement: Entry | undefined,
  ): void {
    const record = this.#committed.get(index);
    if (!record || old_term !== record.term) return;
    if (replacement && replacement.term === record.term) return;
    const what = replacement ? `${index}:${replacement.term}` : "nothing";
    throw new SafetyViolation(
      "Committed entries never change",
      `${id} replaced its committed ${index}:${record.term} with ${what}`,
    );
  }

  /**
   * A node applied `entries` (State Machine Safety: every node applies the same entry at
   * each index). `leaders` are the current leaders, which must hold what is committed.
   */
  observeApply(
    id: NodeId,
    observer_term: number,
    entries: readonly Entry[],
    leaders: NodeView[],
  ): void {
    let applied = this.#applied.get(id) ?? 0;
    for (const entry of entries) {
      if (entry.index !== applied + 1) {
        throw new SafetyViolation(
          "State Machine Safety",
          `${id} applied ${entry.index} after ${applied} (not in order)`,
        );
      }
      applied = entry.index;
      const hash = entryHash(entry);
      const record = this.#committed.get(entry.index);
      if (record === undefined) {
        this.#committed.set(entry.index, { term: entry.term, hash });
        this.#max_committed = Math.max(this.#max_committed, entry.index);
        for (const leader of leaders) {
          if (leader.term > observer_term) this.#checkLeaderHas(leader, entry.index);
        }
      } else if (record.term !== entry.term || record.hash !== hash) {
        throw new SafetyViolation(
          "State Machine Safety",
          `${id} applied ${entry.index}:${entry.term}, another node applied ${entry.index}:${record.term}`,
        );
      }
    }
    this.#applied.set(id, applied);
  }

  /** A node restarted: its application state restarts from `applied`. */
  observeRestart(id: NodeId, applied: number): void {
    this.#applied.set(id, applied);
    this.#checked_leader.delete(id);
  }

  /** Check Election Safety and (once per term) Leader Completeness for `view`. */
  observeNode(view: NodeView): void {
    if (view.role !== Role.Leader) return;
    const other = this.#leader_of_term.get(view.term);
    if (other === undefined) this.#leader_of_term.set(view.term, view.id);
    else if (other !== view.id) {
      throw new SafetyViolation(
        "Election Safety",
        `${other} and ${view.id} are both leaders of term ${view.term}`,
      );
    }
    if (this.#checked_leader.get(view.id) === view.term) return;
    this.#checked_leader.set(view.id, view.term);
    if (view.last_index < this.#max_committed) {
      throw new SafetyViolation(
        "Leader Completeness",
        `leader ${view.id} of term ${view.term} ends at ${view.last_index}, ` +
          `before committed ${this.#max_committed}`,
      );
    }
    for (let i = Math.max(view.first_index, 1); i <= this.#max_committed; i++) {
      this.#checkLeaderHas(view, i);
    }
  }

  #checkLeaderHas(view: NodeView, index: number): void {
    const record = this.#committed.get(index);
    if (!record || index < view.first_index) return;
    const term = view.termAt(index);
    if (term !== record.term) {
      throw new SafetyViolation(
        "Leader Completeness",
        `leader ${view.id} of term ${view.term} has term ${term} at committed ${index} ` +
          `(committed term ${record.term})`,
      );
    }
  }

  /** A node persisted `hard_state`: its term and commit never go backwards. */
  observeHardState(id: NodeId, hard_state: HardState): void {
    const previous = this.#hard_states.get(id);
    this.#hard_states.set(id, { ...hard_state });
    if (!previous) return;
    if (hard_state.term < previous.term || hard_state.commit < previous.commit) {
      throw new SafetyViolation(
        "Persistent state",
        `${id} went from term ${previous.term} commit ${previous.commit} ` +
          `to term ${hard_state.term} commit ${hard_state.commit}`,
      );
    }
  }

  /** A ReadIndex answer must not precede any write committed before the read began. */
  observeRead(id: NodeId, read_index: number, committed_when_asked: number): void {
    if (read_index < committed_when_asked) {
      throw new SafetyViolation(
        "Linearizable read",
        `${id} got read index ${read_index} < ${committed_when_asked} committed before the read`,
      );
    }
  }
}
