/**
 * A member's in-memory index of the registry records, kept in step with the applied keyspace:
 * loaded once by a scan, then updated from every applied event under the process prefix. A
 * beat then costs a map lookup instead of a storage read and a JSON decode, and the core
 * services (Fuse, Catalyst) are known without scanning every record.
 *
 * @module
 */
import type { CoreService } from "../../shared/proto/draft/mod.ts";
import type { KeyValue } from "../kv/mod.ts";
import { decodeStored, PROCESS_PREFIX, type StoredProcess } from "./process_record.ts";

/** Most records a view holds; Initialize refuses new processes beyond it. */
export const MAX_VIEW_RECORDS = 100_000;

/** The label whose value names a core service kind (`fuse`, `catalyst`). */
export const CORE_LABEL = "draft.core";

/** One record of the view with its KV revisions. */
export interface ViewEntry {
  /** The decoded record. */
  readonly record: StoredProcess;
  /** Revision of the key's creation. */
  readonly create_revision: number;
  /** Revision of the key's last change. */
  readonly mod_revision: number;
}

/** A KV change as the state machine reports it. */
export interface ViewEvent {
  /** `put` or `delete`. */
  readonly type: string;
  /** The key after the change (for a delete: the key, at the delete's revision). */
  readonly kv: KeyValue;
}

const decoder = new TextDecoder();

/**
 * The records by process id, plus the core services and a version that changes with them.
 *
 * @example
 * ```ts
 * const view = new RegistryView();
 * view.load(machine.range(prefix, prefixEnd).kvs);
 * machine.addListener({ applied: (rev, events) => view.apply(rev, events), restored: reload });
 * view.get(process_id)?.record.running_state;
 * ```
 */
export class RegistryView {
  readonly #entries = new Map<string, ViewEntry>();
  #core: CoreService[] = [];
  #core_version = 0;
  #loaded = false;

  /** Whether {@link RegistryView.load} ran (before it, the view knows nothing). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** How many records the view holds. */
  get size(): number {
    return this.#entries.size;
  }

  /** Changes each time the core services change (for caches of the cluster details). */
  get core_version(): number {
    return this.#core_version;
  }

  /** The registered core services, ordered by process id. */
  get core_services(): readonly CoreService[] {
    return this.#core;
  }

  /** Replaces the whole view with `kvs` (a scan of the process prefix). */
  load(kvs: readonly KeyValue[]): void {
    if (kvs.length > MAX_VIEW_RECORDS) {
      throw new RangeError(`${kvs.length} registry records; a view holds ${MAX_VIEW_RECORDS}`);
    }
    this.#entries.clear();
    for (const kv of kvs) this.#put(kv);
    this.#loaded = true;
    this.#refreshCore();
  }

  /** Applies the events of one revision; keys outside the process prefix are ignored. */
  apply(events: readonly ViewEvent[]): void {
    if (!this.#loaded) return;
    let core_touched = false;
    for (const event of events) {
      const key = decoder.decode(event.kv.key);
      if (!key.startsWith(PROCESS_PREFIX)) continue;
      const process_id = key.slice(PROCESS_PREFIX.length);
      const before = this.#entries.get(process_id);
      if (event.type === "delete") {
        this.#entries.delete(process_id);
      } else {
        // A view can only fill up by Initialize, which checks the size first: a put past the
        // bound is kept anyway rather than leaving the view wrong.
        this.#put(event.kv);
      }
      const after = this.#entries.get(process_id);
      if (isCore(before?.record) || isCore(after?.record)) core_touched = true;
    }
    if (core_touched) this.#refreshCore();
  }

  /** The record of `process_id`, if any. */
  get(process_id: string): ViewEntry | undefined {
    return this.#entries.get(process_id);
  }

  /** Every record, in no particular order. */
  entries(): IterableIterator<ViewEntry> {
    return this.#entries.values();
  }

  /** Every process id, sorted (Query answers in this order). */
  sortedIds(): string[] {
    return [...this.#entries.keys()].sort();
  }

  #put(kv: KeyValue): void {
    const record = decodeStored(kv.value);
    this.#entries.set(record.process_id, {
      record,
      create_revision: kv.create_revision,
      mod_revision: kv.mod_revision,
    });
  }

  #refreshCore(): void {
    const core: CoreService[] = [];
    for (const { record } of this.#entries.values()) {
      const kind = coreKind(record);
      if (kind === undefined) continue;
      core.push({
        kind,
        process_id: record.process_id,
        address: record.advertise_address,
        running_state: record.running_state,
        health_state: record.health_state,
      });
    }
    core.sort((a, b) => (a.process_id! < b.process_id! ? -1 : 1));
    this.#core = core;
    this.#core_version++;
  }
}

function coreKind(record: StoredProcess | undefined): string | undefined {
  return record?.metadata.find((label) => label.key === CORE_LABEL)?.value || undefined;
}

function isCore(record: StoredProcess | undefined): boolean {
  return coreKind(record) !== undefined;
}
