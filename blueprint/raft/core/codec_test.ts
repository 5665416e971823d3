import { deepStrictEqual, throws } from "node:assert/strict";
import { fc } from "../../../dev_deps.ts";
import {
  CodecError,
  decodeConfChange,
  decodeEntry,
  decodeMessage,
  encodeConfChange,
  encodeEntry,
  encodeMessage,
} from "./codec.ts";
import { ConfChangeType, EntryType, type Message, MessageType } from "./types.ts";

const SEED = 20261126;

const arbIndex = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const arbId = fc.string({ minLength: 1, maxLength: 20 });
const arbBytes = fc.uint8Array({ maxLength: 64 });
const arbEntry = fc.record({
  term: arbIndex,
  index: arbIndex,
  type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange),
  data: arbBytes,
}, { noNullPrototype: true });
const arbMessage: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.integer({ min: 0, max: MessageType.TransferLeader }),
    from: arbId,
    to: arbId,
    term: arbIndex,
    log_term: arbIndex,
    index: arbIndex,
    entries: fc.array(arbEntry, { maxLength: 5 }),
    commit: arbIndex,
    reject: fc.boolean(),
    reject_hint: arbIndex,
    snapshot: fc.record({
      meta: fc.record({
        index: arbIndex,
        term: arbIndex,
        conf_state: fc.record({
          voters: fc.array(arbId, { maxLength: 5 }),
          learners: fc.array(arbId, { maxLength: 3 }),
        }, { noNullPrototype: true }),
      }, { noNullPrototype: true }),
      data: arbBytes,
    }, { noNullPrototype: true }),
    context: arbBytes,
  },
  {
    noNullPrototype: true,
    requiredKeys: [
      "type",
      "from",
      "to",
      "term",
      "log_term",
      "index",
      "entries",
      "commit",
      "reject",
      "reject_hint",
    ],
  },
);

Deno.test("codec: every message round-trips", () => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      deepStrictEqual(decodeMessage(encodeMessage(m)), m);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("codec: entries and conf changes round-trip", () => {
  fc.assert(
    fc.property(arbEntry, (e) => deepStrictEqual(decodeEntry(encodeEntry(e)), e)),
    { seed: SEED, numRuns: 200 },
  );
  const cc = { type: ConfChangeType.AddLearner, node_id: "n7" };
  deepStrictEqual(decodeConfChange(encodeConfChange(cc)), cc);
});

Deno.test("codec: every truncation of a valid message is rejected", () => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      const bytes = encodeMessage(m);
      for (let cut = 0; cut < bytes.length; cut++) {
        throws(() => decodeMessage(bytes.subarray(0, cut)), CodecError);
      }
    }),
    { seed: SEED, numRuns: 30 },
  );
});

Deno.test("codec: malformed input names what was wrong", () => {
  const m: Message = {
    type: MessageType.App,
    from: "a",
    to: "b",
    term: 1,
    log_term: 1,
    index: 1,
    entries: [],
    commit: 0,
    reject: false,
    reject_hint: 0,
  };
  const good = encodeMessage(m);
  const patch = (offset: number, value: number) => {
    const b = good.slice();
    b[offset] = value;
    return b;
  };
  throws(() => decodeMessage(patch(0, 9)), /version 9/);
  throws(() => decodeMessage(patch(1, 200)), /message type 200/);
  throws(() => decodeMessage(patch(2, 64)), /flags/);
  throws(() => decodeMessage(new Uint8Array([...good, 0])), /trailing/);
  throws(() => encodeMessage({ ...m, term: -1 }), /term must be a non-negative safe integer/);
  throws(() => encodeMessage({ ...m, index: 1.5 }), /index/);
  throws(() => encodeMessage({ ...m, from: "x".repeat(300) }), /from is 300 bytes/);
  throws(() => decodeConfChange(new Uint8Array([7, 1, 0, 65])), /conf change type 7/);
  throws(() => decodeEntry(new Uint8Array(3)), /truncated/);
  // A NaN where a term belongs.
  const nan = good.slice();
  new DataView(nan.buffer).setFloat64(3 + 3 + 3, NaN, true);
  throws(() => decodeMessage(nan), /term must be a non-negative safe integer/);
});
