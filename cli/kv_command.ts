/**
 * `draft kv`: put, get, delete, list, watch and transactions against a Blueprint (or etcd)
 * cluster. Tables for people, `--json` (one object per line) for scripts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  BlueprintClient,
  CompareResult,
  CompareTarget,
  DEFAULT_LOCAL_ENDPOINTS,
  type Event,
  type KeyValue,
  type ResponseHeader,
  toBytes,
  toText,
} from "../blueprint/client/mod.ts";
import { printRecords, UsageError } from "./output.ts";

const USAGE = `usage: deno run -A mod.ts kv ACTION [options]

actions:
  put KEY VALUE [--lease ID] [--prev-kv]   write VALUE at KEY
  get KEY [--prefix] [--limit N] [--rev R] [--serializable] [--keys-only] [--count]
                                           read a key, a prefix (--prefix) or a count
  del KEY [--prefix] [--prev-kv]           delete a key or every key with a prefix
  list [PREFIX] [--limit N]                list keys and values (all keys without PREFIX)
  watch KEY [--prefix] [--rev R] [--max-events N]
                                           print changes until Ctrl-C (or N events)
  txn --if COND... --then OP... [--else OP...]
                                           a transaction; COND is "KEY = VALUE", "KEY != VALUE",
                                           "KEY missing", "KEY exists", or
                                           "version|create|mod(KEY) =|!=|<|> N";
                                           OP is "put KEY VALUE", "get KEY" or "del KEY"

options:
  --endpoints A,B,C     servers, host:port (default ${DEFAULT_LOCAL_ENDPOINTS}, what 'up' starts)
  --timeout-ms N        deadline of each call including retries (default 10000)
  --json                one JSON object per line`;

/** The flags every client command shares. */
export const CLIENT_FLAGS = {
  endpoints: { type: "string" },
  "timeout-ms": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/**
 * Connects to `--endpoints` (or the local `up` cluster) with `--timeout-ms`.
 *
 * @param values the parsed flags
 */
export function connectFromFlags(
  values: { endpoints?: string; "timeout-ms"?: string },
): Promise<BlueprintClient> {
  const deadline_ms = values["timeout-ms"] === undefined
    ? undefined
    : parseInteger("--timeout-ms", values["timeout-ms"], 1, 3_600_000);
  try {
    return BlueprintClient.connect({
      endpoints: values.endpoints ?? DEFAULT_LOCAL_ENDPOINTS,
      deadline_ms,
    });
  } catch (error) {
    throw new UsageError(`--endpoints: ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * Parses an integer flag, naming the flag and the allowed range when it is wrong.
 *
 * @param flag the flag, for the message
 * @param text its value
 * @param min the smallest allowed
 * @param max the largest allowed
 */
export function parseInteger(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || value < min || value > max) {
    throw new UsageError(
      `${flag} is ${JSON.stringify(text)}; allowed: an integer ${min} to ${max}`,
    );
  }
  return value;
}

/**
 * The header fields a command prints: revision and who answered and leads.
 *
 * @param header the response header
 * @param endpoint the endpoint the client used
 */
export function headerRecord(
  header: ResponseHeader | undefined,
  endpoint: string,
): Record<string, unknown> {
  return {
    revision: header?.revision.toString() ?? "",
    member: header ? hexId(header.member_id) : "",
    leader: header?.leader_client_address ||
      (header && header.leader_id > 0n ? hexId(header.leader_id) : ""),
    endpoint,
  };
}

/**
 * A member or lease ID as etcdctl prints it (hex, no prefix).
 *
 * @param id the ID
 */
export function hexId(id: bigint): string {
  return id.toString(16);
}

const KV_OPTIONS = {
  ...CLIENT_FLAGS,
  prefix: { type: "boolean", default: false },
  limit: { type: "string" },
  rev: { type: "string" },
  lease: { type: "string" },
  "prev-kv": { type: "boolean", default: false },
  serializable: { type: "boolean", default: false },
  "keys-only": { type: "boolean", default: false },
  count: { type: "boolean", default: false },
  "max-events": { type: "string" },
  if: { type: "string", multiple: true },
  then: { type: "string", multiple: true },
  else: { type: "string", multiple: true },
} as const;

function parseKvArgs(args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: KV_OPTIONS });
}

type Flags = ReturnType<typeof parseKvArgs>["values"];

/** Runs `draft kv ...`; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseKvArgs(args);
  const [action, ...operands] = positionals;
  if (values.help || action === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const client = await connectFromFlags(values);
  try {
    return await perform(client, action, operands, values);
  } finally {
    client.close();
  }
}

async function perform(
  client: BlueprintClient,
  action: string,
  operands: string[],
  flags: Flags,
): Promise<number> {
  const json = flags.json;
  switch (action) {
    case "put": {
      const [key, value] = expectOperands("put", operands, ["KEY", "VALUE"]);
      const lease = flags.lease === undefined ? undefined : parseLease(flags.lease);
      const response = await client.put(key, value, { lease, prev_kv: flags["prev-kv"] });
      const record: Record<string, unknown> = {
        key,
        ...headerRecord(response.header, client.endpoint),
      };
      if (flags["prev-kv"]) {
        record.prev_value = response.prev_kv ? toText(response.prev_kv.value) : null;
      }
      printRecords(Object.keys(record), [record], json);
      return 0;
    }
    case "get":
    case "list": {
      const key = action === "get"
        ? expectOperands("get", operands, ["KEY"])[0]
        : expectAtMost("list", operands, 1)[0] ?? "";
      const all = action === "list" && key === "";
      const limit = flags.limit === undefined
        ? 0
        : parseInteger("--limit", flags.limit, 0, 1_000_000);
      const response = await client.get(all ? "\0" : key, {
        prefix: (flags.prefix || action === "list") && !all,
        range_end: all ? "\0" : undefined,
        limit,
        revision: flags.rev === undefined
          ? 0
          : parseInteger("--rev", flags.rev, 0, Number.MAX_SAFE_INTEGER),
        serializable: flags.serializable,
        keys_only: flags["keys-only"],
        count_only: flags.count,
      });
      if (flags.count) {
        printRecords(["count", "revision", "endpoint"], [{
          count: response.count.toString(),
          ...headerRecord(response.header, client.endpoint),
        }], json);
        return 0;
      }
      printRecords(
        ["key", "value", "version", "mod_revision", "lease"],
        response.kvs.map(kvRecord),
        json,
      );
      if (!json && response.more) console.log(`(more keys: ${response.count} in range)`);
      return action === "get" && response.kvs.length === 0 ? 1 : 0;
    }
    case "del": {
      const [key] = expectOperands("del", operands, ["KEY"]);
      const response = await client.delete(key, {
        prefix: flags.prefix,
        prev_kv: flags["prev-kv"],
      });
      printRecords(["deleted", "revision", "member", "leader", "endpoint"], [{
        deleted: response.deleted.toString(),
        ...headerRecord(response.header, client.endpoint),
      }], json);
      if (flags["prev-kv"]) printRecords(["key", "value"], response.prev_kvs.map(kvRecord), json);
      return 0;
    }
    case "watch":
      return await watch(client, operands, flags);
    case "txn":
      return await txn(client, operands, flags);
    default:
      throw new UsageError(`unknown action "${action}"; actions: put, get, del, list, watch, txn`);
  }
}

async function watch(client: BlueprintClient, operands: string[], flags: Flags): Promise<number> {
  const [key] = expectOperands("watch", operands, ["KEY"]);
  const max_events = flags["max-events"] === undefined
    ? Infinity
    : parseInteger("--max-events", flags["max-events"], 1, 1_000_000_000);
  const stream = client.watch(key, {
    prefix: flags.prefix,
    start_revision: flags.rev === undefined
      ? 0n
      : BigInt(parseInteger("--rev", flags.rev, 0, Number.MAX_SAFE_INTEGER)),
  });
  const stop = () => stream.close();
  Deno.addSignalListener("SIGINT", stop);
  let seen = 0;
  try {
    for await (const batch of stream) {
      for (const event of batch.events) {
        printRecords(["type", "key", "value", "revision"], [eventRecord(event)], flags.json);
        if (++seen >= max_events) return 0;
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    stream.close();
  }
  return 0;
}

async function txn(client: BlueprintClient, operands: string[], flags: Flags): Promise<number> {
  expectAtMost("txn", operands, 0);
  const conditions = flags.if ?? [];
  const then_ops = flags.then ?? [];
  const else_ops = flags.else ?? [];
  if (then_ops.length + else_ops.length === 0) {
    throw new UsageError("txn needs at least one --then or --else operation");
  }
  const response = await client.txn({
    compare: conditions.map(parseCondition),
    success: then_ops.map(parseOperation),
    failure: else_ops.map(parseOperation),
  });
  printRecords(["succeeded", "revision", "member", "leader", "endpoint"], [{
    succeeded: response.succeeded,
    ...headerRecord(response.header, client.endpoint),
  }], flags.json);
  const reads = response.responses.flatMap((op) => op.response_range?.kvs ?? []);
  if (reads.length > 0) {
    printRecords(
      ["key", "value", "version", "mod_revision", "lease"],
      reads.map(kvRecord),
      flags.json,
    );
  }
  return response.succeeded ? 0 : 1;
}

const COMPARE_OPERATORS: Record<string, number> = {
  "=": CompareResult.EQUAL,
  "!=": CompareResult.NOT_EQUAL,
  "<": CompareResult.LESS,
  ">": CompareResult.GREATER,
};

const CONDITION_HELP =
  'allowed: "KEY = VALUE", "KEY != VALUE", "KEY missing", "KEY exists", "version|create|mod(KEY) =|!=|<|> N"';

/**
 * Parses one `--if` condition into an etcd Compare.
 *
 * @param text the condition
 */
export function parseCondition(text: string) {
  const presence = /^(\S+)\s+(missing|exists)$/.exec(text.trim());
  if (presence) {
    return {
      key: toBytes(presence[1]),
      target: CompareTarget.CREATE,
      result: presence[2] === "missing" ? CompareResult.EQUAL : CompareResult.GREATER,
      create_revision: 0n,
    };
  }
  const numeric = /^(version|create|mod)\((.+)\)\s*(=|!=|<|>)\s*(\d+)$/.exec(text.trim());
  if (numeric) {
    const [, target, key, operator, number] = numeric;
    const value = BigInt(number);
    const base = { key: toBytes(key), result: COMPARE_OPERATORS[operator] };
    if (target === "version") return { ...base, target: CompareTarget.VERSION, version: value };
    if (target === "create") {
      return { ...base, target: CompareTarget.CREATE, create_revision: value };
    }
    return { ...base, target: CompareTarget.MOD, mod_revision: value };
  }
  const value = /^(\S+)\s*(=|!=|<|>)\s*(.*)$/.exec(text.trim());
  if (value) {
    return {
      key: toBytes(value[1]),
      target: CompareTarget.VALUE,
      result: COMPARE_OPERATORS[value[2]],
      value: toBytes(value[3]),
    };
  }
  throw new UsageError(`--if ${JSON.stringify(text)} is not a condition; ${CONDITION_HELP}`);
}

/**
 * Parses one `--then`/`--else` operation into an etcd RequestOp.
 *
 * @param text the operation
 */
export function parseOperation(text: string) {
  const [verb, key, ...rest] = text.trim().split(/\s+/);
  if (verb === "put" && key !== undefined && rest.length > 0) {
    return { request_put: { key: toBytes(key), value: toBytes(rest.join(" ")) } };
  }
  if (verb === "get" && key !== undefined && rest.length === 0) {
    return { request_range: { key: toBytes(key) } };
  }
  if (verb === "del" && key !== undefined && rest.length === 0) {
    return { request_delete_range: { key: toBytes(key) } };
  }
  throw new UsageError(
    `operation ${JSON.stringify(text)}: allowed: "put KEY VALUE", "get KEY", "del KEY"`,
  );
}

function parseLease(text: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) {
    throw new UsageError(
      `--lease ${JSON.stringify(text)}: allowed: a lease ID in hex (as printed)`,
    );
  }
  return BigInt(`0x${text}`);
}

function kvRecord(kv: KeyValue): Record<string, unknown> {
  return {
    key: toText(kv.key),
    value: toText(kv.value),
    version: kv.version.toString(),
    mod_revision: kv.mod_revision.toString(),
    lease: kv.lease === 0n ? "" : hexId(kv.lease),
  };
}

function eventRecord(event: Event): Record<string, unknown> {
  return {
    type: event.type === 1 ? "DELETE" : "PUT",
    key: event.kv ? toText(event.kv.key) : "",
    value: event.kv && event.type !== 1 ? toText(event.kv.value) : "",
    revision: event.kv?.mod_revision.toString() ?? "",
  };
}

function expectOperands(action: string, operands: string[], names: string[]): string[] {
  if (operands.length !== names.length) {
    throw new UsageError(
      `${action} takes ${names.join(" ")} (${names.length} operand${
        names.length > 1 ? "s" : ""
      }); got ${operands.length}`,
    );
  }
  return operands;
}

function expectAtMost(action: string, operands: string[], max: number): string[] {
  if (operands.length > max) {
    throw new UsageError(`${action} takes at most ${max} operand(s); got ${operands.length}`);
  }
  return operands;
}
