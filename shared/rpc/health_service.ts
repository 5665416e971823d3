/**
 * The handlers of the standard gRPC health service (`grpc.health.v1.Health`) over a
 * {@link HealthStatusTable}.
 *
 * @module
 */
import type { grpc } from "../../deps.ts";
import type { ProtoMessage } from "../proto/mod.ts";
import {
  HEALTH_STATUS_NUMBER,
  type HealthState,
  type HealthStatusTable,
  MAX_HEALTH_WATCHERS,
} from "./health_status.ts";
import { notFound, resourceExhausted } from "./rpc_error.ts";

/** The open Watch streams: calling one ends that stream (the server does at shutdown). */
export type OpenHealthWatches = Set<() => void>;

/** `grpc.health.v1.HealthCheckRequest`. */
interface HealthCheckRequest {
  readonly service: string;
}

/**
 * Check and Watch handlers for {@link RpcServer.addService}-style registration.
 *
 * Check answers the state of a known service and NOT_FOUND (naming the known services) for
 * others. Watch sends the state now and on every change (SERVICE_UNKNOWN while the service is
 * not known) until the client cancels or the server ends it through `open_watches`.
 *
 * @param table the states
 * @param open_watches where each open Watch registers the function that ends it
 * @example
 * ```ts
 * const handlers = createHealthHandlers(server.health, new Set());
 * ```
 */
export function createHealthHandlers(table: HealthStatusTable, open_watches: OpenHealthWatches) {
  return {
    Check(request: HealthCheckRequest): ProtoMessage {
      const state = table.get(request.service);
      if (state === undefined) {
        const known = table.services().filter((name) => name !== "").join(", ");
        throw notFound(`unknown service ${JSON.stringify(request.service)} (known: ${known})`);
      }
      return { status: HEALTH_STATUS_NUMBER[state] };
    },

    Watch(
      request: HealthCheckRequest,
      call: grpc.ServerWritableStream<HealthCheckRequest, ProtoMessage>,
    ): Promise<void> {
      const send = (state: HealthState | undefined) =>
        call.write({ status: HEALTH_STATUS_NUMBER[state ?? "SERVICE_UNKNOWN"] });
      if (table.watcherCount >= MAX_HEALTH_WATCHERS) {
        throw resourceExhausted(`too many health watchers (limit ${MAX_HEALTH_WATCHERS})`);
      }
      const stop = table.watch(request.service, send);
      return new Promise<void>((resolve) => {
        const finish = () => {
          stop();
          open_watches.delete(finish);
          resolve();
        };
        open_watches.add(finish);
        call.on("cancelled", finish);
        call.on("close", finish);
        send(table.get(request.service));
      });
    },
  };
}
