import assert from "node:assert/strict";
import {
  checkOperations,
  HistoryRecorder,
  type KvInput,
  kvModel,
  type KvOutput,
  RecordTimeoutError,
} from "./mod.ts";
import { mulberry32 } from "./testing.ts";

/** A clock that advances one millisecond per reading, so every event has its own time. */
function tickingClock(): () => number {
  let now_ms = 0;
  return () => ++now_ms;
}

const GET_X: KvInput = { op: "get", key: "x" };

Deno.test("HistoryRecorder records calls", async (t) => {
  await t.step("a call that returns gets its output and return time", async () => {
    const recorder = new HistoryRecorder<KvInput, KvOutput>({ clock: tickingClock() });
    const output = await recorder.record(7, GET_X, () => Promise.resolve("a"));
    assert.equal(output, "a");
    assert.deepEqual(recorder.history(), [
      { client_id: 7, input: GET_X, call_ms: 1, output: "a", return_ms: 2 },
    ]);
  });

  await t.step("a call that throws is unknown and the error reaches the caller", async () => {
    const recorder = new HistoryRecorder<KvInput, KvOutput>({ clock: tickingClock() });
    await assert.rejects(
      recorder.record(1, GET_X, () => Promise.reject(new Error("UNAVAILABLE"))),
      /UNAVAILABLE/,
    );
    assert.deepEqual(recorder.history(), [
      { client_id: 1, input: GET_X, call_ms: 1, return_ms: Infinity },
    ]);
  });

  await t.step("a call that takes too long is unknown", async () => {
    const recorder = new HistoryRecorder<KvInput, KvOutput>();
    const never = new Promise<KvOutput>(() => {});
    await assert.rejects(
      recorder.record(1, GET_X, () => never, { timeout_ms: 5 }),
      (error) => error instanceof RecordTimeoutError && error.timeout_ms === 5,
    );
    const [operation] = recorder.history();
    assert.equal(operation.return_ms, Infinity);
    assert.equal("output" in operation, false);
  });

  await t.step("a call that provably did not apply is left out", async () => {
    const recorder = new HistoryRecorder<KvInput, KvOutput>();
    const invalid = Object.assign(new Error("too big"), { code: "INVALID_ARGUMENT" });
    await assert.rejects(
      recorder.record(1, GET_X, () => Promise.reject(invalid), {
        definitelyNotApplied: (error) => (error as { code?: string }).code === "INVALID_ARGUMENT",
      }),
    );
    assert.deepEqual(recorder.history(), []);
    assert.equal(recorder.size, 1);
  });

  await t.step("a call still in flight shows as unknown until it returns", async () => {
    const recorder = new HistoryRecorder<KvInput, KvOutput>({ clock: tickingClock() });
    let answer: (value: KvOutput) => void = () => {};
    const pending = recorder.record(1, GET_X, () => new Promise((resolve) => answer = resolve));
    assert.deepEqual(recorder.history(), [
      { client_id: 1, input: GET_X, call_ms: 1, return_ms: Infinity },
    ]);
    answer(null);
    await pending;
    assert.deepEqual(recorder.history(), [
      { client_id: 1, input: GET_X, call_ms: 1, output: null, return_ms: 2 },
    ]);
  });

  await t.step("the number of recorded calls is bounded", async () => {
    const recorder = new HistoryRecorder<KvInput, KvOutput>({ max_operations: 1 });
    await recorder.record(1, GET_X, () => Promise.resolve(null));
    await assert.rejects(
      recorder.record(1, GET_X, () => Promise.resolve(null)),
      /already 1 operations recorded; max_operations is 1/,
    );
    assert.throws(() => new HistoryRecorder({ max_operations: 0 }), /allowed: an integer >= 1/);
    await assert.rejects(
      new HistoryRecorder().record(1, GET_X, () => Promise.resolve(null), { timeout_ms: 0 }),
      /timeout_ms is 0; allowed: > 0/,
    );
  });
});

/**
 * An in-memory store whose calls interleave at random points (microtask yields). With
 * `stale_reads`, gets read a replica that lags one write behind: a real bug to be caught.
 */
class InterleavingStore {
  private readonly values = new Map<string, string>();
  private readonly lagging = new Map<string, string>();

  constructor(
    private readonly random: () => number,
    private readonly faults: { stale_reads: boolean; failure_rate: number },
  ) {}

  async run(input: KvInput): Promise<KvOutput> {
    await this.yieldRandomly();
    const output = this.apply(input);
    await this.yieldRandomly();
    if (this.random() < this.faults.failure_rate) {
      throw new Error("connection reset after the write");
    }
    return output;
  }

  private apply(input: KvInput): KvOutput {
    const current = this.values.get(input.key) ?? null;
    if (input.op === "get") {
      return this.faults.stale_reads ? this.lagging.get(input.key) ?? null : current;
    }
    if (input.op === "cas" && current !== input.expected) return false;
    if (current !== null) this.lagging.set(input.key, current);
    if (input.op === "delete") this.values.delete(input.key);
    else this.values.set(input.key, input.value);
    return input.op === "cas" ? true : input.op === "delete" ? current !== null : null;
  }

  private async yieldRandomly(): Promise<void> {
    const yields = Math.floor(this.random() * 4);
    for (let i = 0; i < yields; i++) await Promise.resolve();
  }
}

async function recordClients(store: InterleavingStore, random: () => number) {
  const recorder = new HistoryRecorder<KvInput, KvOutput>({ clock: tickingClock() });
  const client = async (client_id: number) => {
    for (let call = 0; call < 25; call++) {
      const key = random() < 0.5 ? "x" : "y";
      const value = `${client_id}.${call}`;
      const inputs: KvInput[] = [
        { op: "put", key, value },
        { op: "get", key },
        { op: "cas", key, expected: `${client_id}.${call - 1}`, value },
        { op: "delete", key },
      ];
      const input = inputs[Math.floor(random() * inputs.length)];
      await recorder.record(client_id, input, () => store.run(input)).catch(() => {});
    }
  };
  await Promise.all([1, 2, 3, 4].map(client));
  return recorder.history();
}

Deno.test("recorded concurrent clients of a store", async (t) => {
  const seed = Number(Deno.env.get("LINCHECK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  try {
    await t.step("a correct store's history is linearizable", async () => {
      const random = mulberry32(seed);
      const history = await recordClients(
        new InterleavingStore(random, { stale_reads: false, failure_rate: 0.1 }),
        random,
      );
      assert.equal(history.length, 100);
      assert.ok(history.some((operation) => operation.return_ms === Infinity));
      const outcome = checkOperations(kvModel, history, { timeout_ms: 10_000 });
      assert.equal(outcome.result, "ok", outcome.explanation);
    });

    await t.step("a store with stale reads is caught", async () => {
      const random = mulberry32(seed);
      const store = new InterleavingStore(random, { stale_reads: true, failure_rate: 0 });
      const recorder = new HistoryRecorder<KvInput, KvOutput>({ clock: tickingClock() });
      for (const value of ["1", "2"]) {
        const write = { op: "put", key: "z", value } as const;
        await recorder.record(9, write, () => store.run(write));
      }
      const read = { op: "get", key: "z" } as const;
      assert.equal(await recorder.record(9, read, () => store.run(read)), "1");
      const history = [...recorder.history(), ...await recordClients(store, random)];
      const outcome = checkOperations(kvModel, history, { timeout_ms: 10_000 });
      assert.equal(outcome.result, "illegal", outcome.explanation);
      assert.deepEqual(outcome.partition, history.slice(0, 3), "the smallest failing part");
    });
  } catch (error) {
    console.error(`failed with seed ${seed}; replay with LINCHECK_SEED=${seed}`);
    throw error;
  }
});
