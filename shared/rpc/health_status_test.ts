import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { HealthStatusTable, MAX_HEALTH_WATCHERS } from "./health_status.ts";

Deno.test("health table: states, watchers told only of changes, bounded listeners", () => {
  const table = new HealthStatusTable();
  strictEqual(table.get("a"), undefined);
  const seen: (string | undefined)[] = [];
  const stop = table.watch("a", (state) => seen.push(state));
  table.set("a", "SERVING");
  table.set("a", "SERVING"); // no change, no call
  table.set("b", "SERVING");
  table.setAll("NOT_SERVING");
  deepStrictEqual(seen, ["SERVING", "NOT_SERVING"]);
  deepStrictEqual(table.services(), ["a", "b"]);
  stop();
  stop(); // a second stop is harmless
  table.set("a", "SERVING");
  deepStrictEqual(seen, ["SERVING", "NOT_SERVING"]);
  strictEqual(table.watcherCount, 0);
  throws(
    () => table.set("a", "DOWN" as "SERVING"),
    /health state DOWN: allowed are SERVING and NOT_SERVING/,
  );
  const stops = Array.from({ length: MAX_HEALTH_WATCHERS }, () => table.watch("a", () => {}));
  throws(() => table.watch("a", () => {}), /too many health watchers \(limit 1024\)/);
  stops.forEach((release) => release());
  strictEqual(table.watcherCount, 0);
});
