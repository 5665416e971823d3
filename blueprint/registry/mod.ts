/**
 * Draft's service registry, served by every Blueprint member: the `draft.blueprint.v1.Registry`
 * gRPC service (Initialize, Synchronize, Finalize, Query, Get, Watch) over the replicated
 * keyspace, its signed process tokens and its leader-driven liveness (lost, then removed).
 *
 * @example
 * ```ts
 * import { RegistryService } from "./blueprint/registry/mod.ts";
 * const registry = new RegistryService(node, { join_token: "", lost_grace_ms: 30_000, member_id_of: memberIdOf });
 * registry.addTo(server, await loadRegistrySchema());
 * registry.start();
 * ```
 *
 * @module
 */
export {
  ADDRESSES_WAIT_MS,
  MAX_PENDING_SYNC_MESSAGES,
  MAX_QUERY_RESULTS,
  type RegistryHost,
  type RegistryOptions,
  RegistryService,
  RENEW_INTERVAL_MS,
  unauthenticated,
} from "./registry_service.ts";
export { MAX_VIEW_RECORDS } from "./registry_view.ts";
export {
  DEFAULT_TTL_MS,
  JOIN_TOKEN_KEY,
  MAX_TTL_MS,
  MIN_TTL_MS,
  PROCESS_PREFIX,
  type StoredProcess,
} from "./process_record.ts";
export { hmacKey, signToken, type TokenClaims, TokenError, verifyToken } from "./token.ts";
