/**
 * `draft registry`: list, watch and show the processes in Blueprint's service registry.
 * Tables for people, `--json` (one object per line) for scripts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_LOCAL_ENDPOINTS } from "../blueprint/client/mod.ts";
import {
  HEALTH_STATES,
  type HealthState,
  type ProcessRecord,
  type QueryFilter,
  type RegistryChange,
  RegistryClient,
  RUNNING_STATES,
  type RunningState,
} from "../blueprint/process/mod.ts";
import { CLIENT_FLAGS, parseInteger } from "./kv_command.ts";
import { printRecords, UsageError } from "./output.ts";

const USAGE = `usage: deno run -A mod.ts registry ACTION [options]

actions:
  list [--name N] [--state S,...] [--health H,...] [--label K=V]... [--limit N]
                        the registered processes (states: ${RUNNING_STATES.join(", ")};
                        health: ${HEALTH_STATES.join(", ")}, lost)
  watch [--rev R] [--max-events N]
                        print registry changes until Ctrl-C (or N events)
  show ID               one process with all its fields

options:
  --endpoints A,B,C     servers, host:port (default ${DEFAULT_LOCAL_ENDPOINTS}, what 'up' starts)
  --json                one JSON object per line`;

const OPTIONS = {
  ...CLIENT_FLAGS,
  name: { type: "string" },
  state: { type: "string" },
  health: { type: "string" },
  label: { type: "string", multiple: true },
  limit: { type: "string" },
  rev: { type: "string" },
  "max-events": { type: "string" },
} as const;

/** The columns of `registry list`. */
export const LIST_COLUMNS = ["process_id", "name", "state", "health", "address", "labels", "age"];

/**
 * Runs `draft registry ACTION`; returns the exit code.
 *
 * @param args the arguments after `registry`
 */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : error}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [action, ...operands] = positionals;
  if (values.help || action === undefined) {
    console.log(USAGE);
    return action === undefined && !values.help ? 2 : 0;
  }
  const filter = action === "list" ? filterFromFlags(values) : {};
  let client: RegistryClient;
  try {
    client = await RegistryClient.connect(values.endpoints ?? DEFAULT_LOCAL_ENDPOINTS);
  } catch (error) {
    throw new UsageError(`--endpoints: ${error instanceof Error ? error.message : error}`);
  }
  try {
    switch (action) {
      case "list":
        expectNoOperands("list", operands);
        return await list(client, filter, values.json);
      case "watch":
        expectNoOperands("watch", operands);
        return await watch(client, values);
      case "show":
        return await show(client, operands, values.json);
      default:
        throw new UsageError(`unknown action "${action}"; actions: list, watch, show`);
    }
  } finally {
    client.close();
  }
}

/**
 * The `list` flags as a query filter; wrong values name the flag and what is allowed.
 *
 * @param values the parsed flags
 */
export function filterFromFlags(
  values: { name?: string; state?: string; health?: string; label?: string[]; limit?: string },
): QueryFilter {
  const running_states = splitList(values.state).map((state) => {
    if (!RUNNING_STATES.includes(state as RunningState)) {
      throw new UsageError(`--state "${state}"; allowed: ${RUNNING_STATES.join(", ")}`);
    }
    return state as RunningState;
  });
  const health = splitList(values.health).map((value) => {
    if (value !== "lost" && !HEALTH_STATES.includes(value as HealthState)) {
      throw new UsageError(`--health "${value}"; allowed: ${HEALTH_STATES.join(", ")}, lost`);
    }
    return value as HealthState | "lost";
  });
  const labels: Record<string, string> = {};
  for (const label of values.label ?? []) {
    const equals = label.indexOf("=");
    if (equals < 1) throw new UsageError(`--label "${label}"; expected KEY=VALUE`);
    labels[label.slice(0, equals)] = label.slice(equals + 1);
  }
  return {
    name: values.name,
    running_states,
    health,
    labels,
    limit: values.limit === undefined ? 0 : parseInteger("--limit", values.limit, 1, 10_000),
  };
}

/**
 * A record as a table row (or JSON object) of `registry list`.
 *
 * @param record the record
 * @param now_ms the time to measure its age against
 */
export function listRow(record: ProcessRecord, now_ms: number): Record<string, unknown> {
  return {
    process_id: record.process_id,
    name: record.name,
    state: record.running_state,
    health: record.health,
    address: record.advertise_address,
    labels: Object.entries(record.metadata).map(([k, v]) => `${k}=${v}`).join(","),
    age: formatAge(now_ms - record.registered_at_ms),
  };
}

async function list(client: RegistryClient, filter: QueryFilter, json: boolean): Promise<number> {
  const { records, revision, more } = await client.query(filter);
  const now_ms = Date.now();
  printRecords(LIST_COLUMNS, records.map((record) => listRow(record, now_ms)), json);
  if (!json) {
    console.log(`${records.length} process(es) at revision ${revision}${more ? " (more)" : ""}`);
  }
  return 0;
}

async function show(client: RegistryClient, operands: string[], json: boolean): Promise<number> {
  if (operands.length !== 1) throw new UsageError("show takes one operand: the process ID");
  const { record, revision } = await client.get(operands[0]);
  const fields = { ...recordJson(record), revision: revision.toString() };
  if (json) console.log(JSON.stringify(fields));
  else {
    printRecords(
      ["field", "value"],
      Object.entries(fields).map(([field, value]) => ({
        field,
        value: typeof value === "object" ? JSON.stringify(value) : value,
      })),
      false,
    );
  }
  return 0;
}

async function watch(
  client: RegistryClient,
  values: { rev?: string; "max-events"?: string; json: boolean },
): Promise<number> {
  const start = values.rev === undefined
    ? 0n
    : BigInt(parseInteger("--rev", values.rev, 1, Number.MAX_SAFE_INTEGER));
  const max_events = values["max-events"] === undefined
    ? Infinity
    : parseInteger("--max-events", values["max-events"], 1, 1_000_000_000);
  let seen = 0;
  const handle = client.watch(start, (changes: RegistryChange[]) => {
    const rows = changes.slice(0, max_events - seen).map(changeRow);
    seen += rows.length;
    printRecords(["revision", "type", "process_id", "name", "state", "health"], rows, values.json);
    if (seen >= max_events) handle.close();
  });
  const stop = () => handle.close();
  Deno.addSignalListener("SIGINT", stop);
  try {
    const error = await handle.done;
    if (error) throw error;
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
  }
}

function changeRow(change: RegistryChange): Record<string, unknown> {
  return {
    revision: change.revision.toString(),
    type: change.type,
    process_id: change.process_id,
    name: change.record?.name ?? "",
    state: change.record?.running_state ?? "",
    health: change.record?.health ?? "",
  };
}

function recordJson(record: ProcessRecord): Record<string, unknown> {
  return { ...record, mod_revision: record.mod_revision.toString() };
}

function splitList(text: string | undefined): string[] {
  return text === undefined ? [] : text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function expectNoOperands(action: string, operands: string[]): void {
  if (operands.length > 0) {
    throw new UsageError(`${action} takes no operands; got ${operands.join(" ")}`);
  }
}

function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}
