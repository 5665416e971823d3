/**
 * `draft blueprint`: runs one Blueprint member until SIGINT or SIGTERM.
 *
 * ```
 * deno run -A mod.ts blueprint --id n1 --data DIR --client-addr 127.0.0.1:2221 \
 *   --raft-addr 127.0.0.1:1111 --initial-cluster n1=127.0.0.1:1111,n2=127.0.0.1:1112
 * ```
 *
 * Settings come from flags, then `DRAFT_*` environment variables, then `--config FILE`
 * (JSON; or `DRAFT_CONFIG`), then defaults. Prints `blueprint ID ready client=... raft=...`
 * once serving.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BlueprintNode, ConfigError, NODE_SETTINGS, resolveNodeConfig } from "../blueprint/mod.ts";
import { UsageError } from "./output.ts";

/** The text of `draft blueprint --help`. */
export function blueprintHelp(): string {
  const lines = NODE_SETTINGS.map((s) => `  --${s.flag.padEnd(20)} ${s.env.padEnd(26)} ${s.key}`);
  return [
    "usage: deno run -A mod.ts blueprint --id NAME --data DIR [options]",
    "",
    "options (flag, environment variable, config file key):",
    ...lines,
    `  --${"config".padEnd(20)} ${"DRAFT_CONFIG".padEnd(26)} a JSON file with the keys above`,
    "",
    "--initial-cluster lists every member of a new cluster as name=host:port (Raft addresses);",
    "--join ADDR adds this member to a running cluster through any member's client address.",
  ].join("\n");
}

/** Runs the command; resolves with the exit code once the member has stopped. */
export async function run(args: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean" }> = {
    config: { type: "string" },
    help: { type: "boolean" },
  };
  for (const setting of NODE_SETTINGS) options[setting.flag] = { type: "string" };
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see --help`);
  }
  if (parsed.values.help) {
    console.log(blueprintHelp());
    return 0;
  }
  const env = Deno.env.toObject();
  const config_path = (parsed.values.config as string | undefined) ?? env.DRAFT_CONFIG;
  let file: { path: string; value: unknown } | undefined;
  if (config_path) {
    let text: string;
    try {
      text = await Deno.readTextFile(config_path);
    } catch (error) {
      throw new UsageError(
        `cannot read the config file ${config_path}: ${(error as Error).message}`,
      );
    }
    try {
      file = { path: config_path, value: JSON.parse(text) };
    } catch (error) {
      throw new UsageError(`${config_path} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const flags: Record<string, string | undefined> = {};
  for (const setting of NODE_SETTINGS) {
    flags[setting.flag] = parsed.values[setting.flag] as string | undefined;
  }
  let config;
  try {
    config = resolveNodeConfig({ flags, env, file });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  const node = await BlueprintNode.start(config, {
    log: (line) => console.error(line),
  });
  console.log(`blueprint ${node.id} ready client=${node.client_address} raft=${node.raft_address}`);
  const signalled = new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  const failure = await Promise.race([signalled.then(() => undefined), node.failed]);
  console.error(
    `blueprint ${node.id}: stopping${failure ? ` after a failure: ${failure.message}` : ""}`,
  );
  await node.stop();
  return failure ? 1 : 0;
}
