/**
 * Where a process reconnects and how long it waits first. A pure decision core: no sockets,
 * no clocks; randomness comes in as an argument.
 *
 * @module
 */
import { backoffMs, MAX_ENDPOINTS } from "../client/mod.ts";
import type { ClusterDetails } from "./types.ts";

/**
 * The members a process may synchronize with, best first: the client addresses of the
 * members in the last ack (they are current), then the configured entrypoints, then the
 * endpoint that just failed (it may be back). No duplicates; at most {@link MAX_ENDPOINTS}.
 *
 * @param cluster the cluster details of the last ack, if any
 * @param entrypoints the endpoints the process was started with
 * @param failed the endpoint whose stream just ended, or "" for none
 * @example
 * ```ts
 * failoverCandidates(lastAck, ["127.0.0.1:2221"], "127.0.0.1:2222"); // other members first
 * ```
 */
export function failoverCandidates(
  cluster: ClusterDetails | undefined,
  entrypoints: readonly string[],
  failed: string,
): string[] {
  const ordered: string[] = [];
  const add = (address: string) => {
    if (address !== "" && address !== failed && !ordered.includes(address)) {
      ordered.push(address);
    }
  };
  for (const member of cluster?.members ?? []) {
    for (const address of member.client_addresses) add(address);
  }
  for (const entrypoint of entrypoints) add(entrypoint);
  if (failed !== "") ordered.push(failed);
  return ordered.slice(0, MAX_ENDPOINTS);
}

/**
 * The pause before reconnect attempt `attempt` (1 = the first after a stream ended): none
 * for the first try of another member (a member died, its peers are likely fine), then
 * capped doubling from `base_ms` with jitter so that many processes do not move in step.
 *
 * @param attempt reconnect attempts since the last ack, 1 or more
 * @param base_ms the first real pause
 * @param max_ms the cap
 * @param random a number in [0, 1)
 * @example
 * ```ts
 * reconnectDelayMs(1, 100, 5000, Math.random()); // 0: try the next member at once
 * reconnectDelayMs(4, 100, 5000, 0.5); // 300: half of 400 plus a quarter of it
 * ```
 */
export function reconnectDelayMs(
  attempt: number,
  base_ms: number,
  max_ms: number,
  random: number,
): number {
  if (attempt === 1) return 0;
  return backoffMs(attempt - 1, base_ms, max_ms, random);
}
