import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import {
  compareBytes,
  escapeKey,
  historyKey,
  historyPrefix,
  keyRangeBounds,
  PREFIX,
  unescapeKey,
} from "./keyspace.ts";

const SEED = Number(Deno.env.get("KV_KEYSPACE_SEED") ?? 777);
const raw = fc.uint8Array({ minLength: 1, maxLength: 8, max: 3 });

Deno.test("escaped keys with revisions sort as (key, revision) and decode back", () => {
  try {
    fc.assert(
      fc.property(raw, raw, fc.nat(), fc.nat(), (a, b, ra, rb) => {
        const expected = Math.sign(compareBytes(a, b)) || Math.sign(ra - rb);
        assert.equal(Math.sign(compareBytes(historyKey(a, ra), historyKey(b, rb))), expected);
        assert.deepEqual(unescapeKey(escapeKey(a), 0).key, a);
      }),
      { seed: SEED, numRuns: 500 },
    );
  } catch (err) {
    console.error(`keyspace ordering failed with seed ${SEED} (rerun: KV_KEYSPACE_SEED=${SEED})`);
    throw err;
  }
});

Deno.test("history bounds of a key range hold exactly the versions of its keys", () => {
  try {
    fc.assert(
      fc.property(raw, raw, raw, fc.nat(), (key, end, candidate, revision) => {
        for (const range_end of [undefined, Uint8Array.of(0), end]) {
          const bounds = keyRangeBounds(key, range_end, PREFIX.history, historyPrefix);
          const stored = historyKey(candidate, revision);
          const inside = bounds !== undefined && compareBytes(stored, bounds.start) >= 0 &&
            compareBytes(stored, bounds.end) < 0;
          const want = range_end === undefined
            ? compareBytes(candidate, key) === 0
            : compareBytes(candidate, key) >= 0 &&
              (range_end.length === 1 && range_end[0] === 0 ||
                compareBytes(candidate, range_end) < 0);
          assert.equal(inside, want);
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  } catch (err) {
    console.error(`keyspace bounds failed with seed ${SEED} (rerun: KV_KEYSPACE_SEED=${SEED})`);
    throw err;
  }
});

Deno.test("a damaged escaped key is refused", () => {
  assert.throws(() => unescapeKey(Uint8Array.of(1, 0, 7), 0), /unterminated escaped key/);
  assert.throws(() => unescapeKey(Uint8Array.of(1, 2), 0), /unterminated escaped key/);
});
