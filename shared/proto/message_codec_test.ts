import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import {
  CompareTarget,
  etcdCodecs,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  loadEtcdSchema,
  type Member,
  type MemberAddRequest,
  type MemberAddResponse,
  type MemberListResponse,
  type MoveLeaderRequest,
  ProtoDecodeError,
  ProtoEncodeError,
  ProtoSchema,
  type PutRequest,
  type RangeRequest,
  type ResponseHeader,
  type StatusResponse,
  type TxnRequest,
  type WatchResponse,
} from "./mod.ts";

const schema = await loadEtcdSchema();
const codecs = etcdCodecs(schema);
const bytes = (text: string) => new TextEncoder().encode(text);
const hex = (data: Uint8Array) => [...data].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("codec: the wire bytes are protobuf's, field numbers as in etcd", async (t) => {
  await t.step("PutRequest {key, value, lease} is fields 1, 2, 3", () => {
    const encoded = codecs.PutRequest.encode({ key: bytes("a"), value: bytes("b"), lease: 1n });
    strictEqual(hex(encoded), "0a0161" + "120162" + "1801");
  });

  await t.step("Blueprint's header fields are 100 and 101", () => {
    const encoded = codecs.ResponseHeader.encode({ leader_id: 1n, leader_client_address: "x" });
    // tag(100, varint) = 800 = a0 06; tag(101, bytes) = 810 = aa 06.
    strictEqual(hex(encoded), "a00601" + "aa060178");
  });

  await t.step("a negative int64 is a 10-byte varint; uint64 max round-trips", () => {
    const lease = codecs.PutRequest.encode({ lease: -1n });
    strictEqual(hex(lease), "18" + "ff".repeat(9) + "01");
    strictEqual(codecs.PutRequest.decode(lease).lease, -1n);
    const header = codecs.ResponseHeader.encode({ cluster_id: 2n ** 64n - 1n });
    strictEqual(codecs.ResponseHeader.decode(header).cluster_id, 2n ** 64n - 1n);
  });

  await t.step("a decoder without fields 100 and 101 (an etcd client) skips them", async () => {
    const etcd_like = await ProtoSchema.load(["h.proto"], {
      base_url: new URL("memory:/"),
      read_text: () =>
        Promise.resolve(`syntax = "proto3"; package p;
          message ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2;
                                   int64 revision = 3; uint64 raft_term = 4; }`),
    });
    const encoded = codecs.ResponseHeader.encode({
      cluster_id: 9n,
      revision: 5n,
      leader_id: 3n,
      leader_client_address: "10.0.0.1:2379",
    });
    deepStrictEqual(etcd_like.codec("p.ResponseHeader").decode(encoded), {
      cluster_id: 9n,
      member_id: 0n,
      revision: 5n,
      raft_term: 0n,
    });
  });
});

Deno.test("codec: decoding fills proto3 defaults and names the set oneof member", () => {
  const decoded = codecs.TxnRequest.decode(codecs.TxnRequest.encode({
    compare: [{ key: bytes("k"), target: CompareTarget.MOD, mod_revision: 5n }],
    success: [{ request_put: { key: bytes("k") } }],
  }));
  const compare = decoded.compare[0];
  strictEqual(compare.target, CompareTarget.MOD);
  strictEqual(compare.target_union, "mod_revision");
  strictEqual(compare.mod_revision, 5n);
  strictEqual(compare.version, undefined);
  deepStrictEqual(compare.range_end, new Uint8Array());
  strictEqual(decoded.success[0].request, "request_put");
  deepStrictEqual(decoded.success[0].request_put, {
    key: bytes("k"),
    value: new Uint8Array(),
    lease: 0n,
    prev_kv: false,
    ignore_value: false,
    ignore_lease: false,
  });
  deepStrictEqual(decoded.failure, []);
  const empty = codecs.PutResponse.decode(new Uint8Array());
  deepStrictEqual(empty, {}); // absent messages stay absent
});

Deno.test("codec: decoded bytes are copies, unaffected by later changes to the input", () => {
  const encoded = codecs.PutRequest.encode({ key: bytes("key"), value: bytes("value") });
  const decoded = codecs.PutRequest.decode(encoded);
  encoded.fill(0);
  deepStrictEqual(decoded.key, bytes("key"));
  deepStrictEqual(decoded.value, bytes("value"));
  strictEqual(decoded.key.buffer.byteLength, 3, "the key does not pin a larger buffer");
});

Deno.test("codec: random puts and txns round-trip (seeded)", () => {
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  const put = fc.record({
    key: fc.uint8Array({ maxLength: 32 }),
    value: fc.uint8Array({ maxLength: 64 }),
    lease: int64,
    prev_kv: fc.boolean(),
    ignore_value: fc.boolean(),
    ignore_lease: fc.boolean(),
  }, { noNullPrototype: true });
  const seed = 20261126;
  fc.assert(
    fc.property(put, fc.array(put, { maxLength: 4 }), (request, ops) => {
      deepStrictEqual(codecs.PutRequest.decode(codecs.PutRequest.encode(request)), request);
      const txn = codecs.TxnRequest.decode(
        codecs.TxnRequest.encode({ success: ops.map((op) => ({ request_put: op })) }),
      );
      deepStrictEqual(txn.success.map((op) => op.request_put), ops);
    }),
    { seed, numRuns: 300 },
  );
});

Deno.test("codec: every wrong value is named with its path and what is allowed", () => {
  const fails = (value: unknown, pattern: RegExp) =>
    throws(() => codecs.TxnRequest.encode(value as TxnRequest), (error: Error) => {
      ok(error instanceof ProtoEncodeError, String(error));
      ok(pattern.test(error.message), `${error.message} !~ ${pattern}`);
      return true;
    });
  fails(
    { success: [{ request_put: { lease: "7" } }] },
    /^etcdserverpb\.TxnRequest\.success\[0\]\.request_put\.lease: expected a bigint \(or a safe integer number\), got the string "7"$/,
  );
  fails(
    { success: [{ request_put: { lease: 2n ** 63n } }] },
    /lease: 9223372036854775808 is outside int64/,
  );
  fails(
    { compare: [{ target: "SIZE" }] },
    /"SIZE" is not a value of enum CompareTarget \(allowed: VERSION, CREATE, MOD, VALUE, LEASE or their numbers\)/,
  );
  fails(
    { success: [{ request_put: {}, request_range: {} }] },
    /success\[0\]: oneof request has request_range and request_put set; at most one is allowed/,
  );
  fails({ compare: {} }, /TxnRequest\.compare: expected an array, got an object/);
  fails([], /etcdserverpb\.TxnRequest: expected an object, got an array/);
  throws(
    () => codecs.PutRequest.encode({ prev_kv: 1 } as unknown as PutRequest),
    /PutRequest\.prev_kv: expected a boolean, got number 1/,
  );
});

Deno.test("codec: bytes that are not the message raise ProtoDecodeError naming the type", () => {
  throws(
    () => codecs.PutRequest.decode(new Uint8Array([0x0a, 0x05, 0x01])),
    (error: Error) =>
      error instanceof ProtoDecodeError &&
      /^etcdserverpb\.PutRequest: cannot decode 3 bytes: /.test(error.message),
  );
});

Deno.test("etcd shapes: every field of the TypeScript shapes exists in the .proto", () => {
  // A fully populated object survives a round trip only if every name and type matches: the
  // encoder skips names the message does not have, and the decoder restores each field.
  const header = {
    cluster_id: 1n,
    member_id: 2n,
    revision: 3n,
    raft_term: 4n,
    leader_id: 5n,
    leader_client_address: "h:1",
  } satisfies ResponseHeader;
  const member = {
    ID: 9n,
    name: "n1",
    peerURLs: ["http://p"],
    clientURLs: ["http://c"],
    isLearner: true,
  } satisfies Member;
  const cases: [string, object][] = [
    [
      "etcdserverpb.StatusResponse",
      {
        header,
        version: "v",
        dbSize: 1n,
        leader: 2n,
        raftIndex: 3n,
        raftTerm: 4n,
        raftAppliedIndex: 5n,
        errors: ["e"],
        dbSizeInUse: 6n,
        isLearner: true,
        storageVersion: "s",
        dbSizeQuota: 7n,
      } satisfies StatusResponse,
    ],
    [
      "etcdserverpb.LeaseGrantResponse",
      { header, ID: 1n, TTL: 2n, error: "x" } satisfies LeaseGrantResponse,
    ],
    ["etcdserverpb.LeaseGrantRequest", { TTL: 1n, ID: 2n } satisfies LeaseGrantRequest],
    [
      "etcdserverpb.LeaseKeepAliveResponse",
      { header, ID: 1n, TTL: 2n } satisfies LeaseKeepAliveResponse,
    ],
    [
      "etcdserverpb.LeaseTimeToLiveRequest",
      { ID: 1n, keys: true } satisfies LeaseTimeToLiveRequest,
    ],
    [
      "etcdserverpb.LeaseTimeToLiveResponse",
      {
        header,
        ID: 1n,
        TTL: 2n,
        grantedTTL: 3n,
        keys: [bytes("k")],
      } satisfies LeaseTimeToLiveResponse,
    ],
    [
      "etcdserverpb.MemberAddRequest",
      { peerURLs: ["p"], isLearner: true } satisfies MemberAddRequest,
    ],
    [
      "etcdserverpb.MemberAddResponse",
      { header, member, members: [member] } satisfies MemberAddResponse,
    ],
    ["etcdserverpb.MemberListResponse", { header, members: [member] } satisfies MemberListResponse],
    ["etcdserverpb.MoveLeaderRequest", { targetID: 3n } satisfies MoveLeaderRequest],
    [
      "etcdserverpb.WatchResponse",
      {
        header,
        watch_id: 1n,
        created: true,
        canceled: true,
        compact_revision: 2n,
        cancel_reason: "r",
        fragment: true,
        events: [{
          type: 1,
          kv: {
            key: bytes("k"),
            create_revision: 1n,
            mod_revision: 2n,
            version: 3n,
            value: bytes("v"),
            lease: 4n,
          },
        }],
      } satisfies WatchResponse,
    ],
    [
      "etcdserverpb.RangeRequest",
      {
        key: bytes("a"),
        range_end: bytes("b"),
        limit: 1n,
        revision: 2n,
        sort_order: 1,
        sort_target: 2,
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 3n,
        max_mod_revision: 4n,
        min_create_revision: 5n,
        max_create_revision: 6n,
      } satisfies RangeRequest,
    ],
  ];
  for (const [type_name, value] of cases) {
    const codec = schema.codec(type_name);
    deepStrictEqual(codec.decode(codec.encode(value)), value, type_name);
  }
});

Deno.test("codec: 64-bit values round-trip at every boundary of the fast paths", () => {
  const unsigned = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n];
  for (const value of [...unsigned, 0xcbf29ce484222325n, 0xcbf29ce484222325n]) {
    const encoded = codecs.ResponseHeader.encode({ cluster_id: value });
    strictEqual(codecs.ResponseHeader.decode(encoded).cluster_id, value, `uint64 ${value}`);
  }
  const signed = [-1n, -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 53n), 2n ** 53n + 1n, 7n];
  for (const value of signed) {
    const encoded = codecs.ResponseHeader.encode({ revision: value });
    strictEqual(codecs.ResponseHeader.decode(encoded).revision, value, `int64 ${value}`);
  }
  for (const number of [0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -5]) {
    const encoded = codecs.ResponseHeader.encode({ revision: number });
    strictEqual(codecs.ResponseHeader.decode(encoded).revision, BigInt(number), `${number}`);
  }
  throws(() => codecs.ResponseHeader.encode({ cluster_id: 2n ** 64n }), /outside uint64/);
  throws(() => codecs.ResponseHeader.encode({ cluster_id: -1n }), /outside uint64/);
  throws(() => codecs.ResponseHeader.encode({ revision: 2n ** 63n }), /outside int64/);
});
