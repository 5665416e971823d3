/**
 * Whether a member that starts with no Raft state may vote at once. A brand-new cluster
 * starts that way on every member; a member wiped and restarted under its old identity does
 * too, but it may have voted in the current term before, and voting again could elect two
 * leaders in one term (etcd refuses such a restart outright). So a member with no state holds
 * its vote and asks its peers (over the Raft transport's request frames):
 *
 * - a peer that has Raft state means the cluster exists: keep holding until caught up with
 *   the leader (the core ends the hold by itself);
 * - a quorum of the voters (counting itself) with no state means the cluster is new: release.
 *
 * ```
 * probe request  := 0x03
 * probe response := 0x03 | JSON { term, last_index }
 * ```
 *
 * @module
 */

/** First byte of a probe request and response (the checkpoint transfer uses 1 and 2). */
export const PROBE_OP = 3;

/** How often a holding member asks its peers. */
export const PROBE_INTERVAL_MS = 300;

/** Timeout of one probe. */
export const PROBE_TIMEOUT_MS = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a peer reports about its Raft state. */
export interface PeerState {
  /** Its current term (0: never took part in an election). */
  term: number;
  /** Its last log index, snapshot included (0: empty). */
  last_index: number;
}

/** The probe request. */
export function encodeProbeRequest(): Uint8Array {
  return Uint8Array.of(PROBE_OP);
}

/** Whether a request frame is a probe. */
export function isProbeRequest(payload: Uint8Array): boolean {
  return payload.length === 1 && payload[0] === PROBE_OP;
}

/** The answer to a probe. */
export function encodeProbeResponse(state: PeerState): Uint8Array {
  const json = encoder.encode(JSON.stringify({ term: state.term, last_index: state.last_index }));
  const out = new Uint8Array(1 + json.length);
  out[0] = PROBE_OP;
  out.set(json, 1);
  return out;
}

/** Decodes a probe answer; throws naming what is wrong. */
export function decodeProbeResponse(payload: Uint8Array): PeerState {
  if (payload.length < 2 || payload[0] !== PROBE_OP) {
    throw new Error(`probe response must start with ${PROBE_OP}, got ${payload[0]}`);
  }
  const parsed = JSON.parse(decoder.decode(payload.subarray(1)));
  const { term, last_index } = parsed ?? {};
  if (
    !Number.isSafeInteger(term) || term < 0 || !Number.isSafeInteger(last_index) || last_index < 0
  ) {
    throw new Error(`probe response needs non-negative integers term and last_index`);
  }
  return { term, last_index };
}

/**
 * Whether a member's log is empty. The term does not count: members of a new cluster that
 * restart during its first election have terms but no entries (an elected leader always
 * appends one), and must not wait for each other forever.
 */
export function isFresh(state: PeerState): boolean {
  return state.last_index === 0;
}

/** What to do about a held vote, given the peers' answers so far. */
export type HoldDecision = "release" | "hold_until_caught_up" | "ask_again";

/**
 * The decision. `voters` are the cluster's voters (this member included); `answers` holds
 * the states of the peers that answered, by id.
 */
export function decideVoteHold(
  self: string,
  voters: readonly string[],
  answers: ReadonlyMap<string, PeerState>,
): HoldDecision {
  for (const state of answers.values()) if (!isFresh(state)) return "hold_until_caught_up";
  const fresh_voters = voters.filter((id) => id === self || answers.has(id)).length;
  return fresh_voters >= Math.floor(voters.length / 2) + 1 ? "release" : "ask_again";
}
