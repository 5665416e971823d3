/**
 * Property tests: the checker agrees with the definition (a brute-force search) on small
 * random histories, accepts every history recorded from a real sequential execution with
 * overlapping call intervals, and rejects it once a read reports a value nobody wrote.
 */
import assert from "node:assert/strict";
import { fc } from "../../dev_deps.ts";
import { checkOperations, type KvInput, kvModel } from "./mod.ts";
import {
  applyToStore,
  assertSeededProperty,
  isLinearizableByBruteForce,
  type KvOperation,
} from "./testing.ts";

const VALUES = ["1", "2"];

/** Any small key/value operation with any plausible output: linearizable or not. */
const arbitraryOperation: fc.Arbitrary<KvOperation> = fc.record({
  client_id: fc.integer({ min: 0, max: 3 }),
  key: fc.constantFrom("a", "a", "a", "b"),
  kind: fc.constantFrom("put", "get", "cas", "delete"),
  value: fc.constantFrom(...VALUES),
  expected: fc.constantFrom(null, ...VALUES),
  read: fc.constantFrom(null, ...VALUES),
  flag: fc.boolean(),
  call_ms: fc.integer({ min: 0, max: 12 }),
  duration_ms: fc.integer({ min: 0, max: 10 }),
  unknown: fc.integer({ min: 0, max: 9 }).map((roll) => roll === 0),
}).map((drawn) => {
  const inputs: Record<string, KvInput> = {
    put: { op: "put", key: drawn.key, value: drawn.value },
    get: { op: "get", key: drawn.key },
    cas: { op: "cas", key: drawn.key, expected: drawn.expected, value: drawn.value },
    delete: { op: "delete", key: drawn.key },
  };
  const outputs = { put: null, get: drawn.read, cas: drawn.flag, delete: drawn.flag };
  const operation: KvOperation = {
    client_id: drawn.client_id,
    input: inputs[drawn.kind],
    call_ms: drawn.call_ms,
    return_ms: drawn.unknown ? Infinity : drawn.call_ms + drawn.duration_ms,
  };
  if (!drawn.unknown) operation.output = outputs[drawn.kind as keyof typeof outputs];
  return operation;
});

Deno.test("agrees with a brute-force search on small random histories", () => {
  assertSeededProperty(
    fc.property(fc.array(arbitraryOperation, { minLength: 0, maxLength: 8 }), (history) => {
      const expected = isLinearizableByBruteForce(kvModel, history) ? "ok" : "illegal";
      const outcome = checkOperations(kvModel, history, { timeout_ms: 5_000 });
      assert.equal(outcome.result, expected, outcome.explanation);
    }),
    { num_runs: 1500 },
  );
});

/** One step of a sequential execution, before outputs and times are known. */
interface PlannedStep {
  client_id: number;
  input: KvInput;
  /** 0: completed; 1: failed after taking effect; 2: failed without taking effect. */
  failure: 0 | 1 | 2;
  call_early_ms: number;
  return_late_ms: number;
}

const arbitraryPlannedStep: fc.Arbitrary<PlannedStep> = fc.record({
  client_id: fc.integer({ min: 0, max: 7 }),
  input: fc.oneof(
    fc.record({
      op: fc.constant("put" as const),
      key: fc.constantFrom("a", "b", "c"),
      value: fc.string({ maxLength: 2 }),
    }),
    fc.record({ op: fc.constant("get" as const), key: fc.constantFrom("a", "b", "c") }),
    fc.record({
      op: fc.constant("cas" as const),
      key: fc.constantFrom("a", "b", "c"),
      expected: fc.option(fc.string({ maxLength: 2 }), { nil: null }),
      value: fc.string({ maxLength: 2 }),
    }),
    fc.record({ op: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c") }),
  ),
  failure: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 0, 0, 0, 1, 2),
  call_early_ms: fc.integer({ min: 0, max: 35 }),
  return_late_ms: fc.integer({ min: 0, max: 35 }),
});

/** The value no generated write ever stores (generated strings are at most 2 long). */
const NEVER_WRITTEN = "never written";

/**
 * Runs the plan against a real store, one step every 10 ms, and records each step with an
 * interval that contains its instant but is jittered so that neighbours overlap.
 */
function executeSequentially(plan: PlannedStep[]): KvOperation[] {
  const store = new Map<string, string>();
  return plan.map((step, index) => {
    const instant_ms = 100 + 10 * index;
    const output = step.failure === 2 ? undefined : applyToStore(store, step.input);
    const operation: KvOperation = {
      client_id: step.client_id,
      input: step.input,
      call_ms: instant_ms - step.call_early_ms,
      return_ms: step.failure === 0 ? instant_ms + step.return_late_ms : Infinity,
    };
    if (step.failure === 0) operation.output = output;
    return operation;
  });
}

Deno.test("histories of a real sequential execution with jittered times", async (t) => {
  const plans = fc.array(arbitraryPlannedStep, { minLength: 1, maxLength: 80 });

  await t.step("are linearizable", () => {
    assertSeededProperty(
      fc.property(plans, (plan) => {
        const outcome = checkOperations(kvModel, executeSequentially(plan), { timeout_ms: 10_000 });
        assert.equal(outcome.result, "ok", outcome.explanation);
      }),
      { num_runs: 150 },
    );
  });

  await t.step("are illegal once one read reports a value no one wrote", () => {
    assertSeededProperty(
      fc.property(plans, fc.nat(), (plan, choice) => {
        const history = executeSequentially(plan);
        const reads = history.filter((operation) =>
          operation.input.op === "get" && operation.output !== undefined
        );
        fc.pre(reads.length > 0);
        const victim = reads[choice % reads.length];
        victim.output = NEVER_WRITTEN;
        const outcome = checkOperations(kvModel, history, { timeout_ms: 10_000 });
        assert.equal(outcome.result, "illegal", outcome.explanation);
        assert.ok(outcome.partition?.includes(victim), "the failing part holds the bad read");
      }),
      { num_runs: 150 },
    );
  });
});
