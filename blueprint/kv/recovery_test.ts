import assert from "node:assert/strict";
import { seededRng } from "../../shared/fs/mod.ts";
import { bytes, Harness } from "./test_support.ts";
import { encodeRequest, type RequestBody } from "./mod.ts";

/** A seeded log of mixed requests, encoded as Raft entries would carry them. */
function makeLog(seed: number, length: number): Uint8Array[] {
  const random = seededRng(seed);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const keys = ["a", "b", "c", "d", "e", "f"];
  const log: Uint8Array[] = [];
  for (let i = 1; i <= length; i++) {
    const r = random();
    let body: RequestBody;
    if (r < 0.5) {
      body = {
        type: "put",
        key: bytes(pick(keys)),
        value: bytes(`v${i}`),
        lease: random() < 0.2 ? 1 : 0,
      };
    } else if (r < 0.65) {
      body = { type: "delete_range", key: bytes(pick(keys)), range_end: bytes(pick(keys)) };
    } else if (r < 0.8) {
      body = {
        type: "txn",
        compare: [{ key: bytes(pick(keys)), target: "version", operator: ">", operand: 1 }],
        success: [{ type: "put", key: bytes(pick(keys)), value: bytes(`t${i}`) }],
        failure: [{ type: "delete_range", key: bytes(pick(keys)) }],
      };
    } else if (r < 0.88) body = { type: "lease_grant", id: 1, ttl_s: 10 };
    else if (r < 0.94) body = { type: "lease_revoke", id: 1 };
    else body = { type: "compact", revision: Math.max(1, i - 10) };
    // Some entries are retries of an earlier sequence number (the same request again).
    const sequence = random() < 0.1 && i > 2 ? i - 1 : i;
    log.push(encodeRequest({ origin: { member_id: "n1", sequence }, body }));
  }
  return log;
}

Deno.test("crash and replay from applied_index + 1 reach exactly the state of a clean run", async (t) => {
  const LOG_LENGTH = 120;
  for (const seed of [11, 12, 13, 14]) {
    await t.step(`seed ${seed}`, async () => {
      const log = makeLog(seed, LOG_LENGTH);
      const reference = await Harness.create();
      for (let i = 0; i < log.length; i++) await reference.machine.apply(i + 1, 1, log[i]);
      const random = seededRng(seed * 7);
      const crashing = await Harness.create();
      let next = 1;
      for (let crashes = 0; next <= LOG_LENGTH; crashes++) {
        const stop = Math.min(LOG_LENGTH, next + Math.floor(random() * 50));
        for (; next <= stop; next++) await crashing.machine.apply(next, 1, log[next - 1]);
        if (random() < 0.5) await crashing.storage.flush();
        if (crashes < 6) {
          await crashing.crashAndReopen(seed * 100 + crashes);
          assert.ok(crashing.machine.appliedIndex < next, "the applied index never runs ahead");
          // Raft replays from applied_index + 1; earlier indexes are skipped if offered.
          const applied = crashing.machine.appliedIndex;
          if (applied >= 1) {
            assert.equal(await crashing.machine.apply(applied, 1, log[applied - 1]), undefined);
          }
          next = crashing.machine.appliedIndex + 1;
        }
      }
      assert.equal(crashing.machine.revision, reference.machine.revision, `seed ${seed}`);
      assert.deepEqual(crashing.dump(), reference.dump(), `seed ${seed}`);
      await reference.close();
      await crashing.close();
    });
  }
});
