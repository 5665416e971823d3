/**
 * The serving status of each service, as the standard gRPC health service reports it.
 *
 * A pure table with bounded change listeners; the gRPC handlers that serve it over the wire
 * live in the server. The empty name `""` is the server as a whole.
 *
 * @module
 */

/** A service's serving status, as named by grpc.health.v1. */
export type HealthState = "SERVING" | "NOT_SERVING";

/** The wire numbers of `HealthCheckResponse.ServingStatus`. */
export const HEALTH_STATUS_NUMBER = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;

/** The most concurrent Watch listeners; one more is refused rather than growing without end. */
export const MAX_HEALTH_WATCHERS = 1024;

/** The most distinct service names the table holds. */
export const MAX_HEALTH_SERVICES = 256;

/** Called with the new state of a watched service (`undefined`: the service is not known). */
export type HealthListener = (state: HealthState | undefined) => void;

/**
 * The health table.
 *
 * @example
 * ```ts
 * const health = new HealthStatusTable();
 * health.set("etcdserverpb.KV", "SERVING");
 * health.get("etcdserverpb.KV"); // "SERVING"
 * ```
 */
export class HealthStatusTable {
  readonly #states = new Map<string, HealthState>();
  readonly #listeners = new Map<string, Set<HealthListener>>();
  #listener_count = 0;

  /**
   * Sets a service's state and tells its watchers when it changed.
   *
   * @param service the fully qualified service name, or `""` for the whole server
   * @param state the new state
   */
  set(service: string, state: HealthState): void {
    if (state !== "SERVING" && state !== "NOT_SERVING") {
      throw new RangeError(`health state ${state}: allowed are SERVING and NOT_SERVING`);
    }
    if (!this.#states.has(service) && this.#states.size >= MAX_HEALTH_SERVICES) {
      throw new RangeError(`health table is full (${MAX_HEALTH_SERVICES} services)`);
    }
    const before = this.#states.get(service);
    this.#states.set(service, state);
    if (before !== state) this.#notify(service, state);
  }

  /**
   * Sets every known service, and the server as a whole, to `state` (e.g. at shutdown).
   *
   * @param state the new state of all of them
   */
  setAll(state: HealthState): void {
    for (const service of [...this.#states.keys()]) this.set(service, state);
  }

  /**
   * The state of a service, or `undefined` when it was never set.
   *
   * @param service the fully qualified service name, or `""`
   */
  get(service: string): HealthState | undefined {
    return this.#states.get(service);
  }

  /** The names of all services in the table, sorted. */
  services(): string[] {
    return [...this.#states.keys()].sort();
  }

  /**
   * Calls `listener` on every change of `service` until the returned function is called.
   * Throws RangeError when {@link MAX_HEALTH_WATCHERS} listeners are already registered.
   *
   * @param service the service to watch
   * @param listener called with each new state
   */
  watch(service: string, listener: HealthListener): () => void {
    if (this.#listener_count >= MAX_HEALTH_WATCHERS) {
      throw new RangeError(`too many health watchers (limit ${MAX_HEALTH_WATCHERS})`);
    }
    let set = this.#listeners.get(service);
    if (!set) this.#listeners.set(service, set = new Set());
    set.add(listener);
    this.#listener_count++;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      set.delete(listener);
      this.#listener_count--;
      if (set.size === 0) this.#listeners.delete(service);
    };
  }

  /** How many watch listeners are registered. */
  get watcherCount(): number {
    return this.#listener_count;
  }

  #notify(service: string, state: HealthState): void {
    for (const listener of [...(this.#listeners.get(service) ?? [])]) listener(state);
  }
}
