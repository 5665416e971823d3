import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import {
  loadRegistrySchema,
  REGISTRY_SERVICE,
  type SyncAck,
} from "../../shared/proto/draft/mod.ts";
import { type MessageCodec, methodOf } from "../../shared/proto/mod.ts";
import { AckDecoder, SYNC_ACK_CLUSTER_FIELD } from "./ack_decoder.ts";
import { clusterFromWire } from "./wire_mapping.ts";

const schema = await loadRegistrySchema();
const codec = methodOf(schema.service(REGISTRY_SERVICE), "Synchronize")
  .response_codec as MessageCodec<SyncAck>;

function cluster(leader: string, revision: bigint) {
  return {
    cluster_id: "c1",
    members: [
      { id: "a1", name: "n1", client_urls: ["http://127.0.0.1:2221"], is_leader: leader === "a1" },
      { id: "a2", name: "n2", client_urls: ["http://127.0.0.1:2222"], is_leader: leader === "a2" },
    ],
    leader_id: leader,
    leader_address: leader === "a1" ? "127.0.0.1:2221" : "127.0.0.1:2222",
    revision,
  };
}

Deno.test("ack decoder: the cluster field number is the schema's", () => {
  const bytes = codec.encode({ cluster: { cluster_id: "c" } });
  assert.equal(bytes[0], (SYNC_ACK_CLUSTER_FIELD << 3) | 2);
});

Deno.test("ack decoder: unchanged details are decoded once, changed ones again", () => {
  const acks = new AckDecoder(codec);
  const first = acks.decode(
    codec.encode({ sequence: 1n, process_id: "p", cluster: cluster("a1", 5n) }),
  );
  const second = acks.decode(
    codec.encode({
      sequence: 2n ** 63n,
      process_id: "p",
      changed: true,
      ttl_ms: 9,
      cluster: cluster("a1", 5n),
    }),
  );
  assert.equal(second, first, "the same details object");
  assert.equal(acks.full_decodes, 1);
  const moved = acks.decode(
    codec.encode({ sequence: 3n, process_id: "p", cluster: cluster("a2", 6n) }),
  );
  assert.equal(moved.leader_id, "a2");
  assert.equal(acks.full_decodes, 2);
  assert.throws(() => acks.decode(new Uint8Array([0x22, 0x10, 0x0a])), "a cut-off ack still fails");
});

Deno.test("ack decoder: every ack reads as a full decode would (property)", () => {
  const member = fc.record({
    id: fc.constantFrom("a1", "a2", "a3"),
    name: fc.string({ maxLength: 4 }),
    client_urls: fc.array(fc.constantFrom("http://h:1", "http://h:2", ""), { maxLength: 2 }),
    is_leader: fc.boolean(),
  });
  const details = fc.option(
    fc.record({
      cluster_id: fc.constantFrom("c1", "c2"),
      members: fc.array(member, { maxLength: 3 }),
      leader_id: fc.constantFrom("", "a1", "a2"),
      revision: fc.bigInt({ min: 0n, max: 2n ** 40n }),
    }),
    { nil: undefined },
  );
  const ack = fc.record({
    sequence: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    process_id: fc.string({ maxLength: 8 }),
    changed: fc.boolean(),
    ttl_ms: fc.nat(),
    cluster: details,
  });
  fc.assert(fc.property(fc.array(ack, { minLength: 1, maxLength: 20 }), (sequence) => {
    const acks = new AckDecoder(codec);
    for (const message of sequence) {
      const bytes = codec.encode(message);
      assert.deepEqual(acks.decode(bytes), clusterFromWire(codec.decode(bytes).cluster));
    }
  }));
});
