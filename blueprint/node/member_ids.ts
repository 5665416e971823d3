/**
 * etcd-style 64-bit IDs for names: members and the cluster are named by strings in Blueprint
 * (Raft node ids) but by uint64 on etcd's wire.
 *
 * @module
 */

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK_64 = (1n << 64n) - 1n;
const MAX_CACHED_IDS = 1024;
const member_ids = new Map<string, bigint>();

/**
 * The FNV-1a 64-bit hash of `name`'s UTF-8 bytes, never 0 (etcd reserves 0 for "none").
 *
 * @example
 * ```ts
 * memberIdOf("n1") === memberIdOf("n1"); // true, on every node
 * ```
 */
export function memberIdOf(name: string): bigint {
  const cached = member_ids.get(name);
  if (cached !== undefined) return cached;
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(name)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV_PRIME) & MASK_64;
  }
  const id = hash === 0n ? 1n : hash;
  // Every response header names two members: remember the few names a cluster has.
  if (member_ids.size >= MAX_CACHED_IDS) member_ids.clear();
  member_ids.set(name, id);
  return id;
}

/**
 * The cluster ID etcd clients see, from the cluster name.
 *
 * @example
 * ```ts
 * clusterIdOf("blueprint");
 * ```
 */
export function clusterIdOf(cluster_name: string): bigint {
  return memberIdOf(`cluster:${cluster_name}`);
}
