/**
 * The process client: how a Draft process takes part in Blueprint's service registry.
 *
 * - {@link DraftProcess}: join (Initialize at an entrypoint with name and nonce), keep the
 *   Synchronize stream alive (capped exponential back-off with jitter, failover to the members
 *   of the last ack, same identity), report running state and health as they change and at
 *   the polling interval (with an optional health check), follow the cluster details, and
 *   leave (Finalize, then close) on request or on SIGINT/SIGTERM.
 * - {@link RegistryClient}: Query with filters, Get, and Watch the registry.
 * - {@link ProcessTransport}: the wire the process client drives; {@link RegistryTransport}
 *   is gRPC to Blueprint's `draft.blueprint.v1.Registry`.
 *
 * Permissions: `--allow-net --allow-env --allow-read --allow-sys=uid,gid`.
 *
 * @example
 * ```ts
 * import { DraftProcess } from "./blueprint/process/mod.ts";
 * const me = await DraftProcess.join({
 *   entrypoints: "127.0.0.1:2221,127.0.0.1:2222,127.0.0.1:2223",
 *   name: "worker",
 *   nonce: "the cluster's join token",
 *   health_check: async () => "healthy",
 *   handle_signals: true,
 * });
 * me.setRunningState("running");
 * await me.closed;
 * ```
 *
 * @module
 */
export {
  type ConnectionState,
  DraftProcess,
  type DraftProcessOptions,
  MAX_FINALIZE_ATTEMPTS,
  MAX_JOIN_ATTEMPTS,
  MAX_LISTENERS,
  MAX_METADATA_LABELS,
  MAX_POLL_INTERVAL_MS,
  MIN_POLL_INTERVAL_MS,
  type ProcessChange,
  REJECTIONS_TO_REVOKE,
} from "./draft_process.ts";
export { failoverCandidates, reconnectDelayMs } from "./failover_plan.ts";
export {
  MAX_WATCH_REOPENS,
  type QueryFilter,
  READ_DEADLINE_MS,
  type RegistryChange,
  RegistryClient,
  type RegistryWatch,
  WatchCompactedError,
} from "./registry_client.ts";
export {
  INITIALIZE_DEADLINE_MS,
  KEEPALIVE_TIMEOUT_MS,
  MAX_INITIALIZE_IN_FLIGHT,
  RegistryTransport,
  UNARY_DEADLINE_MS,
} from "./registry_transport.ts";
export { addressOfUrl, type ProcessRecord } from "./wire_mapping.ts";
export * from "./types.ts";
