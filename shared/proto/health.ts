/**
 * The standard gRPC health protocol (`grpc.health.v1`): its file, service name and loader.
 *
 * @module
 */
import { ProtoSchema } from "./proto_schema.ts";

/** The health protocol's file, relative to this folder. */
export const HEALTH_PROTO_FILES: readonly string[] = ["grpc/health/v1/health.proto"];

/** The health service's fully qualified name. */
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/** `HealthCheckResponse.ServingStatus`, the numbers on the wire. */
export const ServingStatus = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;

let health_schema: Promise<ProtoSchema> | undefined;

/**
 * Loads the health protocol once per process, relative to this module (disk or HTTP).
 *
 * @example
 * ```ts
 * const health = (await loadHealthSchema()).service(HEALTH_SERVICE);
 * ```
 */
export function loadHealthSchema(): Promise<ProtoSchema> {
  health_schema ??= ProtoSchema.load(HEALTH_PROTO_FILES, {
    base_url: new URL("./", import.meta.url),
  })
    .catch((error) => {
      health_schema = undefined; // a later call may retry, e.g. after a network error
      throw error;
    });
  return health_schema;
}
