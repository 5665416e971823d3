/**
 * The `draft` command line: `deno run -A mod.ts COMMAND [options]`.
 *
 * Each command lives in its own file and is loaded only when it runs, so that `help` and
 * scripts that import the public API stay fast.
 *
 * @module
 */
import { UsageError } from "./output.ts";

/** The version of this build, printed by `draft version`. */
export const VERSION = "0.1.0";

interface Command {
  summary: string;
  load(): Promise<{ run(args: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  blueprint: {
    summary: "run a Blueprint member (--id, --data, --client-addr, --raft-addr, --initial-cluster)",
    load: () => import("./blueprint_command.ts"),
  },
  cluster: {
    summary: "cluster status, members, add, remove, leader transfer (--endpoints, --json)",
    load: () => import("./cluster_command.ts"),
  },
  kv: {
    summary: "put, get, del, list, watch, txn against a cluster (--endpoints, --json)",
    load: () => import("./kv_command.ts"),
  },
  process: {
    summary: "an example process: joins the registry (--name, --nonce), leaves on Ctrl-C",
    load: () => import("./process_command.ts"),
  },
  registry: {
    summary: "registered processes: list, watch, show ID (--endpoints, --json)",
    load: () => import("./registry_command.ts"),
  },
  storage: {
    summary: "inspect or edit a local storage directory (get, put, del, scan, stats, compact)",
    load: () => import("./storage_command.ts"),
  },
  up: {
    summary: "start a local 3-node Blueprint cluster under ./data; Ctrl-C stops it",
    load: () => import("./up_command.ts"),
  },
};

/** The text of `draft help`. */
export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length), "version".length);
  const lines = Object.entries(COMMANDS).map(([name, c]) =>
    `  ${name.padEnd(width)}  ${c.summary}`
  );
  return [
    "Draft on Deno: a platform for running distributed services.",
    "",
    "usage: deno run -A mod.ts COMMAND [options]",
    "",
    "commands:",
    ...lines,
    `  ${"version".padEnd(width)}  print the version`,
    `  ${"help".padEnd(width)}  print this text (COMMAND --help for a command's options)`,
  ].join("\n");
}

/**
 * Runs the command line and returns the exit code: 0 on success, 1 on a failed operation,
 * 2 on a usage error.
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(helpText());
    return 0;
  }
  if (name === "version" || name === "--version") {
    console.log(`draft ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(
      `draft: unknown command "${name}"; commands: ${
        Object.keys(COMMANDS).join(", ")
      }, version, help`,
    );
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`draft ${name}: ${err.message}`);
      return 2;
    }
    console.error(`draft ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
