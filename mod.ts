/**
 * Draft on Deno: the command line and the public API.
 *
 * Run it: `deno run -A mod.ts help`. Import it (also from a URL) to run a Blueprint member,
 * talk to a cluster, join the service registry as a Draft process ({@link DraftProcess}), or
 * use the storage engine on its own:
 *
 * ```ts
 * import { BlueprintClient, Storage } from "./mod.ts";
 *
 * const client = await BlueprintClient.connect({ endpoints: ["127.0.0.1:2221"] });
 * await client.put("greeting", "hello");
 * const { kvs } = await client.get("greeting");
 * console.log(kvs.length);
 * client.close();
 *
 * const db = await Storage.open("/tmp/example");
 * await db.put(new TextEncoder().encode("k"), new TextEncoder().encode("v"), { sync: true });
 * await db.close();
 * ```
 *
 * @module
 */
import { main } from "./cli/mod.ts";

export { main, VERSION } from "./cli/mod.ts";
export * from "./blueprint/mod.ts";
export {
  BlueprintClient,
  ClientError,
  type ClientOptions,
  LocalCluster,
  type LocalClusterOptions,
  WatchStream,
} from "./blueprint/client/mod.ts";
export {
  type ConnectionState,
  DraftProcess,
  type DraftProcessOptions,
  type ProcessChange,
  type ProcessRecord,
  type QueryFilter,
  type RegistryChange,
  RegistryClient,
  RegistryTransport,
  type RegistryWatch,
} from "./blueprint/process/mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
