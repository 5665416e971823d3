/** The registry CLI's flag parsing and rows, without a cluster. */
import assert from "node:assert/strict";
import { filterFromFlags, listRow } from "../../cli/registry_command.ts";
import { main } from "../../cli/mod.ts";

Deno.test("registry command: list flags become a query filter", () => {
  assert.deepEqual(
    filterFromFlags({
      name: "web",
      state: "running,draining",
      health: "healthy, lost",
      label: ["zone=a", "tier=x=y"],
      limit: "5",
    }),
    {
      name: "web",
      running_states: ["running", "draining"],
      health: ["healthy", "lost"],
      labels: { zone: "a", tier: "x=y" },
      limit: 5,
    },
  );
});

Deno.test("registry command: wrong flags name what is allowed", () => {
  assert.throws(() => filterFromFlags({ state: "up" }), /--state "up"; allowed: starting, running/);
  assert.throws(() => filterFromFlags({ health: "fine" }), /--health "fine"; allowed: .*lost/);
  assert.throws(() => filterFromFlags({ label: ["=a"] }), /--label "=a"; expected KEY=VALUE/);
  assert.throws(() => filterFromFlags({ limit: "0" }), /--limit is "0"; allowed: an integer 1/);
});

Deno.test("registry command: a record as a list row", () => {
  const row = listRow({
    process_id: "p1",
    name: "web",
    running_state: "running",
    health: "lost",
    advertise_address: "h:1",
    metadata: { a: "1", b: "2" },
    ttl_ms: 10_000,
    registered_at_ms: 1_000,
    updated_at_ms: 1_000,
    lost_at_ms: 5_000,
    mod_revision: 3n,
  }, 91_000);
  assert.deepEqual(row, {
    process_id: "p1",
    name: "web",
    state: "running",
    health: "lost",
    address: "h:1",
    labels: "a=1,b=2",
    age: "90s",
  });
});

Deno.test("registry and process commands: usage errors exit 2", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    assert.equal(await main(["registry", "list", "--state", "up"]), 2);
    assert.equal(await main(["registry", "show"]), 2);
    assert.equal(await main(["process"]), 2);
    assert.equal(await main(["process", "--name", "x", "--nonce", "n", "--poll-ms", "1"]), 2);
  } finally {
    console.error = original;
  }
  assert.match(errors[0], /--state "up"/);
  assert.match(errors[1], /show takes one operand/);
  assert.match(errors[2], /--name is required/);
  assert.match(errors[3], /--poll-ms is "1"; allowed: an integer 10/);
});
