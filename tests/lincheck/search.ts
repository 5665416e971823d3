/**
 * The search core: Wing and Gong's algorithm with Lowe's memoization, as porcupine does it.
 *
 * Call and return events sit in one time-ordered doubly linked list. The search walks it from
 * the front: a call whose operation the model allows is "lifted" out of the list (with its
 * return) and pushed on a stack; reaching a return event means the operation it belongs to
 * should have been linearized already, so the search backtracks. A cache of (set of linearized
 * operations, state) pairs already explored cuts off repeated subtrees (Lowe). The list
 * removals and re-insertions are LIFO, so unlinking keeps each node's own pointers valid for
 * re-insertion ("dancing links").
 *
 * Pure: no clock of its own, the caller passes one and a deadline.
 *
 * @module
 */
import type { Model, Operation } from "./model.ts";
import { seededRandom } from "../../shared/random/mod.ts";

/** How one search ended. */
export type SearchOutcome =
  /** Every operation was linearized; `longest` is the linearization. */
  | "ok"
  /** No linearization exists; `longest` is the longest partial one found. */
  | "illegal"
  /** The deadline passed before a decision. */
  | "timeout"
  /** The memoization cache reached its bound before a decision. */
  | "cache_full";

/** What {@link searchLinearization} found. */
export interface SearchResult {
  /** How the search ended. */
  outcome: SearchOutcome;
  /** Indices into the searched operations, in the linearization order found (longest). */
  longest: number[];
  /** Loop iterations spent, for reports. */
  iterations: number;
}

/** Limits on one search. */
export interface SearchLimits {
  /** The search gives up ("timeout") once `clock()` passes this. */
  deadline_ms: number;
  /** The search gives up ("cache_full") once the cache holds this many entries. */
  max_cache_entries: number;
  /** A monotonic clock in milliseconds. */
  clock: () => number;
}

/** How many loop iterations pass between two reads of the clock (a power of two, minus 1). */
const CLOCK_CHECK_MASK = 255;

/**
 * Searches for a linearization of `operations` under `model`.
 *
 * @example
 * ```ts
 * const result = searchLinearization(model, operations, {
 *   deadline_ms: performance.now() + 1000,
 *   max_cache_entries: 1_000_000,
 *   clock: () => performance.now(),
 * });
 * ```
 */
export function searchLinearization<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  limits: SearchLimits,
): SearchResult {
  const events = new EventList(operations);
  const linearized = new Bitset(operations.length);
  const cache = new SearchCache<S>(model);
  const stack: { operation: number; state_before: S }[] = [];
  let longest: number[] = [];
  let state = model.init();
  let node = events.first();
  let iterations = 0;
  while (!events.isEmpty()) {
    iterations++;
    if ((iterations & CLOCK_CHECK_MASK) === 0 && limits.clock() > limits.deadline_ms) {
      return { outcome: "timeout", longest, iterations };
    }
    if (cache.size >= limits.max_cache_entries) {
      return { outcome: "cache_full", longest, iterations };
    }
    if (node === NO_NODE) throw new Error("lincheck: event list ended on a call (invariant)");
    const operation = events.operationOf(node);
    if (events.isCall(node)) {
      const { input, output } = operations[operation];
      const step = model.step(state, input, output);
      if (step.ok && cache.addIfNew(linearized, operation, step.state)) {
        stack.push({ operation, state_before: state });
        state = step.state;
        linearized.set(operation);
        events.lift(operation);
        node = events.first();
      } else {
        node = events.nextOf(node);
      }
      continue;
    }
    // A return: its operation had to be linearized by now. Undo the latest choice.
    if (stack.length > longest.length) longest = stack.map((entry) => entry.operation);
    const undone = stack.pop();
    if (undone === undefined) return { outcome: "illegal", longest, iterations };
    state = undone.state_before;
    linearized.clear(undone.operation);
    events.unlift(undone.operation);
    node = events.nextOf(events.callNodeOf(undone.operation));
  }
  return { outcome: "ok", longest: stack.map((entry) => entry.operation), iterations };
}

const NO_NODE = -1;

/**
 * The time-ordered call and return events of a history as a doubly linked list over arrays.
 * Node `2n` is the head sentinel.
 */
class EventList {
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly node_operation: Int32Array;
  private readonly node_is_call: Uint8Array;
  private readonly call_node: Int32Array;
  private readonly return_node: Int32Array;
  private readonly head: number;

  constructor(operations: readonly Operation<unknown, unknown>[]) {
    const count = operations.length;
    const order = sortedEvents(operations);
    this.head = 2 * count;
    this.next = new Int32Array(2 * count + 1);
    this.prev = new Int32Array(2 * count + 1);
    this.node_operation = new Int32Array(2 * count);
    this.node_is_call = new Uint8Array(2 * count);
    this.call_node = new Int32Array(count);
    this.return_node = new Int32Array(count);
    for (let node = 0; node < order.length; node++) {
      const operation = order[node] >> 1;
      const is_call = (order[node] & 1) === 0;
      this.node_operation[node] = operation;
      this.node_is_call[node] = is_call ? 1 : 0;
      if (is_call) this.call_node[operation] = node;
      else this.return_node[operation] = node;
      this.next[node] = node + 1 < order.length ? node + 1 : NO_NODE;
      this.prev[node] = node === 0 ? this.head : node - 1;
    }
    this.next[this.head] = order.length > 0 ? 0 : NO_NODE;
    this.prev[this.head] = NO_NODE;
  }

  first(): number {
    return this.next[this.head];
  }

  isEmpty(): boolean {
    return this.next[this.head] === NO_NODE;
  }

  nextOf(node: number): number {
    return this.next[node];
  }

  isCall(node: number): boolean {
    return this.node_is_call[node] === 1;
  }

  operationOf(node: number): number {
    return this.node_operation[node];
  }

  callNodeOf(operation: number): number {
    return this.call_node[operation];
  }

  /** Unlinks an operation's call and return. */
  lift(operation: number): void {
    this.unlink(this.call_node[operation]);
    this.unlink(this.return_node[operation]);
  }

  /** Re-links what the matching {@link lift} unlinked, in reverse order. */
  unlift(operation: number): void {
    this.relink(this.return_node[operation]);
    this.relink(this.call_node[operation]);
  }

  private unlink(node: number): void {
    const before = this.prev[node];
    const after = this.next[node];
    this.next[before] = after;
    if (after !== NO_NODE) this.prev[after] = before;
  }

  private relink(node: number): void {
    const before = this.prev[node];
    const after = this.next[node];
    this.next[before] = node;
    if (after !== NO_NODE) this.prev[after] = node;
  }
}

/**
 * Events encoded as `2 * operation + (return ? 1 : 0)`, ordered by time; at equal times calls
 * come first (the operations count as concurrent), then by operation for a stable order.
 */
export function sortedEvents(operations: readonly Operation<unknown, unknown>[]): Int32Array {
  const events = new Int32Array(2 * operations.length);
  for (let i = 0; i < events.length; i++) events[i] = i;
  const timeOf = (event: number) =>
    (event & 1) === 0 ? operations[event >> 1].call_ms : operations[event >> 1].return_ms;
  events.sort((a, b) => {
    const time_a = timeOf(a);
    const time_b = timeOf(b);
    if (time_a !== time_b) return time_a < time_b ? -1 : 1;
    if ((a & 1) !== (b & 1)) return (a & 1) - (b & 1);
    return a - b;
  });
  return events;
}

/**
 * A fixed-size set of operation indices with an incrementally kept Zobrist hash, so hashing a
 * set costs nothing per step.
 */
class Bitset {
  readonly words: Uint32Array;
  private hash_low = 0;
  private readonly keys_low: Uint32Array;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    this.keys_low = new Uint32Array(size);
    const random = seededUint32(0x9e3779b9);
    for (let i = 0; i < size; i++) this.keys_low[i] = random();
  }

  set(index: number): void {
    if (this.has(index)) throw new Error(`lincheck: operation ${index} linearized twice`);
    this.toggle(index);
  }

  clear(index: number): void {
    if (!this.has(index)) throw new Error(`lincheck: operation ${index} was not linearized`);
    this.toggle(index);
  }

  has(index: number): boolean {
    return (this.words[index >>> 5] & (1 << (index & 31))) !== 0;
  }

  /** The 30-bit hash this set would have with `index` added, without changing it. */
  hashWith(index: number): number {
    return (this.hash_low ^ this.keys_low[index]) & HASH_MASK;
  }

  /** Whether `words` equals this set with `index` added. */
  equalsWith(words: Uint32Array, index: number): boolean {
    const changed_word = index >>> 5;
    for (let i = 0; i < words.length; i++) {
      const mine = i === changed_word ? this.words[i] | (1 << (index & 31)) : this.words[i];
      if (words[i] !== (mine >>> 0)) return false;
    }
    return true;
  }

  /** A copy of the words of this set with `index` added. */
  wordsWith(index: number): Uint32Array {
    const words = this.words.slice();
    words[index >>> 5] |= 1 << (index & 31);
    return words;
  }

  private toggle(index: number): void {
    this.words[index >>> 5] ^= 1 << (index & 31);
    this.hash_low = (this.hash_low ^ this.keys_low[index]) >>> 0;
  }
}

/** Lowe's memoization: (linearized set, state) pairs already explored. */
class SearchCache<S> {
  // Keyed by a 30-bit number (a small integer for V8); collisions are settled by comparing.
  private readonly buckets = new Map<number, { words: Uint32Array; state: S }[]>();
  size = 0;

  constructor(private readonly model: Model<S, unknown, unknown>) {}

  /**
   * Records (`linearized` plus `operation`, `state`) and returns true, or returns false if that
   * pair was explored before.
   */
  addIfNew(linearized: Bitset, operation: number, state: S): boolean {
    const key = (linearized.hashWith(operation) ^ hashString(this.model.hash(state))) &
      HASH_MASK;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(key, bucket);
    }
    for (const entry of bucket) {
      if (linearized.equalsWith(entry.words, operation) && this.model.equal(entry.state, state)) {
        return false;
      }
    }
    bucket.push({ words: linearized.wordsWith(operation), state });
    this.size++;
    return true;
  }
}

const HASH_MASK = 0x3fffffff;

/** FNV-1a over UTF-16 code units. */
function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/**
 * 32-bit integers from the shared seeded generator, so Zobrist keys (and so any cache
 * behaviour) replay exactly.
 */
function seededUint32(seed: number): () => number {
  const random = seededRandom(seed);
  return () => random() * 4294967296; // exact: the generator's numbers are k / 2^32
}
