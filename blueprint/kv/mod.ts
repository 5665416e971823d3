/**
 * Blueprint's MVCC key/value state machine with etcd v3's semantics, protocol-independent:
 * requests and responses are plain typed objects ({@link KvRequest}, {@link KvResponse})
 * with a compact binary codec for Raft entries; {@link KvStateMachine} applies committed
 * entries to the LSM {@link Storage} and serves reads at any readable revision;
 * {@link WatchHub} fans applied events out to watchers. The storage layout is in LAYOUT.md.
 *
 * @example
 * ```ts
 * import { Storage } from "./blueprint/storage/mod.ts";
 * import { encodeRequest, KvStateMachine, WatchHub } from "./blueprint/kv/mod.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const machine = await KvStateMachine.open(await Storage.open("/tmp/kv"));
 * const hub = new WatchHub(machine);
 * const watcher = hub.watch({ key: bytes("a") });
 * const entry = encodeRequest({
 *   origin: { member_id: "n1", sequence: 1 },
 *   body: { type: "put", key: bytes("a"), value: bytes("1") },
 * });
 * await machine.apply(machine.appliedIndex + 1, 1, entry); // { revision: 1, body: ... }
 * machine.range(bytes("a")).kvs[0].version; // 1
 * await watcher.next(); // { type: "events", events: [{ revision: 1, event: ... }] }
 * ```
 *
 * @module
 */
export * from "./types.ts";
export {
  decodeRequest,
  decodeResponse,
  DEFAULT_LIMITS,
  encodeRequest,
  encodeResponse,
  type KvLimits,
  MAX_TXN_DEPTH,
  validateRequest,
} from "./request_codec.ts";
export { type DedupOptions, DEFAULT_DEDUP_OPTIONS } from "./dedup_window.ts";
export { compareHoldsForAll, type CompareSubject } from "./apply_context.ts";
export {
  appliedIndexOf,
  type AppliedListener,
  type CommittedRequest,
  type EventPosition,
  KvStateMachine,
  type KvStateMachineOptions,
  type LeaseInfo,
  type MachineCheckpoint,
  MAX_ENTRIES_PER_WRITE,
  type RangeOptions,
  type RangeResult,
} from "./state_machine.ts";
export {
  CANCEL_REASON,
  Watcher,
  type WatchEvent,
  WatchHub,
  type WatchHubOptions,
  type WatchRequest,
  type WatchResult,
} from "./watch_hub.ts";
