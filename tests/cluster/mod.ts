/**
 * Cluster tests: real Blueprint processes on loopback, killed, paused, restarted, wiped,
 * added and removed, with histories checked for linearizability. This module is the harness
 * the tests share.
 *
 * @module
 */
export {
  CLUSTER_FLAVOR,
  eventually,
  mustStep,
  seededRandom,
  SKIP_REASON,
  SNAPSHOT_EVERY_ENTRIES,
  type TestCluster,
  testSeed,
  withCluster,
  type WithClusterOptions,
} from "./harness.ts";
