/**
 * Draft on Deno: the command line and the public API.
 *
 * Run it: `deno run -A mod.ts help`. Import it (also from a URL):
 *
 * ```ts
 * import { Storage } from "./mod.ts";
 * const db = await Storage.open("/tmp/example");
 * await db.put(new TextEncoder().encode("k"), new TextEncoder().encode("v"), { sync: true });
 * await db.close();
 * ```
 *
 * @module
 */
import { main } from "./cli/mod.ts";

export { main, VERSION } from "./cli/mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
