/**
 * The stored form of a registry record, its keys, and the pure checks and decisions the
 * service makes about messages (no I/O): validation, "does this beat change anything", filters.
 *
 * @module
 */
import {
  HealthState,
  type Label,
  type ProcessRecord,
  type QueryRequest,
  RunningState,
} from "../../shared/proto/draft/mod.ts";
import { invalidArgument } from "../../shared/rpc/mod.ts";

/** Prefix of every process record key. */
export const PROCESS_PREFIX = "/draft/registry/processes/";
/** Key of the cluster secret that signs tokens (32 bytes, hex). */
export const SECRET_KEY = "/draft/registry/config/secret";
/** Key of the join token (the nonce processes present). */
export const JOIN_TOKEN_KEY = "/draft/registry/config/join_token";
/** Most metadata labels per process. */
export const MAX_LABELS = 64;
/** Longest label key, in characters. */
export const MAX_LABEL_KEY_LENGTH = 128;
/** Longest label value, in characters. */
export const MAX_LABEL_VALUE_LENGTH = 1024;
/** Longest advertise address, in characters. */
export const MAX_ADDRESS_LENGTH = 256;
/** Liveness TTL bounds and default, in ms. */
export const MIN_TTL_MS = 1000;
/** Longest liveness TTL, in ms. */
export const MAX_TTL_MS = 300_000;
/** TTL when Initialize asks for 0, in ms. */
export const DEFAULT_TTL_MS = 10_000;

/** A record as stored (JSON) in the replicated keyspace. */
export interface StoredProcess {
  /** Process id. */
  process_id: string;
  /** Process name. */
  name: string;
  /** RunningState number. */
  running_state: number;
  /** HealthState number (UNKNOWN = lost). */
  health_state: number;
  /** Advertised address. */
  advertise_address: string;
  /** Labels sorted by key. */
  metadata: Label[];
  /** Liveness TTL. */
  ttl_ms: number;
  /** The KV lease that carries liveness (not attached to the key: expiry marks lost). */
  lease_id: number;
  /** Unix ms. */
  registered_at_ms: number;
  /** Unix ms of the last change. */
  updated_at_ms: number;
  /** Unix ms when marked lost, 0 while alive. */
  lost_at_ms: number;
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The key of process `process_id`. */
export function processKey(process_id: string): string {
  return PROCESS_PREFIX + process_id;
}

/** A fresh process id: 16 random bytes, hex. */
export function newProcessId(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Checks a process name; throws INVALID_ARGUMENT naming what is allowed. */
export function checkName(name: unknown): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    throw invalidArgument(
      `name is ${JSON.stringify(name)}; allowed: 1 to 128 characters of A-Z a-z 0-9 . _ -`,
    );
  }
  return name;
}

/** Checks an advertise address (empty or host:port). */
export function checkAddress(address: unknown): string {
  const text = address ?? "";
  if (typeof text !== "string" || text.length > MAX_ADDRESS_LENGTH) {
    throw invalidArgument(`advertise_address must be a string of at most ${MAX_ADDRESS_LENGTH}`);
  }
  if (text !== "" && !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(text)) {
    throw invalidArgument(`advertise_address is ${JSON.stringify(text)}; allowed: "" or host:port`);
  }
  return text;
}

/** Checks labels: count, key and value sizes, unique keys; answers them sorted by key. */
export function checkLabels(labels: readonly Label[] | undefined, what = "metadata"): Label[] {
  const list = labels ?? [];
  if (list.length > MAX_LABELS) {
    throw invalidArgument(`${what} has ${list.length} labels; at most ${MAX_LABELS}`);
  }
  const seen = new Set<string>();
  const out: { key: string; value: string }[] = [];
  for (const { key = "", value = "" } of list) {
    if (key.length === 0 || key.length > MAX_LABEL_KEY_LENGTH) {
      throw invalidArgument(`${what} key ${JSON.stringify(key)}: 1 to 128 characters allowed`);
    }
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      throw invalidArgument(`${what} value of ${key} is ${value.length} chars; at most 1024`);
    }
    if (seen.has(key)) throw invalidArgument(`${what} key ${JSON.stringify(key)} appears twice`);
    seen.add(key);
    out.push({ key, value });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Checks a requested TTL; 0 or absent = {@link DEFAULT_TTL_MS}. */
export function checkTtl(ttl_ms: number | undefined): number {
  const ttl = ttl_ms ?? 0;
  if (ttl === 0) return DEFAULT_TTL_MS;
  if (!Number.isInteger(ttl) || ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) {
    throw invalidArgument(`ttl_ms is ${ttl}; allowed: 0 (default) or ${MIN_TTL_MS}..${MAX_TTL_MS}`);
  }
  return ttl;
}

/** Checks the states a process may report (not UNSPECIFIED, not UNKNOWN). */
export function checkStates(running_state: unknown, health_state: unknown): void {
  if (
    typeof running_state !== "number" || running_state < RunningState.STARTING ||
    running_state > RunningState.STOPPED
  ) {
    throw invalidArgument(
      `running_state is ${running_state}; allowed: STARTING(1), RUNNING(2), DRAINING(3), STOPPED(4)`,
    );
  }
  if (
    typeof health_state !== "number" || health_state < HealthState.HEALTHY ||
    health_state > HealthState.UNHEALTHY
  ) {
    throw invalidArgument(
      `health_state is ${health_state}; allowed: HEALTHY(1), DEGRADED(2), UNHEALTHY(3)`,
    );
  }
}

/** What a beat wants the record to be. */
export interface BeatUpdate {
  /** RunningState. */
  running_state: number;
  /** HealthState. */
  health_state: number;
  /** Address. */
  advertise_address: string;
  /** New labels, or undefined to keep the stored ones. */
  metadata?: Label[];
}

/** The record after `beat`, or null when the beat changes nothing (no Raft write needed). */
export function applyBeat(
  stored: StoredProcess,
  beat: BeatUpdate,
  now_ms: number,
): StoredProcess | null {
  const metadata = beat.metadata ?? stored.metadata;
  const same = stored.running_state === beat.running_state &&
    stored.health_state === beat.health_state &&
    stored.advertise_address === beat.advertise_address &&
    sameLabels(stored.metadata, metadata) && stored.lost_at_ms === 0;
  if (same) return null;
  return {
    ...stored,
    running_state: beat.running_state,
    health_state: beat.health_state,
    advertise_address: beat.advertise_address,
    metadata,
    updated_at_ms: now_ms,
    lost_at_ms: 0,
  };
}

function sameLabels(a: readonly Label[], b: readonly Label[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((label, i) => label.key === b[i].key && label.value === b[i].value);
}

/** Whether `record` passes every filter of `query`. */
export function matchesQuery(record: StoredProcess, query: QueryRequest): boolean {
  if (query.name && record.name !== query.name) return false;
  const running = query.running_states ?? [];
  if (running.length > 0 && !running.includes(record.running_state)) return false;
  const health = query.health_states ?? [];
  if (health.length > 0 && !health.includes(record.health_state)) return false;
  for (const { key, value } of query.labels ?? []) {
    if (!record.metadata.some((label) => label.key === key && label.value === (value ?? ""))) {
      return false;
    }
  }
  return true;
}

/** The wire form of a stored record with its KV revisions. */
export function toWire(
  record: StoredProcess,
  create_revision: number,
  mod_revision: number,
): ProcessRecord {
  return {
    process_id: record.process_id,
    name: record.name,
    running_state: record.running_state,
    health_state: record.health_state,
    advertise_address: record.advertise_address,
    metadata: record.metadata,
    ttl_ms: record.ttl_ms,
    registered_at_ms: BigInt(record.registered_at_ms),
    updated_at_ms: BigInt(record.updated_at_ms),
    lost_at_ms: BigInt(record.lost_at_ms),
    create_revision: BigInt(create_revision),
    mod_revision: BigInt(mod_revision),
  };
}

/** Encodes a stored record. */
export function encodeStored(record: StoredProcess): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/** Decodes a stored record (written by this module; a bad one is a bug, so it throws). */
export function decodeStored(value: Uint8Array): StoredProcess {
  const record = JSON.parse(new TextDecoder().decode(value)) as StoredProcess;
  if (typeof record.process_id !== "string" || typeof record.lease_id !== "number") {
    throw new Error("registry record is not a StoredProcess (corrupt keyspace?)");
  }
  return record;
}
