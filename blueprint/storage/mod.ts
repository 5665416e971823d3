/**
 * Blueprint's storage engine: a durable, ordered key/value store on one directory, built as
 * an LSM tree after LevelDB (WAL + memtable, level-structured tables, background flush and
 * compaction in a Worker). Keys and values are `Uint8Array`s; keys order bytewise.
 *
 * @example
 * ```ts
 * import { Storage, WriteBatch } from "./blueprint/storage/mod.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const db = await Storage.open("/tmp/kv");
 * await db.put(bytes("a"), bytes("1"), { sync: true });
 * await db.write(new WriteBatch().put(bytes("b"), bytes("2")).delete(bytes("a")));
 * const snapshot = db.snapshot();
 * for (const { key, value } of db.scan({ prefix: bytes("b"), snapshot })) console.log(key, value);
 * snapshot.release();
 * await db.close();
 * ```
 *
 * @module
 */
export {
  type LevelStats,
  type ReadOptions,
  type ScanOptions,
  Snapshot,
  Storage,
  type StorageStats,
  type WriteOptions,
} from "./db.ts";
export type { CheckpointFile, CheckpointInfo } from "./checkpoint.ts";
export { type KeyValue, ScanIterator } from "./db_iterator.ts";
export { WriteBatch } from "./write_batch.ts";
export { type BackgroundMode, DEFAULT_OPTIONS, type StorageOptions } from "./options.ts";
export { CorruptionError, StorageError } from "./errors.ts";
