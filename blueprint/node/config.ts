/**
 * The configuration of a Blueprint node, resolved from four sources in order of precedence:
 * command-line flags, `DRAFT_*` environment variables, a JSON config file, then defaults.
 * Resolution is pure (no file or environment access): the CLI reads those and hands them in.
 *
 * @module
 */

/** A `host:port` pair. */
export interface HostPort {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port, 0 to 65535 (0: pick a free one). */
  port: number;
}

/** Everything a Blueprint node needs, every default filled in. */
export interface NodeConfig {
  /** This member's name (its Raft id), e.g. `n1`. */
  id: string;
  /** Data directory (created if missing); holds `kv/` and `raft/`. */
  data_dir: string;
  /** Where the gRPC client API listens, `host:port`. */
  client_address: string;
  /** Where Raft peer traffic listens, `host:port`. */
  raft_address: string;
  /** The members of a new cluster: name to Raft address. Ignored on restart and with join. */
  initial_cluster: Record<string, string>;
  /** Client address of any member of a running cluster to join (empty: no join). */
  join: string;
  /** Cluster name; peers and clients of another cluster are refused. */
  cluster_name: string;
  /** Milliseconds per Raft tick. */
  tick_ms: number;
  /** Ticks without a leader before an election. */
  election_tick: number;
  /** How long a write or linearizable read may wait for the cluster, in ms. */
  request_timeout_ms: number;
  /** Applied entries between state-machine snapshots (bounds the Raft log). */
  snapshot_every_entries: number;
  /** Largest gRPC request, in bytes. */
  max_request_bytes: number;
  /** Largest key, in bytes. */
  max_key_bytes: number;
  /** Largest value, in bytes. */
  max_value_bytes: number;
  /** Most compares plus operations in one Txn. */
  max_txn_ops: number;
  /** The registry's join secret (processes' nonce); empty: the first leader generates one. */
  join_token: string;
  /** How long a lost process stays in the registry before it is removed, in ms. */
  registry_lost_grace_ms: number;
}

/** Defaults of every setting that has one. */
export const DEFAULT_NODE_CONFIG: Readonly<Omit<NodeConfig, "id" | "data_dir">> = Object.freeze({
  client_address: "127.0.0.1:2379",
  raft_address: "127.0.0.1:2380",
  initial_cluster: {},
  join: "",
  cluster_name: "blueprint",
  tick_ms: 100,
  election_tick: 10,
  request_timeout_ms: 5000,
  snapshot_every_entries: 10_000,
  max_request_bytes: 1536 * 1024,
  max_key_bytes: 4096,
  max_value_bytes: 1024 * 1024,
  max_txn_ops: 128,
  join_token: "",
  registry_lost_grace_ms: 30_000,
});

/** A setting: its config-file key, flag name and environment variable. */
export interface NodeSetting {
  /** The key in {@link NodeConfig} and in the config file. */
  key: keyof NodeConfig;
  /** The flag, without `--`. */
  flag: string;
  /** The environment variable. */
  env: string;
  /** How its text is parsed. */
  kind: "string" | "integer" | "cluster";
  /** Smallest integer allowed. */
  min?: number;
  /** Largest integer allowed. */
  max?: number;
}

type Setting = NodeSetting;

/** Every setting, as the flag, the environment and the file name it. */
export const NODE_SETTINGS: readonly NodeSetting[] = [
  { key: "id", flag: "id", env: "DRAFT_ID", kind: "string" },
  { key: "data_dir", flag: "data", env: "DRAFT_DATA", kind: "string" },
  { key: "client_address", flag: "client-addr", env: "DRAFT_CLIENT_ADDR", kind: "string" },
  { key: "raft_address", flag: "raft-addr", env: "DRAFT_RAFT_ADDR", kind: "string" },
  {
    key: "initial_cluster",
    flag: "initial-cluster",
    env: "DRAFT_INITIAL_CLUSTER",
    kind: "cluster",
  },
  { key: "join", flag: "join", env: "DRAFT_JOIN", kind: "string" },
  { key: "cluster_name", flag: "cluster-name", env: "DRAFT_CLUSTER_NAME", kind: "string" },
  { key: "join_token", flag: "join-token", env: "DRAFT_JOIN_TOKEN", kind: "string" },
  {
    key: "registry_lost_grace_ms",
    flag: "registry-lost-grace-ms",
    env: "DRAFT_REGISTRY_LOST_GRACE_MS",
    kind: "integer",
    min: 100,
    max: 86_400_000,
  },
  { key: "tick_ms", flag: "tick-ms", env: "DRAFT_TICK_MS", kind: "integer", min: 1, max: 10_000 },
  {
    key: "election_tick",
    flag: "election-tick",
    env: "DRAFT_ELECTION_TICK",
    kind: "integer",
    min: 2,
    max: 1000,
  },
  {
    key: "request_timeout_ms",
    flag: "request-timeout-ms",
    env: "DRAFT_REQUEST_TIMEOUT_MS",
    kind: "integer",
    min: 10,
    max: 600_000,
  },
  {
    key: "snapshot_every_entries",
    flag: "snapshot-every",
    env: "DRAFT_SNAPSHOT_EVERY",
    kind: "integer",
    min: 10,
    max: 100_000_000,
  },
  {
    key: "max_request_bytes",
    flag: "max-request-bytes",
    env: "DRAFT_MAX_REQUEST_BYTES",
    kind: "integer",
    min: 1024,
    max: 64 * 1024 * 1024,
  },
  {
    key: "max_key_bytes",
    flag: "max-key-bytes",
    env: "DRAFT_MAX_KEY_BYTES",
    kind: "integer",
    min: 1,
    max: 64 * 1024,
  },
  {
    key: "max_value_bytes",
    flag: "max-value-bytes",
    env: "DRAFT_MAX_VALUE_BYTES",
    kind: "integer",
    min: 0,
    max: 8 * 1024 * 1024,
  },
  {
    key: "max_txn_ops",
    flag: "max-txn-ops",
    env: "DRAFT_MAX_TXN_OPS",
    kind: "integer",
    min: 1,
    max: 10_000,
  },
];

/** A configuration that cannot be used; the message names the setting and what is allowed. */
export class ConfigError extends Error {
  /**
   * Makes the error.
   *
   * @param message what was wrong and what is allowed
   */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The raw sources of a configuration. */
export interface ConfigSources {
  /** Flags by flag name (`client-addr`), as parsed from the command line. */
  flags?: Readonly<Record<string, string | undefined>>;
  /** Environment variables (only `DRAFT_*` ones are read). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON config file (keys as in {@link NodeConfig}), and its path for errors. */
  file?: { path: string; value: unknown };
}

/**
 * Resolves a node configuration: flags over environment over file over defaults, each value
 * validated.
 *
 * @throws ConfigError naming the bad setting, its source and what is allowed.
 * @example
 * ```ts
 * const config = resolveNodeConfig({
 *   flags: { id: "n1", data: "/tmp/n1", "initial-cluster": "n1=127.0.0.1:1111" },
 *   env: Deno.env.toObject(),
 * });
 * ```
 */
export function resolveNodeConfig(sources: ConfigSources): NodeConfig {
  const file = fileValues(sources.file);
  const known_flags = new Set(NODE_SETTINGS.map((s) => s.flag));
  for (const [flag, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined && !known_flags.has(flag)) {
      throw new ConfigError(`unknown flag --${flag}; known: ${[...known_flags].join(", ")}`);
    }
  }
  const resolved: Record<string, unknown> = { ...DEFAULT_NODE_CONFIG };
  for (const setting of NODE_SETTINGS) {
    const flag = sources.flags?.[setting.flag];
    const env = sources.env?.[setting.env];
    if (flag !== undefined) resolved[setting.key] = parseText(setting, flag, `--${setting.flag}`);
    else if (env !== undefined && env !== "") {
      resolved[setting.key] = parseText(setting, env, setting.env);
    } else if (setting.key in file) {
      resolved[setting.key] = parseFileValue(
        setting,
        file[setting.key],
        `${sources.file!.path}: "${setting.key}"`,
      );
    }
  }
  return validate(resolved as unknown as NodeConfig);
}

function fileValues(file: ConfigSources["file"]): Record<string, unknown> {
  if (file === undefined) return {};
  const value = file.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${file.path}: the config file must hold a JSON object`);
  }
  const keys = new Set<string>(NODE_SETTINGS.map((s) => s.key));
  for (const key of Object.keys(value)) {
    if (!keys.has(key)) {
      throw new ConfigError(`${file.path}: unknown key "${key}"; known: ${[...keys].join(", ")}`);
    }
  }
  return value as Record<string, unknown>;
}

function parseText(setting: Setting, text: string, source: string): unknown {
  if (setting.kind === "string") return text;
  if (setting.kind === "cluster") return parseInitialCluster(text, source);
  if (!/^\d+$/.test(text.trim())) {
    throw new ConfigError(`${source} is "${text}"; allowed: an integer ${range(setting)}`);
  }
  return checkInteger(setting, Number(text.trim()), source);
}

function parseFileValue(setting: Setting, value: unknown, source: string): unknown {
  if (setting.kind === "string") {
    if (typeof value !== "string") throw new ConfigError(`${source} must be a string`);
    return value;
  }
  if (setting.kind === "cluster") {
    if (typeof value === "string") return parseInitialCluster(value, source);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ConfigError(`${source} must be "name=host:port,..." or an object of addresses`);
    }
    const cluster: Record<string, string> = {};
    for (const [name, address] of Object.entries(value)) {
      if (typeof address !== "string") {
        throw new ConfigError(`${source}.${name} must be a "host:port" string`);
      }
      cluster[name] = address;
    }
    return cluster;
  }
  if (typeof value !== "number") {
    throw new ConfigError(`${source} must be an integer ${range(setting)}`);
  }
  return checkInteger(setting, value, source);
}

function checkInteger(setting: Setting, value: number, source: string): number {
  if (!Number.isSafeInteger(value) || value < setting.min! || value > setting.max!) {
    throw new ConfigError(`${source} is ${value}; allowed: an integer ${range(setting)}`);
  }
  return value;
}

function range(setting: Setting): string {
  return `from ${setting.min} to ${setting.max}`;
}

/**
 * Parses `n1=127.0.0.1:1111,n2=127.0.0.1:1112` into a name-to-address map.
 *
 * @throws ConfigError for an empty list, a bad entry or a repeated name.
 * @example
 * ```ts
 * parseInitialCluster("n1=127.0.0.1:1111", "--initial-cluster"); // { n1: "127.0.0.1:1111" }
 * ```
 */
export function parseInitialCluster(text: string, source: string): Record<string, string> {
  const cluster: Record<string, string> = {};
  const entries = text.split(",").map((e) => e.trim()).filter((e) => e.length > 0);
  if (entries.length > 1000) throw new ConfigError(`${source}: more than 1000 members`);
  for (const entry of entries) {
    const equals = entry.indexOf("=");
    if (equals <= 0) {
      throw new ConfigError(`${source}: "${entry}" is not name=host:port`);
    }
    const name = entry.slice(0, equals);
    if (name in cluster) throw new ConfigError(`${source}: member "${name}" is listed twice`);
    cluster[name] = stripScheme(entry.slice(equals + 1));
  }
  return cluster;
}

/** `http://host:port` or `host:port` to `host:port` (etcd tools write URLs). */
function stripScheme(address: string): string {
  return address.replace(/^[a-z]+:\/\//, "").replace(/\/$/, "");
}

/**
 * Splits `host:port`, checking both parts.
 *
 * @throws ConfigError naming `what`.
 * @example
 * ```ts
 * parseHostPort("127.0.0.1:2379", "client address"); // { hostname: "127.0.0.1", port: 2379 }
 * ```
 */
export function parseHostPort(address: string, what: string): HostPort {
  const match = /^(.+):(\d{1,5})$/.exec(stripScheme(address));
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`${what} is "${address}"; allowed: host:port with a port 0 to 65535`);
  }
  return { hostname: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function validate(config: NodeConfig): NodeConfig {
  if (!config.id) throw new ConfigError("the member name is missing: give --id (or DRAFT_ID)");
  if (!NAME_PATTERN.test(config.id)) {
    throw new ConfigError(
      `--id is "${config.id}"; allowed: 1 to 63 of A-Z a-z 0-9 _ . -, starting with a letter or digit`,
    );
  }
  if (!config.data_dir) {
    throw new ConfigError("the data directory is missing: give --data (or DRAFT_DATA)");
  }
  if (!NAME_PATTERN.test(config.cluster_name)) {
    throw new ConfigError(
      `cluster name is "${config.cluster_name}"; allowed: 1 to 63 of A-Z a-z 0-9 _ . -`,
    );
  }
  parseHostPort(config.client_address, "client address (--client-addr)");
  parseHostPort(config.raft_address, "raft address (--raft-addr)");
  if (config.join) parseHostPort(config.join, "join address (--join)");
  const cluster = { ...config.initial_cluster };
  for (const [name, address] of Object.entries(cluster)) {
    if (!NAME_PATTERN.test(name)) {
      throw new ConfigError(`initial cluster member name "${name}" is not a valid name`);
    }
    parseHostPort(address, `initial cluster address of ${name}`);
  }
  if (Object.keys(cluster).length === 0) cluster[config.id] = config.raft_address;
  if (!config.join && !(config.id in cluster)) {
    throw new ConfigError(
      `--initial-cluster does not list this member "${config.id}" (it lists ${
        Object.keys(cluster).join(", ")
      }); list it, or give --join to join a running cluster`,
    );
  }
  if (config.max_request_bytes < config.max_key_bytes + config.max_value_bytes) {
    throw new ConfigError(
      `max_request_bytes (${config.max_request_bytes}) must hold a key and a value: at least ` +
        `max_key_bytes + max_value_bytes (${config.max_key_bytes + config.max_value_bytes})`,
    );
  }
  return { ...config, initial_cluster: cluster };
}
