import { deepStrictEqual, notDeepStrictEqual, ok, throws } from "node:assert/strict";
import { SeededRng } from "./rng.ts";

Deno.test("seeded rng: same seed same sequence, values in range", () => {
  const a = new SeededRng(42);
  const b = new SeededRng(42);
  const xs = Array.from({ length: 100 }, () => a.nextInt(10));
  deepStrictEqual(xs, Array.from({ length: 100 }, () => b.nextInt(10)));
  ok(xs.every((x) => x >= 0 && x < 10));
  ok(new Set(xs).size > 5);
  notDeepStrictEqual(
    Array.from({ length: 10 }, () => new SeededRng(1).fork().nextUint32()),
    Array.from({ length: 10 }, () => new SeededRng(2).fork().nextUint32()),
  );
  throws(() => a.nextInt(0), /bound/);
  throws(() => new SeededRng(1.5), /seed/);
});
