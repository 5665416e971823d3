/**
 * The memtable: recent writes, sorted by internal key, in memory until flushed to a table.
 *
 * A skip list (LevelDB's choice) over two arenas: node records (links, offsets and a 16-byte
 * key prefix) in one Int32Array, key and value bytes in one Uint8Array. Nodes never move, so
 * an iterator stays valid while writes continue into the same memtable (a scan over the
 * active memtable keeps walking as new entries are linked in). Level 0 is doubly linked so
 * `prev()` is O(1). Entries are never removed; a memtable is dropped whole after its flush.
 *
 * Why arenas: with one JS object (plus a links array and a key array) per entry, a search
 * chases four pointers per comparison and inserts stall on cache misses and GC (measured
 * 3x slower at 100k entries). Here a comparison first reads the prefix stored in the node
 * record itself and touches the key bytes only on a prefix tie. The prefix is 16 bytes, as
 * four big-endian words with the sign bit flipped (so signed int32 order is byte order):
 * short prefixes are useless for keys that share a long head, such as zero-padded numbers.
 *
 * A full memtable reaches the flush worker as its arenas ({@link Memtable.arena}, copied
 * once into pooled shared memory by the executor, walked there by {@link forEachArenaRange}),
 * not entry by entry. The arenas themselves are ordinary ArrayBuffers: the GC counts those
 * as external memory and frees a flushed memtable promptly, which it does not do for
 * SharedArrayBuffers (measured: peak RSS of a 1M random fill rose by 60-75 MiB with
 * shared arenas).
 *
 * A small bloom filter over the user keys (two probes, about 16 bits per entry, doubled and
 * rebuilt as the memtable grows) answers most `get`s for keys the memtable lacks without a
 * search: a read usually misses the memtable and finds its key in a table.
 *
 * @module
 */
import type { InternalIterator } from "./iterator.ts";
import {
  compareByteRanges,
  compareInternalKeys,
  compareTrailers,
  sequenceOf,
  TRAILER_SIZE_BYTES,
  ValueType,
  writeTrailer,
} from "./internal_key.ts";

const MAX_HEIGHT = 12;
/** One in BRANCHING nodes reaches the next level. */
const BRANCHING = 4;
/** Node record fields (Int32 slots), followed by `height` next links. */
const KEY_OFFSET = 0;
const KEY_LENGTH = 1;
/** Four prefix words: user key bytes [0, 16), see {@link prefixWord}. */
const PREFIX_0 = 2;
const PREFIX_1 = 3;
const PREFIX_2 = 4;
const PREFIX_3 = 5;
const VALUE_OFFSET = 6;
const VALUE_LENGTH = 7;
const HEIGHT = 8;
const PREV = 9;
const LINKS = 10;
/** User-key bytes held in the prefix words. */
const PREFIX_BYTES = 16;
/** The head node sits at slot 0; link value 0 therefore means "none" (head is never a successor). */
const HEAD = 0;
const NONE = 0;
const INITIAL_NODE_SLOTS = 4096;
const INITIAL_BYTES = 64 << 10;
/** Largest capacity hint honoured up front (larger memtables grow by doubling). */
const MAX_HINT_BYTES = 256 << 20;
/** Largest arena: Int32 offsets address at most 2^31 - 1 bytes. */
const MAX_ARENA_BYTES = 2 ** 31 - 1;
/** Filter bits per entry before the filter doubles: two probes then pass about 1.4%. */
const FILTER_BITS_PER_ENTRY = 16;
const INITIAL_FILTER_BITS = 1 << 15;
/** Entry size (key, value and node) assumed when sizing the filter from a capacity hint. */
const TYPICAL_ENTRY_BYTES = 128;
/** Past this (4 million entries) the filter stops growing and just admits more. */
const MAX_FILTER_BITS = 1 << 26;

/** Below this length a byte loop beats `subarray` + `set` (measured: about 2x at 16 and 100 bytes). */
const LOOP_COPY_MAX_BYTES = 256;

/** Copies `source[start, start + length)` to `target` at `at`. */
function copyBytes(
  source: Uint8Array,
  start: number,
  length: number,
  target: Uint8Array,
  at: number,
): void {
  if (length > LOOP_COPY_MAX_BYTES) {
    target.set(source.subarray(start, start + length), at);
    return;
  }
  for (let i = 0; i < length; i++) target[at + i] = source[start + i];
}

/**
 * A memtable's two arenas (the used part of each). Read it only once the memtable takes no
 * more writes; copy it into shared memory to hand it to a Worker.
 */
export interface MemtableArena {
  /** Node records and links. */
  readonly nodes: Int32Array;
  /** Key and value bytes. */
  readonly bytes: Uint8Array;
  /** Number of entries. */
  readonly entry_count: number;
}

/**
 * Visits every entry of an arena in internal-key order, walking level 0 of the skip list,
 * without making views: `visit` gets the arena's bytes and each entry's internal key and value
 * as offsets and lengths in them (a flush's hot loop). Works on an arena received from
 * another isolate (the layout constants live here).
 *
 * @throws Error when the walk does not meet exactly `entry_count` entries (a damaged arena)
 */
export function forEachArenaRange(
  arena: MemtableArena,
  visit: (
    bytes: Uint8Array,
    key_offset: number,
    key_length: number,
    value_offset: number,
    value_length: number,
  ) => void,
): void {
  const { nodes, bytes, entry_count } = arena;
  let seen = 0;
  // Bounded: level 0 links each entry once; the count check catches a cycle.
  for (let node = nodes[HEAD + LINKS]; node !== NONE; node = nodes[node + LINKS]) {
    if (++seen > entry_count) break;
    visit(
      bytes,
      nodes[node + KEY_OFFSET],
      nodes[node + KEY_LENGTH],
      nodes[node + VALUE_OFFSET],
      nodes[node + VALUE_LENGTH],
    );
  }
  if (seen !== entry_count) {
    throw new Error(`memtable arena: walked ${seen} entries, expected ${entry_count}`);
  }
}

/** The newest entry of a user key visible at a snapshot. */
export interface MemtableHit {
  /** Value or deletion. */
  type: ValueType;
  /** Sequence number of the write. */
  sequence: number;
  /** The value (empty for a deletion); a view the caller must not modify. */
  value: Uint8Array;
}

/**
 * Bytes `[at, at + 4)` of `bytes[0, end)` as a big-endian word, zero padded, with the sign bit
 * flipped: comparing two such int32 words orders like comparing the bytes (unsigned), and the
 * values stay small integers for the JIT. Zero padding keeps the order (a key sorts no later
 * than its extensions); a tie on all words is settled by the bytes.
 */
function prefixWord(bytes: Uint8Array, at: number, end: number): number {
  if (at + 4 <= end) {
    return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) ^
      0x80000000;
  }
  return (((at < end ? bytes[at] : 0) << 24) |
    ((at + 1 < end ? bytes[at + 1] : 0) << 16) |
    ((at + 2 < end ? bytes[at + 2] : 0) << 8) |
    (at + 3 < end ? bytes[at + 3] : 0)) ^ 0x80000000;
}

/** A 32-bit hash of `bytes[start, end)` (4-byte words, multiply and xor-shift mixing). */
function userKeyHash(bytes: Uint8Array, start: number, end: number): number {
  let h = Math.imul(end - start, 0x9e3779b1) ^ 0x2545f491;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const word = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    h = Math.imul(h ^ word, 0x85ebca6b);
    h ^= h >>> 15;
  }
  for (; i < end; i++) h = Math.imul(h ^ bytes[i], 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * A sorted, append-only set of (internal key, value) entries.
 *
 * @example
 * ```ts
 * const mem = new Memtable();
 * mem.add(1, ValueType.Value, key, value);
 * mem.get(key, 1); // { type: ValueType.Value, sequence: 1, value }
 * ```
 */
export class Memtable {
  #nodes: Int32Array;
  #node_top = LINKS + MAX_HEIGHT;
  #bytes: Uint8Array;
  #byte_top = 0;
  #height = 1;
  #entry_count = 0;
  #random_state: number;
  #largest_sequence = 0;
  readonly #update = new Int32Array(MAX_HEIGHT);
  /** The last node of each level (HEAD, 0, while a level is empty); level 0's is the tail. */
  readonly #rightmost = new Int32Array(MAX_HEIGHT);
  #lookup_scratch = new Uint8Array(64);
  /** Bloom filter bits over user keys; its length in bits is a power of two. */
  #filter: Int32Array;

  /**
   * @param seed seed of the tower-height generator (fixed, so layouts replay exactly)
   * @param capacity_hint_bytes expected {@link Memtable.sizeBytes} when full: the arenas
   *   start at that size (untouched pages cost no memory), so they rarely grow by copying
   */
  constructor(seed = 0x9e3779b9, capacity_hint_bytes = 0) {
    const hint = Math.min(Math.max(0, capacity_hint_bytes), MAX_HINT_BYTES);
    this.#nodes = new Int32Array(Math.max(INITIAL_NODE_SLOTS, Math.ceil(hint / 4 / 2)));
    this.#bytes = new Uint8Array(Math.max(INITIAL_BYTES, hint));
    // Sized for the entries a full memtable of typical entries holds, so it rarely rebuilds.
    let filter_bits = INITIAL_FILTER_BITS;
    const expected_entries = hint / TYPICAL_ENTRY_BYTES;
    while (
      filter_bits < expected_entries * FILTER_BITS_PER_ENTRY && filter_bits < MAX_FILTER_BITS
    ) {
      filter_bits *= 2;
    }
    this.#filter = new Int32Array(filter_bits >>> 5);
    this.#random_state = seed >>> 0 || 1;
    this.#nodes[HEIGHT] = MAX_HEIGHT;
  }

  /** Memory used, in bytes (key and value bytes plus node records). */
  get sizeBytes(): number {
    return this.#byte_top + this.#node_top * 4;
  }

  /** Number of entries. */
  get entryCount(): number {
    return this.#entry_count;
  }

  /** The used part of the arenas, for a flush in another isolate; the memtable must take no more writes. */
  arena(): MemtableArena {
    return {
      nodes: this.#nodes.subarray(0, this.#node_top),
      bytes: this.#bytes.subarray(0, this.#byte_top),
      entry_count: this.#entry_count,
    };
  }

  /** Largest sequence number added (0 when empty). */
  get largestSequence(): number {
    return this.#largest_sequence;
  }

  /**
   * Adds an entry. Key and value are copied. Each (user key, sequence) must be new: the write
   * path gives every operation its own sequence number.
   */
  add(sequence: number, type: ValueType, user_key: Uint8Array, value: Uint8Array): void {
    const key_length = user_key.length + TRAILER_SIZE_BYTES;
    const key_offset = this.#allocate_bytes(key_length + value.length);
    const bytes = this.#bytes;
    bytes.set(user_key, key_offset);
    bytes.set(value, key_offset + key_length);
    this.#link(sequence, type, key_offset, user_key.length, value.length);
  }

  /**
   * Adds an entry whose user key is `source[key_start, key_start + key_length)` and value
   * `source[value_start, value_start + value_length)`, copied straight from an encoded batch
   * with no intermediate views (the write path's hot loop).
   */
  addRange(
    sequence: number,
    type: ValueType,
    source: Uint8Array,
    key_start: number,
    key_length: number,
    value_start: number,
    value_length: number,
  ): void {
    const key_offset = this.#allocate_bytes(key_length + TRAILER_SIZE_BYTES + value_length);
    const bytes = this.#bytes;
    copyBytes(source, key_start, key_length, bytes, key_offset);
    copyBytes(
      source,
      value_start,
      value_length,
      bytes,
      key_offset + key_length + TRAILER_SIZE_BYTES,
    );
    this.#link(sequence, type, key_offset, key_length, value_length);
  }

  /**
   * Writes the trailer after the user key already copied at `key_offset` (its value follows
   * the trailer) and links the new node into the skip list.
   */
  #link(
    sequence: number,
    type: ValueType,
    key_offset: number,
    user_length: number,
    value_length: number,
  ): void {
    const key_length = user_length + TRAILER_SIZE_BYTES;
    const bytes = this.#bytes;
    writeTrailer(bytes, key_offset + user_length, sequence, type);
    const key = bytes.subarray(key_offset, key_offset + key_length);
    const word_0 = prefixWord(key, 0, user_length);
    const word_1 = prefixWord(key, 4, user_length);
    const word_2 = prefixWord(key, 8, user_length);
    const word_3 = prefixWord(key, 12, user_length);
    const update = this.#update;
    const tail = this.#rightmost[0];
    if (
      tail !== NONE &&
      this.#compare_node_with_prefix(tail, key, word_0, word_1, word_2, word_3) < 0
    ) {
      // After every key (a sequential load, or a log replayed in order): each level's
      // predecessor is its last node, found without a search.
      for (let level = 0; level < this.#height; level++) update[level] = this.#rightmost[level];
    } else {
      const found = this.#find_greater_or_equal(key, word_0, word_1, word_2, word_3, update);
      if (
        found !== NONE &&
        this.#compare_node_with_prefix(found, key, word_0, word_1, word_2, word_3) === 0
      ) {
        throw new Error(`memtable: duplicate internal key at sequence ${sequence}`);
      }
    }
    const height = this.#random_height();
    if (height > this.#height) {
      for (let level = this.#height; level < height; level++) update[level] = HEAD;
      this.#height = height;
    }
    const node = this.#allocate_node(height);
    const nodes = this.#nodes;
    nodes[node + KEY_OFFSET] = key_offset;
    nodes[node + KEY_LENGTH] = key_length;
    nodes[node + PREFIX_0] = word_0;
    nodes[node + PREFIX_1] = word_1;
    nodes[node + PREFIX_2] = word_2;
    nodes[node + PREFIX_3] = word_3;
    nodes[node + VALUE_OFFSET] = key_offset + key_length;
    nodes[node + VALUE_LENGTH] = value_length;
    nodes[node + HEIGHT] = height;
    for (let level = 0; level < height; level++) {
      const predecessor = update[level];
      const successor = nodes[predecessor + LINKS + level];
      nodes[node + LINKS + level] = successor;
      nodes[predecessor + LINKS + level] = node;
      if (successor === NONE) this.#rightmost[level] = node;
    }
    nodes[node + PREV] = update[0];
    const successor = nodes[node + LINKS];
    if (successor !== NONE) nodes[successor + PREV] = node;
    this.#entry_count++;
    if (
      this.#entry_count * FILTER_BITS_PER_ENTRY > this.#filter.length * 32 &&
      this.#filter.length * 32 < MAX_FILTER_BITS
    ) {
      this.#rebuild_filter(this.#filter.length * 2);
    } else {
      this.#filter_add(userKeyHash(bytes, key_offset, key_offset + user_length));
    }
    if (sequence > this.#largest_sequence) this.#largest_sequence = sequence;
  }

  /**
   * The newest entry for `user_key` with sequence <= `snapshot_sequence`, or undefined when
   * this memtable has none (the caller then looks in older sources).
   */
  get(user_key: Uint8Array, snapshot_sequence: number): MemtableHit | undefined {
    if (!this.#filter_may_contain(userKeyHash(user_key, 0, user_key.length))) return undefined;
    // A reused scratch buffer: lookups are synchronous, and this is the hottest read path.
    const length = user_key.length + TRAILER_SIZE_BYTES;
    if (this.#lookup_scratch.length < length) this.#lookup_scratch = new Uint8Array(length * 2);
    const target = this.#lookup_scratch.subarray(0, length);
    target.set(user_key, 0);
    writeTrailer(target, user_key.length, snapshot_sequence, ValueType.Value);
    const node = this.#seek_node(target);
    if (node === NONE) return undefined;
    const key = this.keyOf(node);
    const user_end = key.length - TRAILER_SIZE_BYTES;
    if (compareByteRanges(key, 0, user_end, user_key, 0, user_key.length) !== 0) {
      return undefined;
    }
    return {
      type: key[user_end] as ValueType,
      sequence: sequenceOf(key),
      value: this.valueOf(node),
    };
  }

  /** An iterator over all entries; it stays usable while entries are added. */
  iterator(): InternalIterator {
    return new MemtableIterator(this);
  }

  /** @internal first node with key >= target in internal order, or NONE (0). */
  findGreaterOrEqual(target: Uint8Array): number {
    return this.#seek_node(target);
  }

  /** @internal first node, or NONE. */
  first(): number {
    return this.#nodes[HEAD + LINKS];
  }

  /** @internal last node, or NONE. */
  last(): number {
    return this.#rightmost[0];
  }

  /**
   * @internal whether every level links its nodes in ascending internal-key order and ends at
   * the node recorded as its last (the skip list's shape, which results alone do not show: a
   * search over a misordered upper level still finds the right entry, only slower).
   */
  levelsInOrder(): boolean {
    const nodes = this.#nodes;
    for (let level = 0; level < MAX_HEIGHT; level++) {
      let node = HEAD;
      // Bounded: each level links each entry at most once.
      for (let steps = 0; steps <= this.#entry_count; steps++) {
        const next = nodes[node + LINKS + level];
        if (next === NONE) break;
        if (node !== HEAD && compareInternalKeys(this.keyOf(node), this.keyOf(next)) >= 0) {
          return false;
        }
        node = next;
      }
      if (nodes[node + LINKS + level] !== NONE || this.#rightmost[level] !== node) return false;
    }
    return true;
  }

  /** @internal successor of `node` on level 0, or NONE. */
  nextOf(node: number): number {
    return this.#nodes[node + LINKS];
  }

  /** @internal predecessor of `node` on level 0, or NONE before the first node. */
  prevOf(node: number): number {
    return this.#nodes[node + PREV];
  }

  /** @internal the internal key of `node` (a view into the arena). */
  keyOf(node: number): Uint8Array {
    const offset = this.#nodes[node + KEY_OFFSET];
    return this.#bytes.subarray(offset, offset + this.#nodes[node + KEY_LENGTH]);
  }

  /** @internal the value of `node` (a view into the arena). */
  valueOf(node: number): Uint8Array {
    const offset = this.#nodes[node + VALUE_OFFSET];
    return this.#bytes.subarray(offset, offset + this.#nodes[node + VALUE_LENGTH]);
  }

  /**
   * Internal-key comparison of `node`'s key with `target`, whose prefix words are given: the
   * words settle almost every comparison without touching the key bytes.
   */
  #compare_node_with_prefix(
    node: number,
    target: Uint8Array,
    word_0: number,
    word_1: number,
    word_2: number,
    word_3: number,
  ): number {
    const nodes = this.#nodes;
    let word = nodes[node + PREFIX_0];
    if (word !== word_0) return word < word_0 ? -1 : 1;
    word = nodes[node + PREFIX_1];
    if (word !== word_1) return word < word_1 ? -1 : 1;
    word = nodes[node + PREFIX_2];
    if (word !== word_2) return word < word_2 ? -1 : 1;
    word = nodes[node + PREFIX_3];
    if (word !== word_3) return word < word_3 ? -1 : 1;
    return this.#compare_after_prefix(node, target);
  }

  /** Settles a prefix tie: the first min(16, both user key lengths) bytes are equal. */
  #compare_after_prefix(node: number, target: Uint8Array): number {
    const bytes = this.#bytes;
    const offset = this.#nodes[node + KEY_OFFSET];
    const user_length = this.#nodes[node + KEY_LENGTH] - TRAILER_SIZE_BYTES;
    const target_user_length = target.length - TRAILER_SIZE_BYTES;
    let skip = user_length < target_user_length ? user_length : target_user_length;
    if (skip > PREFIX_BYTES) skip = PREFIX_BYTES;
    const by_user = compareByteRanges(
      bytes,
      offset + skip,
      offset + user_length,
      target,
      skip,
      target_user_length,
    );
    if (by_user !== 0) return by_user;
    return compareTrailers(bytes, offset + user_length, target, target_user_length);
  }

  /** First node with key >= `target` in internal order, or NONE. */
  #seek_node(target: Uint8Array): number {
    const user_end = target.length - TRAILER_SIZE_BYTES;
    return this.#find_greater_or_equal(
      target,
      prefixWord(target, 0, user_end),
      prefixWord(target, 4, user_end),
      prefixWord(target, 8, user_end),
      prefixWord(target, 12, user_end),
      null,
    );
  }

  /**
   * First node with key >= `target` (whose prefix words are given), or NONE; with `update`,
   * also records each level's last node before it.
   */
  #find_greater_or_equal(
    target: Uint8Array,
    word_0: number,
    word_1: number,
    word_2: number,
    word_3: number,
    update: Int32Array | null,
  ): number {
    const nodes = this.#nodes;
    let node = HEAD;
    let level = this.#height - 1;
    // A node found >= target on one level is often the next one on the level below too:
    // LevelDB skips comparing it again.
    let known_not_less = NONE;
    // Bounded: each step moves right (finitely many nodes) or down (MAX_HEIGHT levels).
    for (;;) {
      const next = nodes[node + LINKS + level];
      if (
        next !== NONE && next !== known_not_less &&
        this.#compare_node_with_prefix(next, target, word_0, word_1, word_2, word_3) < 0
      ) {
        node = next;
        continue;
      }
      if (update !== null) update[level] = node;
      if (level === 0) return next;
      known_not_less = next;
      level--;
    }
  }

  /** Sets the two probe bits of `hash`. */
  #filter_add(hash: number): void {
    const filter = this.#filter;
    const mask = (filter.length << 5) - 1;
    const first = hash & mask;
    const second = ((hash >>> 17) | (hash << 15)) & mask;
    filter[first >>> 5] |= 1 << (first & 31);
    filter[second >>> 5] |= 1 << (second & 31);
  }

  /** False when no entry's user key hashes to `hash`. */
  #filter_may_contain(hash: number): boolean {
    const filter = this.#filter;
    const mask = (filter.length << 5) - 1;
    const first = hash & mask;
    const second = ((hash >>> 17) | (hash << 15)) & mask;
    return (filter[first >>> 5] & (1 << (first & 31))) !== 0 &&
      (filter[second >>> 5] & (1 << (second & 31))) !== 0;
  }

  /** Replaces the filter by one of `words` words over every entry (amortized: it doubles). */
  #rebuild_filter(words: number): void {
    this.#filter = new Int32Array(words);
    const nodes = this.#nodes;
    // Bounded by the entry count: level 0 links every node once.
    for (let node = nodes[HEAD + LINKS]; node !== NONE; node = nodes[node + LINKS]) {
      const offset = nodes[node + KEY_OFFSET];
      const user_end = offset + nodes[node + KEY_LENGTH] - TRAILER_SIZE_BYTES;
      this.#filter_add(userKeyHash(this.#bytes, offset, user_end));
    }
  }

  /**
   * Reserves `length` arena bytes. Growing copies the arena: old bytes keep their offsets in
   * the new one, and views handed out earlier keep the old buffer, whose bytes never change.
   */
  #allocate_bytes(length: number): number {
    const offset = this.#byte_top;
    const needed = offset + length;
    if (needed > this.#bytes.length) {
      if (needed > MAX_ARENA_BYTES) {
        throw new Error(`memtable: arena would exceed ${MAX_ARENA_BYTES} bytes`);
      }
      const grown = new Uint8Array(
        Math.min(MAX_ARENA_BYTES, Math.max(needed, this.#bytes.length * 2)),
      );
      grown.set(this.#bytes.subarray(0, offset));
      this.#bytes = grown;
    }
    this.#byte_top = needed;
    return offset;
  }

  #allocate_node(height: number): number {
    const node = this.#node_top;
    const needed = node + LINKS + height;
    if (needed > this.#nodes.length) {
      const grown = new Int32Array(Math.max(needed, this.#nodes.length * 2));
      grown.set(this.#nodes.subarray(0, node));
      this.#nodes = grown;
    }
    this.#node_top = needed;
    return node;
  }

  #random_height(): number {
    let height = 1;
    while (height < MAX_HEIGHT && this.#next_random() % BRANCHING === 0) height++;
    return height;
  }

  /** xorshift32: cheap, deterministic, good enough for tower heights. */
  #next_random(): number {
    let x = this.#random_state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random_state = x >>> 0;
    return this.#random_state;
  }
}

/** Walks a memtable's level-0 list. key() and value() are views of immutable bytes. */
class MemtableIterator implements InternalIterator {
  #node = NONE;

  constructor(readonly memtable: Memtable) {}

  valid(): boolean {
    return this.#node !== NONE;
  }

  seekToFirst(): void {
    this.#node = this.memtable.first();
  }

  seekToLast(): void {
    this.#node = this.memtable.last();
  }

  seek(target: Uint8Array): void {
    this.#node = this.memtable.findGreaterOrEqual(target);
  }

  next(): void {
    this.#node = this.memtable.nextOf(this.#current());
  }

  prev(): void {
    // The first node's predecessor is the head, which is NONE (0): the walk ends there.
    this.#node = this.memtable.prevOf(this.#current());
  }

  key(): Uint8Array {
    return this.memtable.keyOf(this.#current());
  }

  value(): Uint8Array {
    return this.memtable.valueOf(this.#current());
  }

  close(): void {
    this.#node = NONE;
  }

  #current(): number {
    if (this.#node === NONE) throw new Error("memtable iterator: not valid");
    return this.#node;
  }
}
