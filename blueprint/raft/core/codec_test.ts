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
      const bytes = encodeMessage(m);
      // A buffer of its own: safe to transfer or hand to a socket as `bytes.buffer`.
      deepStrictEqual([bytes.byteOffset, bytes.buffer.byteLength], [0, bytes.length]);
      deepStrictEqual(decodeMessage(bytes), m);
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

Deno.test("codec: small numbers take one byte each (compact)", () => {
  const m: Message = {
    type: MessageType.Heartbeat,
    from: "n1",
    to: "n2",
    term: 7,
    log_term: 0,
    index: 0,
    entries: [],
    commit: 100,
    reject: false,
    reject_hint: 0,
  };
  // 3 header + 2×(2+2) ids + 5 numbers (commit 100 < 128) + 4 entry count.
  deepStrictEqual(encodeMessage(m).length, 3 + 8 + 5 + 4);
  deepStrictEqual(
    decodeMessage(encodeMessage({ ...m, term: Number.MAX_SAFE_INTEGER })).term,
    Number.MAX_SAFE_INTEGER,
  );
});

Deno.test("codec: decoded payloads do not alias the input buffer", () => {
  const m: Message = {
    type: MessageType.App,
    from: "a",
    to: "b",
    term: 1,
    log_term: 1,
    index: 1,
    entries: [{ term: 1, index: 2, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }],
    commit: 0,
    reject: false,
    reject_hint: 0,
  };
  const bytes = encodeMessage(m);
  const decoded = decodeMessage(bytes);
  bytes.fill(0);
  deepStrictEqual(decoded.entries[0].data, new Uint8Array([1, 2, 3]));
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
  throws(() => encodeConfChange({ type: 9 as ConfChangeType, node_id: "x" }), /type 9/);
  throws(() => encodeConfChange({ type: ConfChangeType.AddVoter, node_id: "" }), /non-empty/);
  throws(() => decodeEntry(new Uint8Array(3)), /truncated/);
  // Varints: the term sits after version, type, flags and two one-byte ids.
  const term_at = 3 + 3 + 3;
  const overlong = new Uint8Array([
    ...good.subarray(0, term_at),
    0x81,
    0x00,
    ...good.subarray(term_at + 1),
  ]);
  throws(() => decodeMessage(overlong), /term has a non-minimal varint/);
  const huge = new Uint8Array([...good.subarray(0, term_at), ...new Array(8).fill(0xff), 0x01]);
  throws(() => decodeMessage(huge), /term varint is longer than 8 bytes/);
  const unsafe = new Uint8Array([...good.subarray(0, term_at), ...new Array(7).fill(0xff), 0x7f]);
  throws(() => decodeMessage(unsafe), /term must be a non-negative safe integer/);
});
