/**
 * `draft process`: an example Draft process. It joins the registry, reports "running" and
 * its health at its polling interval, prints the cluster as acks describe it, and leaves
 * (Finalize) on Ctrl-C or SIGTERM.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_LOCAL_ENDPOINTS } from "../blueprint/client/mod.ts";
import { DraftProcess, type ProcessChange } from "../blueprint/process/mod.ts";
import { parseInteger } from "./kv_command.ts";
import { UsageError } from "./output.ts";

const USAGE = `usage: deno run -A mod.ts process --name NAME [options]

Joins the registry as NAME, reports "running", and leaves on Ctrl-C.

options:
  --name NAME           the process name (1-128 of A-Z a-z 0-9 . _ -)
  --nonce N             the cluster's join token (default: $DRAFT_JOIN_TOKEN;
                        'cluster status' shows it)
  --endpoints A,B,C     Blueprint members to join through (default ${DEFAULT_LOCAL_ENDPOINTS})
  --advertise ADDR      host:port this process says it serves on (default none)
  --label K=V           a metadata label (repeatable)
  --poll-ms N           reporting interval in ms (default 1000)
  --ttl-ms N            liveness TTL to ask for in ms (default: the cluster's, 10 s)
  --json                print events as JSON lines`;

const OPTIONS = {
  name: { type: "string" },
  nonce: { type: "string" },
  endpoints: { type: "string" },
  advertise: { type: "string" },
  label: { type: "string", multiple: true },
  "poll-ms": { type: "string" },
  "ttl-ms": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/**
 * Runs `draft process`; returns the exit code once the process has left.
 *
 * @param args the arguments after `process`
 */
export async function run(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({ args, options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : error}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.name === undefined) throw new UsageError(`--name is required\n${USAGE}`);
  const nonce = values.nonce ?? Deno.env.get("DRAFT_JOIN_TOKEN") ?? "";
  if (nonce === "") {
    throw new UsageError(
      "no nonce: give --nonce or set DRAFT_JOIN_TOKEN (cluster status shows it)",
    );
  }
  const metadata: Record<string, string> = {};
  for (const label of values.label ?? []) {
    const equals = label.indexOf("=");
    if (equals < 1) throw new UsageError(`--label "${label}"; expected KEY=VALUE`);
    metadata[label.slice(0, equals)] = label.slice(equals + 1);
  }
  const print = (event: Record<string, unknown>) =>
    console.log(values.json ? JSON.stringify(event) : describe(event));
  const me = await DraftProcess.join({
    entrypoints: values.endpoints ?? DEFAULT_LOCAL_ENDPOINTS,
    name: values.name,
    nonce,
    metadata,
    advertise_address: values.advertise ?? "",
    poll_interval_ms: values["poll-ms"] === undefined
      ? undefined
      : parseInteger("--poll-ms", values["poll-ms"], 10, 3_600_000),
    ttl_ms: values["ttl-ms"] === undefined
      ? undefined
      : parseInteger("--ttl-ms", values["ttl-ms"], 1000, 300_000),
    handle_signals: true,
  });
  print({ event: "joined", process_id: me.identity.process_id, ttl_ms: me.ttl_ms });
  let last = "";
  me.onChange((change) => {
    const line = changeSummary(change);
    if (line !== last) print({ event: "cluster", ...JSON.parse(line) });
    last = line;
  });
  me.setRunningState("running");
  await me.closed;
  print({ event: "left", process_id: me.identity.process_id });
  return 0;
}

function changeSummary(change: ProcessChange): string {
  const leader = change.cluster.members.find((m) => m.id === change.cluster.leader_id);
  return JSON.stringify({
    connection: change.connection,
    endpoint: change.endpoint,
    leader: leader?.client_addresses[0] ?? change.cluster.leader_id,
    members: change.cluster.members.length,
  });
}

function describe(event: Record<string, unknown>): string {
  return Object.entries(event).map(([key, value]) => `${key}=${value}`).join(" ");
}
