/**
 * Snapshots as checkpoints: the Raft snapshot message carries a small
 * {@link SnapshotDescriptor}; the receiver fetches the checkpoint's files from the sender in
 * bounded, checksummed chunks ({@link fetchCheckpoint}) that the sender's
 * {@link CheckpointServer} answers, and stages them for the application to swap in.
 *
 * @module
 */
export {
  checkDescriptor,
  CHECKPOINT_ID_PATTERN,
  checkpointIndexOf,
  decodeDescriptor,
  type DescribedFile,
  DESCRIPTOR_FORMAT_VERSION,
  DescriptorError,
  encodeDescriptor,
  FILE_NAME_PATTERN,
  isDescriptor,
  MAX_DESCRIPTOR_FILES,
  newCheckpointId,
  type SnapshotDescriptor,
} from "./descriptor.ts";
export {
  ChunkProtocolError,
  type ChunkRequest,
  type ChunkResponse,
  decodeChunkRequest,
  decodeChunkResponse,
  encodeChunkData,
  encodeChunkError,
  encodeChunkRequest,
  MAX_CHUNK_BYTES,
  type ReadRequest,
  type ReportRequest,
} from "./chunk_protocol.ts";
export {
  CheckpointServer,
  type CheckpointServerOptions,
  removeDirectory,
  TRANSFER_IDLE_MS,
} from "./checkpoint_server.ts";
export {
  type ChunkSource,
  completeCheckpoints,
  completeDescriptor,
  fetchCheckpoint,
  FetchError,
  type FetchOptions,
  type FetchResult,
  markerPath,
  removeIncomplete,
  removeStaged,
  stagedDir,
} from "./checkpoint_fetcher.ts";
