/**
 * When a failed call may be sent again, and where. A pure decision core.
 *
 * A read can always be repeated. A write is repeated only when the error proves it was never
 * applied: the connection was refused before anything was sent, or the server answered with
 * one of etcd's exact texts for refusing a request before proposing it (no leader, not the
 * leader, overloaded). Exact texts only: Blueprint appends an explanation to those errors when
 * they end a request that may already have been proposed (e.g. "etcdserver: no leader: no
 * leader took the request within 5000 ms"), and such a request may still commit. A write that
 * timed out or lost its connection midway may have been applied; sending it again could apply
 * it twice, so the caller gets the error and decides.
 *
 * @module
 */
import { type RpcError, Status } from "../../shared/rpc/mod.ts";

/** What a call does to the store, which decides whether repeating it is safe. */
export type CallKind = "read" | "write";

/** What to do after a failed attempt. */
export interface RetryDecision {
  /** Whether to send the call again. */
  readonly retry: boolean;
  /** Whether to try another endpoint (the one that failed is unreachable or not serving). */
  readonly switch_endpoint: boolean;
  /** The leader's client address if the error named it, else empty. */
  readonly leader_address: string;
}

/** The leader-address detail a Blueprint error carries (`draft-leader_address`). */
export const LEADER_ADDRESS_DETAIL = "leader_address";

/** Server messages (etcd's exact texts, matched whole) that say a write was never proposed. */
const REFUSED_BEFORE_PROPOSAL = [
  "etcdserver: no leader",
  "etcdserver: not leader",
  "etcdserver: not capable",
  "etcdserver: too many requests",
  "etcdserver: rpc not supported for learner",
  "etcdserver: unhealthy cluster",
  "etcdserver: re-configuration failed due to not enough started members",
];

/** Transport messages that say no request reached a server. */
const NOT_SENT =
  /No connection established|ECONNREFUSED|Name resolution failed|connection refused/i;

/** Server messages that make a read worth repeating elsewhere. */
const TRANSIENT_SERVER = /etcdserver: (leader changed|request timed out|server stopped|unhealthy)/;

/**
 * Decides whether to repeat a call that failed with `error`.
 *
 * @param error the call's error
 * @param kind whether the call reads or writes
 * @example
 * ```ts
 * const decision = decideRetry(error, "write");
 * if (decision.retry) sendAgain(decision.leader_address || nextEndpoint());
 * ```
 */
export function decideRetry(error: RpcError, kind: CallKind): RetryDecision {
  const leader_address = error.info[LEADER_ADDRESS_DETAIL] ?? "";
  const message = error.message;
  const not_sent = error.code === Status.UNAVAILABLE && NOT_SENT.test(message);
  const refused = REFUSED_BEFORE_PROPOSAL.includes(message);
  if (not_sent || refused) {
    return { retry: true, switch_endpoint: leader_address === "" || not_sent, leader_address };
  }
  const transient = error.code === Status.UNAVAILABLE ||
    error.code === Status.DEADLINE_EXCEEDED ||
    TRANSIENT_SERVER.test(message);
  return { retry: transient && kind === "read", switch_endpoint: transient, leader_address };
}

/**
 * The pause before attempt number `attempt` (1 = the first repeat): doubling from
 * `base_ms`, capped at `max_ms`, with up to half of it random so clients do not move in step.
 *
 * @param attempt the repeat number, 1 or more
 * @param base_ms the first pause
 * @param max_ms the cap
 * @param random a number in [0, 1)
 * @example
 * ```ts
 * backoffMs(3, 50, 1000, Math.random()); // between 100 and 200
 * ```
 */
export function backoffMs(
  attempt: number,
  base_ms: number,
  max_ms: number,
  random: number,
): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt is ${attempt}; allowed: an integer >= 1`);
  }
  const full = Math.min(max_ms, base_ms * 2 ** Math.min(attempt - 1, 30));
  return Math.round(full / 2 + (full / 2) * random);
}
