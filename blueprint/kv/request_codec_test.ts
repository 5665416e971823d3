import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import {
  decodeRequest,
  decodeResponse,
  DEFAULT_LIMITS,
  encodeRequest,
  encodeResponse,
  type KvRequest,
  type KvResponse,
  type TxnOperation,
} from "./mod.ts";

const SEED = Number(Deno.env.get("KV_CODEC_SEED") ?? 4242);

const key = fc.uint8Array({ minLength: 1, maxLength: 12 });
const value = fc.uint8Array({ maxLength: 24 });
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const flag = fc.boolean();

const put = fc.record({
  type: fc.constant("put" as const),
  key,
  value,
  lease: count,
  prev_kv: flag,
  ignore_value: fc.constant(false),
  ignore_lease: fc.constant(false),
});
const range = fc.record({
  type: fc.constant("range" as const),
  key,
  range_end: value,
  limit: count,
  revision: count,
  keys_only: flag,
  count_only: flag,
});
const del = fc.record({
  type: fc.constant("delete_range" as const),
  key,
  range_end: value,
  prev_kv: flag,
});
const compare = fc.oneof(
  fc.record({
    key,
    range_end: value,
    target: fc.constant("value" as const),
    operator: fc.constantFrom("=" as const, "!=" as const, "<" as const, ">" as const),
    operand: value,
  }),
  fc.record({
    key,
    range_end: value,
    target: fc.constantFrom(
      "version" as const,
      "create_revision" as const,
      "mod_revision" as const,
      "lease" as const,
    ),
    operator: fc.constantFrom("=" as const, "!=" as const, "<" as const, ">" as const),
    operand: count,
  }),
);
const { txn } = fc.letrec<{ txn: TxnOperation; op: TxnOperation }>((tie) => ({
  op: fc.oneof({ depthSize: "small", withCrossShrink: true }, put, range, del, tie("txn")),
  txn: fc.record({
    type: fc.constant("txn" as const),
    compare: fc.array(compare, { maxLength: 3 }),
    success: fc.array(tie("op"), { maxLength: 3 }),
    failure: fc.array(tie("op"), { maxLength: 3 }),
  }),
}));
const body = fc.oneof(
  put,
  del,
  txn,
  fc.record({
    type: fc.constant("lease_grant" as const),
    id: count,
    ttl_s: fc.integer({ min: 1, max: 1000 }),
  }),
  fc.record({
    type: fc.constant("lease_revoke" as const),
    id: fc.integer({ min: 1, max: 1 << 30 }),
  }),
  fc.record({
    type: fc.constant("compact" as const),
    revision: fc.integer({ min: 1, max: 1 << 30 }),
  }),
);
const request = fc.record({
  origin: fc.record({
    member_id: fc.string({ minLength: 1, maxLength: 16 }),
    sequence: fc.integer({ min: 1 }),
  }),
  body,
});

Deno.test("requests round-trip through the codec", () => {
  const limits = { ...DEFAULT_LIMITS, max_txn_ops: 10_000 };
  try {
    fc.assert(
      fc.property(request, (r) => {
        const decoded = decodeRequest(encodeRequest(r as KvRequest, limits), limits);
        assert.deepEqual(decoded, structuredClone(r)); // plain prototypes, as decoded
      }),
      { seed: SEED, numRuns: 300 },
    );
  } catch (err) {
    console.error(`codec round trip failed with seed ${SEED} (rerun: KV_CODEC_SEED=${SEED})`);
    throw err;
  }
});

Deno.test("responses round-trip through the codec", () => {
  const kv = {
    key: Uint8Array.of(1),
    value: Uint8Array.of(2, 3),
    create_revision: 4,
    mod_revision: 5,
    version: 6,
    lease: 7,
  };
  const responses: KvResponse[] = [
    { revision: 9, body: { type: "put", prev_kv: kv } },
    { revision: 9, body: { type: "put" } },
    { revision: 0, body: { type: "delete_range", deleted: 2, prev_kvs: [kv, kv] } },
    {
      revision: 3,
      body: {
        type: "txn",
        succeeded: true,
        responses: [{ type: "range", kvs: [kv], more: true, count: 8 }, {
          type: "txn",
          succeeded: false,
          responses: [],
        }],
      },
    },
    { revision: 1, body: { type: "lease_grant", id: 2 ** 50, ttl_s: 60 } },
    { revision: 1, body: { type: "lease_revoke" } },
    { revision: 1, body: { type: "compact" } },
    {
      revision: 1,
      body: { type: "error", code: "lease_not_found", message: "requested lease 5 not found" },
    },
  ];
  for (const response of responses) {
    assert.deepEqual(decodeResponse(encodeResponse(response)), response);
  }
});

Deno.test("damaged request bytes are refused with a clear error, never misread", () => {
  const good = encodeRequest({
    origin: { member_id: "n1", sequence: 3 },
    body: { type: "put", key: Uint8Array.of(1, 2), value: Uint8Array.of(3) },
  });
  assert.throws(
    () => decodeRequest(good.subarray(0, good.length - 1)),
    /KV request is malformed: unexpected end/,
  );
  assert.throws(() => decodeRequest(Uint8Array.of(...good, 0)), /1 trailing bytes/);
  assert.throws(
    () => decodeRequest(Uint8Array.of(2, ...good.subarray(1))),
    /format 2 \(allowed: 1\)/,
  );
  assert.throws(() => decodeRequest(new Uint8Array(0)), /unexpected end/);
  const huge_count = Uint8Array.of(1, 1, 0x61, 1, 4, 0xff, 0xff, 0xff, 0x7f);
  assert.throws(() => decodeRequest(huge_count), /compare count \d+ exceeds the bytes left/);
  // Every truncation of a valid request fails cleanly.
  for (let cut = 0; cut < good.length; cut++) {
    assert.throws(() => decodeRequest(good.subarray(0, cut)), /malformed|must/);
  }
});

Deno.test("limits: request size, txn operations and nesting depth", () => {
  const origin = { member_id: "n1", sequence: 1 };
  const small = { ...DEFAULT_LIMITS, max_request_bytes: 64 };
  assert.throws(
    () =>
      encodeRequest({
        origin,
        body: { type: "put", key: Uint8Array.of(1), value: new Uint8Array(100) },
      }, small),
    /request of \d+ bytes is larger than max_request_bytes \(64\)/,
  );
  let nested: TxnOperation = { type: "txn", compare: [], success: [], failure: [] };
  for (let i = 0; i < 10; i++) {
    nested = { type: "txn", compare: [], success: [nested], failure: [] };
  }
  assert.throws(
    () => encodeRequest({ origin, body: nested as KvRequest["body"] }),
    /nesting deeper than 8/,
  );
  assert.throws(
    () =>
      encodeRequest({
        origin,
        body: {
          type: "put",
          key: Uint8Array.of(1),
          value: new Uint8Array(0),
          lease: 3,
          ignore_lease: true,
        },
      }),
    /lease must be 0 when ignore_lease is set/,
  );
  assert.throws(
    () => encodeRequest({ origin, body: { type: "lease_grant", id: 0, ttl_s: 0 } }),
    /ttl_s must be an integer from 1/,
  );
  assert.throws(
    () => encodeRequest({ origin, body: { type: "compact", revision: 0 } }),
    /compact revision must be/,
  );
  assert.throws(
    () =>
      encodeRequest({
        origin,
        body: { type: "range", key: Uint8Array.of(1) } as unknown as KvRequest["body"],
      }),
    /range is a read/,
  );
  assert.throws(
    () => encodeRequest({ origin, body: { type: "lease_revoke", id: 2 ** 53 } }),
    /lease id must be an integer from 1 to 9007199254740991/,
  );
});
