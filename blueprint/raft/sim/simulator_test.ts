import { ok, strictEqual } from "node:assert/strict";
import { runSimulation } from "./simulator.ts";
import { main } from "./main.ts";

const SEED_COUNT = 500;
const CHAOS_TICKS = 200;

Deno.test(`simulation: ${SEED_COUNT} seeds keep every safety property and recover`, () => {
  const totals = { committed: 0, crashes: 0, installs: 0, conf_changes: 0, elections: 0 };
  for (let seed = 1; seed <= SEED_COUNT; seed++) {
    const result = runSimulation({ seed, chaos_ticks: CHAOS_TICKS });
    if (result.failure) {
      throw new Error(
        `seed ${seed}: ${result.failure}\nreplay: deno task sim --seed ${seed} ` +
          `--chaos-ticks ${CHAOS_TICKS}`,
      );
    }
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) {
      totals[key] += result.stats[key];
    }
  }
  // The chaos must actually have happened, or the run proves little.
  for (const [key, value] of Object.entries(totals)) {
    ok(value > SEED_COUNT / 10, `${key}: ${value}`);
  }
});

Deno.test("simulation: the same seed replays exactly", () => {
  const a = runSimulation({ seed: 77 });
  const b = runSimulation({ seed: 77 });
  strictEqual(JSON.stringify(a), JSON.stringify(b));
});

Deno.test("simulation: a node that votes twice in a term is caught by Election Safety", () => {
  let caught: string | undefined;
  for (let seed = 1; seed <= 200 && caught === undefined; seed++) {
    const result = runSimulation({
      seed,
      chaos_ticks: 200,
      pre_vote: false,
      testing_faults: { vote_twice: true },
    });
    caught = result.failure;
  }
  ok(caught?.includes("Election Safety"), `expected an Election Safety failure, got ${caught}`);
});

Deno.test("simulation: a driver that does not persist the vote is caught by the checkers", () => {
  let caught: string | undefined;
  for (let seed = 1; seed <= 300 && caught === undefined; seed++) {
    caught = runSimulation({
      seed,
      chaos_ticks: 200,
      pre_vote: false,
      reboot_chance: 0.2,
      forget_vote_on_restart: true,
    }).failure;
  }
  ok(caught?.includes("Election Safety"), `expected an Election Safety failure, got ${caught}`);
});

Deno.test("sim main: replays one seed and rejects bad arguments", () => {
  strictEqual(main(["--seed", "3", "--chaos-ticks", "50"]), 0);
  let message = "";
  try {
    main(["--seeds", "-4"]);
  } catch (error) {
    message = (error as Error).message;
  }
  ok(message.includes("--seeds"), message);
});
