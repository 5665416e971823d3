import assert from "node:assert/strict";
import {
  decideVoteHold,
  decodeProbeResponse,
  encodeProbeRequest,
  encodeProbeResponse,
  isProbeRequest,
  type PeerState,
} from "./vote_hold.ts";

const VOTERS = ["n1", "n2", "n3"];
const EMPTY: PeerState = { term: 0, last_index: 0 };

Deno.test("vote hold decision: new cluster, existing cluster, not enough answers", () => {
  const answers = (entries: [string, PeerState][]) => new Map(entries);
  assert.equal(decideVoteHold("n1", VOTERS, answers([])), "ask_again", "alone: not a quorum");
  assert.equal(decideVoteHold("n1", VOTERS, answers([["n2", EMPTY]])), "release");
  assert.equal(
    decideVoteHold("n1", VOTERS, answers([["n2", { term: 4, last_index: 0 }]])),
    "release",
    "a term without entries is a restart during the first election, not a running cluster",
  );
  assert.equal(
    decideVoteHold("n1", VOTERS, answers([["n2", EMPTY], ["n3", { term: 3, last_index: 17 }]])),
    "hold_until_caught_up",
    "one member with a log means the cluster exists, whatever the others say",
  );
  const five = ["a", "b", "c", "d", "e"];
  assert.equal(decideVoteHold("a", five, answers([["b", EMPTY]])), "ask_again");
  assert.equal(decideVoteHold("a", five, answers([["b", EMPTY], ["c", EMPTY]])), "release");
});

Deno.test("vote hold probe: request and response round trip; bad answers are refused", () => {
  assert.ok(isProbeRequest(encodeProbeRequest()));
  assert.equal(isProbeRequest(Uint8Array.of(1, 2)), false);
  const state = { term: 7, last_index: 1234 };
  assert.deepEqual(decodeProbeResponse(encodeProbeResponse(state)), state);
  assert.throws(() => decodeProbeResponse(Uint8Array.of(1)), /must start with 3/);
  const bad = Uint8Array.of(3, ...new TextEncoder().encode('{"term":-1,"last_index":0}'));
  assert.throws(() => decodeProbeResponse(bad), /non-negative integers/);
});
