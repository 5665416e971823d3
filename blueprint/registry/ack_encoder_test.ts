import assert from "node:assert/strict";
import {
  type ClusterDetails,
  loadRegistrySchema,
  REGISTRY_SERVICE,
  type SyncAck,
} from "../../shared/proto/draft/mod.ts";
import { methodOf } from "../../shared/proto/mod.ts";
import { AckEncoder } from "./ack_encoder.ts";

const details = (leader_id: string): ClusterDetails => ({
  cluster_id: "c1",
  members: [
    { id: "a1", name: "n1", client_urls: ["http://127.0.0.1:1"], is_leader: true },
    { id: "b2", name: "n2", client_urls: ["http://127.0.0.1:2"], is_learner: true },
  ],
  leader_id,
  leader_address: "http://127.0.0.1:1",
  core_services: [{ kind: "fuse", process_id: "f0", address: "127.0.0.1:9", running_state: 2 }],
  revision: 42n,
});

Deno.test("ack encoder: the bytes decode as the whole ack; details are encoded once per key", async () => {
  const codec = methodOf((await loadRegistrySchema()).service(REGISTRY_SERVICE), "Synchronize")
    .response_codec;
  const acks = new AckEncoder(codec as unknown as ConstructorParameters<typeof AckEncoder>[0]);
  let built = 0;
  const build = (leader_id: string) => () => {
    built++;
    return details(leader_id);
  };
  const fields = { sequence: 7n, process_id: "p1", changed: true, ttl_ms: 5000 };
  const first = acks.encode(fields, "k1", build("a1"));
  const direct = codec.encode({ ...fields, cluster: details("a1") } as never);
  assert.deepEqual(codec.decode(first), codec.decode(direct));
  const decoded = codec.decode(first) as SyncAck;
  assert.equal(decoded.sequence, 7n);
  assert.equal(decoded.cluster?.members?.[1]?.is_learner, true);

  const second = acks.encode({ ...fields, sequence: 8n, changed: false }, "k1", build("zz"));
  assert.equal(built, 1, "the same key reuses the encoded details");
  assert.equal((codec.decode(second) as SyncAck).cluster?.leader_id, "a1");
  assert.equal((codec.decode(second) as SyncAck).changed, false);

  const third = acks.encode(fields, "k2", build("b2"));
  assert.equal(built, 2);
  assert.equal(acks.cluster_encodings, 2);
  assert.equal((codec.decode(third) as SyncAck).cluster?.leader_id, "b2");
});
