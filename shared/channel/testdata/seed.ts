/**
 * Seeded property runs for the channel's tests: the seed is random each run unless
 * `CHANNEL_TEST_SEED` is set, and a failure names it so that the run replays.
 *
 * @module
 */
import { fc } from "../../../dev_deps.ts";

/** Runs `property` `num_runs` times; on failure rethrows with the seed that replays it. */
export async function assertSeeded(
  property: fc.IProperty<unknown> | fc.IAsyncProperty<unknown>,
  num_runs: number,
): Promise<void> {
  const fixed = Deno.env.get("CHANNEL_TEST_SEED");
  const seed = fixed !== undefined ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
  try {
    await fc.assert(property, { seed, numRuns: num_runs });
  } catch (error) {
    console.error(`property failed; replay with CHANNEL_TEST_SEED=${seed}`);
    throw error;
  }
}
