/**
 * `applyEntries` (runs of puts sharing one storage write) must be indistinguishable from
 * `apply` called entry by entry: the same responses, the same events in the same order, the
 * same state, also after a reopen. Random request sequences, cut into random chunks.
 */
import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { bytes, Harness } from "./test_support.ts";
import {
  type CommittedRequest,
  type Compare,
  encodeRequest,
  type KvEvent,
  type KvRequest,
  type KvResponse,
  MAX_ENTRIES_PER_WRITE,
  type RequestBody,
  type TxnOperation,
} from "./mod.ts";

const KEYS = ["a", "b", "c"];
const key_arb = fc.constantFrom(...KEYS).map(bytes);

/** Mostly puts (the batched kind), some refused, with the other kinds in between. */
const body_arb: fc.Arbitrary<RequestBody> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      type: fc.constant("put" as const),
      key: key_arb,
      value: fc.string({ maxLength: 3 }).map(bytes),
      prev_kv: fc.boolean(),
      ignore_value: fc.constantFrom(false, false, false, true),
      // Lease 7 exists only once granted: before that the put is refused.
      lease: fc.constantFrom(0, 0, 0, 7),
    }).map((put) => put.ignore_value ? { ...put, value: new Uint8Array(0) } : put),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("delete_range" as const),
      key: key_arb,
      prev_kv: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("txn" as const),
      compare: fc.constant([] as Compare[]),
      success: fc.array(
        fc.record({
          type: fc.constant("range" as const),
          key: key_arb,
          revision: fc.constantFrom(0, 1),
        }),
        { maxLength: 2 },
      ),
      failure: fc.constant([] as TxnOperation[]),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: "lease_grant" as const, id: 7, ttl_s: 60 }) },
  { weight: 1, arbitrary: fc.constant({ type: "lease_revoke" as const, id: 7 }) },
);

interface Step {
  body: RequestBody;
  /** Repeats an earlier request's origin (a retried request) instead of a new one. */
  repeat: number | undefined;
}

const step_arb: fc.Arbitrary<Step> = fc.record({
  body: body_arb,
  repeat: fc.option(fc.nat({ max: 5 }), { nil: undefined, freq: 8 }),
});

/** Encoded requests with consecutive indexes from 1; repeats reuse an earlier origin. */
function entriesOf(steps: Step[]): CommittedRequest[] {
  const requests: KvRequest[] = [];
  for (const [i, step] of steps.entries()) {
    const earlier = step.repeat === undefined ? undefined : requests[i - 1 - step.repeat];
    requests.push(earlier ?? { origin: { member_id: "m", sequence: i + 1 }, body: step.body });
  }
  return requests.map((request, i) => ({
    index: i + 1,
    term: 1,
    request: encodeRequest(request),
  }));
}

/** Splits `entries` into chunks of the given sizes (the rest in one last chunk). */
function chunked<T>(entries: T[], sizes: number[]): T[][] {
  const chunks: T[][] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= entries.length) break;
    chunks.push(entries.slice(at, at + size));
    at += size;
  }
  if (at < entries.length) chunks.push(entries.slice(at));
  return chunks;
}

interface Outcome {
  responses: (KvResponse | undefined)[];
  events: { revision: number; events: readonly KvEvent[] }[];
}

async function outcome(h: Harness, run: () => Promise<(KvResponse | undefined)[]>) {
  const events: Outcome["events"] = [];
  const stop = h.machine.addListener({
    applied: (revision, list) => events.push({ revision, events: list }),
    restored: () => {},
  });
  const responses = await run();
  stop();
  return { responses, events };
}

function everything(h: Harness) {
  return {
    revision: h.machine.revision,
    applied: h.machine.appliedIndex,
    kvs: h.machine.range(bytes("\0"), bytes("\0")).kvs,
    history: KEYS.flatMap((key) =>
      Array.from(
        { length: h.machine.revision },
        (_, r) => h.machine.range(bytes(key), undefined, { revision: r + 1 }).kvs,
      )
    ),
    leases: h.machine.leases(),
  };
}

Deno.test("applyEntries answers, publishes and stores exactly what apply does entry by entry", async () => {
  const seed = Number(Deno.env.get("KV_APPLY_ENTRIES_SEED") ?? 20261127);
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step_arb, { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 10 }),
        async (steps, sizes) => {
          const entries = entriesOf(steps);
          const one = await Harness.create();
          const many = await Harness.create();
          try {
            const expected = await outcome(one, async () => {
              const responses = [];
              for (const e of entries) {
                responses.push(await one.machine.apply(e.index, e.term, e.request));
              }
              return responses;
            });
            const actual = await outcome(many, async () => {
              const responses = [];
              for (const chunk of chunked(entries, sizes)) {
                responses.push(...await many.machine.applyEntries(chunk));
              }
              return responses;
            });
            assert.deepEqual(actual, expected);
            assert.deepEqual(everything(many), everything(one));
            await many.reopen();
            assert.deepEqual(everything(many), everything(one));
            // Entries at or below the applied index are skipped, as by apply.
            assert.deepEqual(
              await many.machine.applyEntries(entries),
              entries.map(() => undefined),
            );
          } finally {
            await one.close();
            await many.close();
          }
        },
      ),
      { seed, numRuns: 60 },
    );
  } catch (err) {
    console.error(`failed with seed ${seed} (rerun: KV_APPLY_ENTRIES_SEED=${seed})`);
    throw err;
  }
});

Deno.test("applyEntries writes a long run of puts in bounded storage writes", async () => {
  const h = await Harness.create();
  try {
    const count = MAX_ENTRIES_PER_WRITE * 2 + 5;
    const entries: CommittedRequest[] = Array.from({ length: count }, (_, i) => ({
      index: i + 1,
      term: 1,
      request: {
        origin: { member_id: "m", sequence: i + 1 },
        body: { type: "put", key: bytes(`k${i % 7}`), value: bytes(`${i}`) },
      },
    }));
    let writes = 0;
    const write = h.storage.write.bind(h.storage);
    h.storage.write = (batch, options) => {
      writes++;
      return write(batch, options);
    };
    const responses = await h.machine.applyEntries(entries);
    assert.equal(writes, 3, "one write per full run, one for the rest");
    assert.deepEqual(responses.map((r) => r?.revision), entries.map((e) => e.index));
    assert.equal(h.machine.range(bytes("k0")).kvs[0].version, Math.ceil(count / 7));
  } finally {
    await h.close();
  }
});
