/**
 * Sorted string tables: the immutable files of the LSM tree.
 *
 * A table holds internal keys in order in prefix-compressed data blocks, an index block with
 * one short separator key per data block, one bloom filter over the table's user keys and a
 * checksummed footer; every block carries a type byte and a masked CRC-32C that is verified
 * on read. The byte layout is in `blueprint/storage/FORMAT.md`.
 *
 * - {@link TableBuilder} writes a table from sorted entries and syncs it.
 * - {@link TableReader} opens one, answers point lookups (bloom filter first) and iterates.
 * - {@link BlockCache} holds data blocks shared by all readers in slabs, evicted oldest first.
 *
 * @example
 * ```ts
 * const builder = new TableBuilder(fs, "db/000007.sst", DEFAULT_TABLE_OPTIONS);
 * builder.add(encodeInternalKey(key, 1, ValueType.Value), value);
 * const meta = await builder.finish();
 * const reader = TableReader.open(fs, "db/000007.sst", 7, meta.size_bytes, new BlockCache(8 << 20));
 * reader.get(key, MAX_SEQUENCE); // { type: ValueType.Value, sequence: 1, value }
 * ```
 *
 * @module
 */
export {
  checkTableOptions,
  DEFAULT_TABLE_OPTIONS,
  parseTableFileNumber,
  TableBuilder,
  tableFileName,
  type TableOptions,
} from "./table_builder.ts";
export { type TableGetResult, type TableIteratorOptions, TableReader } from "./table_reader.ts";
export { BlockCache } from "./block_cache.ts";
export type { TableFileMeta } from "../manifest.ts";
