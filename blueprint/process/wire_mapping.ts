/**
 * Between the registry's wire messages (enum numbers, label lists, URLs) and the process
 * client's plain shapes (state names, label records, `host:port`). Pure functions.
 *
 * @module
 */
import {
  type ClusterDetails as WireClusterDetails,
  HealthState as WireHealth,
  type Label,
  type ProcessRecord as WireRecord,
  RunningState as WireRunning,
} from "../../shared/proto/draft/mod.ts";
import type { ClusterDetails, HealthState, RunningState } from "./types.ts";

/** A registry record as the process client and the CLI show it. */
export interface ProcessRecord {
  /** The process id. */
  readonly process_id: string;
  /** The process name. */
  readonly name: string;
  /** Its running state ("unspecified" if the server sent none). */
  readonly running_state: RunningState | "unspecified";
  /** Its health; "lost" when Blueprint marked it lost (stopped beating past its TTL). */
  readonly health: HealthState | "lost" | "unspecified";
  /** Where it serves, or "". */
  readonly advertise_address: string;
  /** Its labels. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Its liveness TTL, in ms. */
  readonly ttl_ms: number;
  /** Unix ms of registration. */
  readonly registered_at_ms: number;
  /** Unix ms of the last change. */
  readonly updated_at_ms: number;
  /** Unix ms when it was marked lost; 0 while alive. */
  readonly lost_at_ms: number;
  /** The KV revision of its last change. */
  readonly mod_revision: bigint;
}

const RUNNING_TO_WIRE: Record<RunningState, number> = {
  starting: WireRunning.STARTING,
  running: WireRunning.RUNNING,
  draining: WireRunning.DRAINING,
  stopped: WireRunning.STOPPED,
};

const HEALTH_TO_WIRE: Record<HealthState, number> = {
  healthy: WireHealth.HEALTHY,
  degraded: WireHealth.DEGRADED,
  unhealthy: WireHealth.UNHEALTHY,
};

const RUNNING_FROM_WIRE: Record<number, RunningState> = invert(RUNNING_TO_WIRE);
const HEALTH_FROM_WIRE: Record<number, HealthState | "lost"> = {
  ...invert(HEALTH_TO_WIRE),
  [WireHealth.UNKNOWN]: "lost",
};

/**
 * The wire number of a running state.
 *
 * @param state the state name
 */
export function runningStateToWire(state: RunningState): number {
  return RUNNING_TO_WIRE[state];
}

/**
 * The wire number of a health state.
 *
 * @param health the health name
 */
export function healthToWire(health: HealthState): number {
  return HEALTH_TO_WIRE[health];
}

/**
 * The health name of a wire number; "lost" for UNKNOWN, "unspecified" for 0 or a number
 * this build does not know.
 *
 * @param value the wire number
 */
export function healthFromWire(value: number | undefined): HealthState | "lost" | "unspecified" {
  return HEALTH_FROM_WIRE[value ?? 0] ?? "unspecified";
}

/**
 * The running state name of a wire number; "unspecified" for 0 or an unknown number.
 *
 * @param value the wire number
 */
export function runningStateFromWire(value: number | undefined): RunningState | "unspecified" {
  return RUNNING_FROM_WIRE[value ?? 0] ?? "unspecified";
}

/**
 * Labels as a record.
 *
 * @param labels the wire labels
 */
export function labelsFromWire(labels: readonly Label[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const label of labels ?? []) record[label.key ?? ""] = label.value ?? "";
  return record;
}

/**
 * A label record as wire labels, sorted by key.
 *
 * @param record the labels
 */
export function labelsToWire(record: Readonly<Record<string, string>>): Label[] {
  return Object.keys(record).sort().map((key) => ({ key, value: record[key] }));
}

/**
 * A client URL as `host:port`: `http://127.0.0.1:2221/` becomes `127.0.0.1:2221`.
 *
 * @param url the URL as a member advertises it
 */
export function addressOfUrl(url: string): string {
  return url.trim().replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
}

/**
 * Cluster details from the wire.
 *
 * @param wire the wire message (may be absent)
 */
export function clusterFromWire(wire: WireClusterDetails | undefined): ClusterDetails {
  return {
    cluster_id: wire?.cluster_id ?? "",
    members: (wire?.members ?? []).map((member) => ({
      id: member.id ?? "",
      name: member.name ?? "",
      client_addresses: (member.client_urls ?? []).map(addressOfUrl).filter((a) => a !== ""),
      is_leader: member.is_leader ?? false,
      is_learner: member.is_learner ?? false,
    })),
    leader_id: wire?.leader_id ?? "",
    leader_address: addressOfUrl(wire?.leader_address ?? ""),
    core_services: (wire?.core_services ?? []).map((service) => ({
      kind: service.kind ?? "",
      process_id: service.process_id ?? "",
      address: service.address ?? "",
    })),
    revision: wire?.revision ?? 0n,
  };
}

/**
 * A registry record from the wire.
 *
 * @param wire the wire record
 */
export function recordFromWire(wire: WireRecord): ProcessRecord {
  return {
    process_id: wire.process_id ?? "",
    name: wire.name ?? "",
    running_state: runningStateFromWire(wire.running_state),
    health: healthFromWire(wire.health_state),
    advertise_address: wire.advertise_address ?? "",
    metadata: labelsFromWire(wire.metadata),
    ttl_ms: wire.ttl_ms ?? 0,
    registered_at_ms: Number(wire.registered_at_ms ?? 0n),
    updated_at_ms: Number(wire.updated_at_ms ?? 0n),
    lost_at_ms: Number(wire.lost_at_ms ?? 0n),
    mod_revision: wire.mod_revision ?? 0n,
  };
}

function invert<K extends string>(map: Record<K, number>): Record<number, K> {
  const inverted: Record<number, K> = {};
  for (const [key, value] of Object.entries(map) as [K, number][]) inverted[value] = key;
  return inverted;
}
