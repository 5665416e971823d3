/**
 * `draft storage`: reads and edits one node's storage directory directly, like LevelDB's
 * `ldb`. For inspection and repair of a stopped node; a running node holds the directory's
 * lock and the command says so.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Storage } from "../blueprint/storage/mod.ts";
import { printRecords, UsageError } from "./output.ts";

const USAGE = `usage: deno run -A mod.ts storage ACTION --data DIR [options]

actions:
  get KEY                 print the value of KEY
  put KEY VALUE           store VALUE under KEY (synced)
  del KEY                 delete KEY (synced)
  scan [--prefix P] [--start K] [--end K] [--reverse] [--limit N]
                          list keys and values in key order
  stats                   levels, files, bytes, stalls, cache figures
  compact                 compact everything into the last level

options:
  --data DIR              the storage directory (required)
  --hex                   keys and values are given and shown as hex instead of UTF-8
  --json                  one JSON object per line`;

const SCAN_LIMIT_MAX = 1_000_000;

/** Runs `draft storage ...`; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      data: { type: "string" },
      prefix: { type: "string" },
      start: { type: "string" },
      end: { type: "string" },
      reverse: { type: "boolean", default: false },
      limit: { type: "string" },
      hex: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [action, ...operands] = positionals;
  if (values.help || action === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (values.data === undefined) throw new UsageError("--data DIR is required");
  const codec = values.hex ? HEX : UTF8;
  const db = await Storage.open(values.data);
  try {
    return await perform(db, action, operands, { ...values, codec });
  } finally {
    await db.close();
  }
}

interface ActionOptions {
  prefix?: string;
  start?: string;
  end?: string;
  reverse: boolean;
  limit?: string;
  json: boolean;
  codec: BytesCodec;
}

async function perform(
  db: Storage,
  action: string,
  operands: string[],
  options: ActionOptions,
): Promise<number> {
  const { codec, json } = options;
  switch (action) {
    case "get": {
      const [key] = expectOperands(action, operands, ["KEY"]);
      const value = db.get(codec.encode(key));
      if (value === undefined) {
        console.error(`key ${JSON.stringify(key)} not found`);
        return 1;
      }
      if (json) console.log(JSON.stringify({ key, value: codec.decode(value) }));
      else console.log(codec.decode(value));
      return 0;
    }
    case "put": {
      const [key, value] = expectOperands(action, operands, ["KEY", "VALUE"]);
      await db.put(codec.encode(key), codec.encode(value), { sync: true });
      return 0;
    }
    case "del": {
      const [key] = expectOperands(action, operands, ["KEY"]);
      await db.delete(codec.encode(key), { sync: true });
      return 0;
    }
    case "scan":
      expectOperands(action, operands, []);
      printRecords(["key", "value"], scanRecords(db, options), json);
      return 0;
    case "stats":
      expectOperands(action, operands, []);
      printStats(db, json);
      return 0;
    case "compact":
      expectOperands(action, operands, []);
      await db.compactRange();
      printStats(db, json);
      return 0;
    default:
      throw new UsageError(
        `unknown action "${action}"; actions: get, put, del, scan, stats, compact`,
      );
  }
}

function scanRecords(db: Storage, options: ActionOptions): Record<string, unknown>[] {
  const { codec } = options;
  const limit = options.limit === undefined ? SCAN_LIMIT_MAX : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) {
    throw new UsageError(`--limit must be a whole number from 1 to ${SCAN_LIMIT_MAX}`);
  }
  const records: Record<string, unknown>[] = [];
  for (
    const { key, value } of db.scan({
      prefix: options.prefix === undefined ? undefined : codec.encode(options.prefix),
      start: options.start === undefined ? undefined : codec.encode(options.start),
      end: options.end === undefined ? undefined : codec.encode(options.end),
      reverse: options.reverse,
      limit,
    })
  ) {
    records.push({ key: codec.decode(key), value: codec.decode(value) });
  }
  return records;
}

function printStats(db: Storage, json: boolean): void {
  const stats = db.stats();
  if (json) {
    console.log(JSON.stringify(stats));
    return;
  }
  printRecords(["level", "files", "bytes"], stats.levels.map((l) => ({ ...l })), false);
  const { levels: _levels, ...totals } = stats;
  console.log();
  printRecords(
    ["figure", "value"],
    Object.entries(totals).map(([figure, value]) => ({ figure, value })),
    false,
  );
}

function expectOperands(action: string, operands: string[], names: string[]): string[] {
  if (operands.length !== names.length) {
    const wanted = names.length === 0 ? "no operands" : names.join(" ");
    throw new UsageError(`${action} takes ${wanted}, got ${operands.length} operand(s)`);
  }
  return operands;
}

interface BytesCodec {
  encode(text: string): Uint8Array;
  decode(bytes: Uint8Array): string;
}

const UTF8: BytesCodec = {
  encode: (text) => new TextEncoder().encode(text),
  decode: (bytes) => new TextDecoder().decode(bytes),
};

const HEX: BytesCodec = {
  encode(text) {
    if (!/^([0-9a-fA-F]{2})*$/.test(text)) {
      throw new UsageError(`"${text}" is not hex: give an even number of digits 0-9, a-f`);
    }
    return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
  },
  decode: (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
};
