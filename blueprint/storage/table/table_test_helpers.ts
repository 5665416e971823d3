/**
 * Shared fixtures for the table tests: a seeded random source, key makers and a helper that
 * writes a table into an in-memory file system.
 *
 * @module
 */
import { FaultyFileSystem, seededRng } from "../../../shared/fs/mod.ts";
import { compareInternalKeys, encodeInternalKey, ValueType } from "../internal_key.ts";
import { BlockCache } from "./block_cache.ts";
import type { TableFileMeta } from "../manifest.ts";
import { DEFAULT_TABLE_OPTIONS, TableBuilder, type TableOptions } from "./table_builder.ts";
import { TableReader } from "./table_reader.ts";

/** One entry of a test table. */
export interface TestEntry {
  /** Internal key. */
  key: Uint8Array;
  /** Value bytes. */
  value: Uint8Array;
}

/** A seed from the environment (TEST_SEED) or the clock, for tests that print it on failure. */
export function testSeed(): number {
  const fixed = Deno.env.get("TEST_SEED");
  return fixed !== undefined ? Number(fixed) : Date.now() % 1_000_000_007;
}

/** Runs `body` with `seed`, adding the seed to any failure's message so it can be replayed. */
export async function withSeed(seed: number, body: (rng: () => number) => void | Promise<void>) {
  try {
    await body(seededRng(seed));
  } catch (err) {
    if (err instanceof Error) err.message = `[TEST_SEED=${seed}] ${err.message}`;
    throw err;
  }
}

/** Random bytes of `length` from `rng`, over a small alphabet when `alphabet` is given. */
export function randomBytes(rng: () => number, length: number, alphabet = 256): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rng() * alphabet);
  return out;
}

/**
 * `count` entries with random user keys (shared prefixes are common), several versions per key,
 * sorted in internal order with unique internal keys.
 */
export function randomEntries(rng: () => number, count: number): TestEntry[] {
  const entries: TestEntry[] = [];
  const seen = new Set<string>();
  let sequence = 1;
  for (let guard = 0; entries.length < count && guard < count * 10; guard++) {
    const user_key = randomBytes(rng, 1 + Math.floor(rng() * 24), 4 + Math.floor(rng() * 60));
    const type = rng() < 0.2 ? ValueType.Deletion : ValueType.Value;
    const key = encodeInternalKey(user_key, sequence++, type);
    const id = key.join(",");
    if (seen.has(id)) continue;
    seen.add(id);
    const value_length = rng() < 0.05 ? 200 + Math.floor(rng() * 3000) : Math.floor(rng() * 120);
    entries.push({
      key,
      value: type === ValueType.Deletion ? new Uint8Array(0) : randomBytes(rng, value_length),
    });
  }
  entries.sort((a, b) => compareInternalKeys(a.key, b.key));
  return entries;
}

/** A table written from `entries` in a fresh in-memory file system, opened for reading. */
export interface BuiltTable {
  /** The file system holding `/db/000007.sst`. */
  fs: FaultyFileSystem;
  /** Path of the table. */
  path: string;
  /** What the builder reported. */
  meta: TableFileMeta;
  /** The cache given to the reader. */
  cache: BlockCache;
  /** An open reader. */
  reader: TableReader;
}

/** Writes `entries` (sorted) as table 7 and opens it. */
export async function buildTable(
  entries: TestEntry[],
  options: TableOptions = DEFAULT_TABLE_OPTIONS,
  cache_bytes = 1 << 20,
): Promise<BuiltTable> {
  const fs = new FaultyFileSystem();
  fs.mkdir("/db");
  const path = "/db/000007.sst";
  const builder = new TableBuilder(fs, path, options);
  for (const { key, value } of entries) builder.add(key, value);
  const meta = await builder.finish();
  const cache = new BlockCache(cache_bytes);
  const reader = TableReader.open(fs, path, meta.file_number, meta.size_bytes, cache);
  return { fs, path, meta, cache, reader };
}
