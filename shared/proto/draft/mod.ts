/**
 * Draft's own protocols (beside etcd's): the Blueprint registry.
 *
 * ```ts
 * import { loadRegistrySchema, REGISTRY_SERVICE } from "../proto/draft/mod.ts";
 * const registry = (await loadRegistrySchema()).service(REGISTRY_SERVICE);
 * ```
 *
 * @module
 */
export * from "./registry.ts";
