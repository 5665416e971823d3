/**
 * The checkpoint transfer over two real Raft transports on loopback: request channels,
 * in-order responses, a corrupted chunk on the wire rejected and fetched again, a silent
 * sender timed out.
 */
import assert from "node:assert/strict";
import { crc32c } from "../../../shared/checksum/crc32c.ts";
import { FaultyFileSystem } from "../../../shared/fs/mod.ts";
import { TcpTransport } from "../transport/mod.ts";
import {
  CheckpointServer,
  completeDescriptor,
  fetchCheckpoint,
  newCheckpointId,
  stagedDir,
} from "./mod.ts";

function transport(id: string, peers: Record<string, number>, extra = {}): TcpTransport {
  return new TcpTransport({
    cluster_id: "transfer-test",
    node_id: id,
    listen: { hostname: "127.0.0.1", port: 0 },
    peers: Object.fromEntries(
      Object.entries(peers).map(([peer, port]) => [peer, { hostname: "127.0.0.1", port }]),
    ),
    on_message: () => {},
    log: () => {},
    ...extra,
  });
}

Deno.test({
  name: "checkpoint transfer over TCP: a corrupted chunk is rejected and fetched again",
  fn: async () => {
    const sender_fs = new FaultyFileSystem();
    const id = newCheckpointId(5);
    sender_fs.mkdir(`/s/checkpoints/${id}`);
    const data = new Uint8Array(700_000).map((_, i) => (i * 7919) & 0xff);
    const file = sender_fs.open(`/s/checkpoints/${id}/000004.sst`, "create");
    file.append(data);
    file.close();
    const server = new CheckpointServer({ fs: sender_fs, checkpoints_dir: "/s/checkpoints" });
    let responses = 0;
    const sender = transport("leader", {}, {
      on_request: (from: string, payload: Uint8Array) => {
        const response = server.handle(from, payload);
        // The third response is damaged in flight (after its checksum was computed).
        if (++responses === 3) response[response.length - 1] ^= 0x01;
        return response;
      },
    });
    const sender_port = sender.start().port;
    const receiver = transport("follower", { leader: sender_port });
    receiver.start();
    const receiver_fs = new FaultyFileSystem();
    const descriptor = {
      checkpoint_id: id,
      applied_index: 5,
      applied_term: 1,
      files: [{ name: "000004.sst", size_bytes: data.length, crc32c: crc32c(data) }],
      size_bytes: data.length,
    };
    const logs: string[] = [];
    try {
      const result = await fetchCheckpoint({
        fs: receiver_fs,
        received_dir: "/r/received",
        descriptor,
        connect: () => receiver.openRequestChannel("leader"),
        chunk_bytes: 64 * 1024,
        max_in_flight: 4,
        retry_delay_ms: 1,
        log: (line) => logs.push(line),
      });
      assert.equal(result.retries, 1);
      assert.match(logs.join("\n"), /fails its CRC-32C/);
      assert.deepEqual(completeDescriptor(receiver_fs, "/r/received", id), descriptor);
      assert.deepEqual(receiver_fs.readFile(`${stagedDir("/r/received", id)}/000004.sst`), data);
      await assert.rejects(
        receiver.openRequestChannel("stranger"),
        /no address for peer stranger/,
      );
    } finally {
      await receiver.stop();
      await sender.stop();
      server.close();
    }
  },
});

Deno.test({
  name: "request channel: a sender that never answers is timed out and the channel closed",
  fn: async () => {
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const sender = transport("leader", {}, {
      on_request: async () => {
        await stuck;
        return Uint8Array.of(0);
      },
    });
    const receiver = transport("follower", { leader: sender.start().port });
    receiver.start();
    try {
      const channel = await receiver.openRequestChannel("leader");
      await assert.rejects(channel.call(Uint8Array.of(1), 50), /request timed out after 50 ms/);
      await assert.rejects(channel.call(Uint8Array.of(1), 50), /request timed out/);
    } finally {
      release();
      await receiver.stop();
      await sender.stop();
    }
  },
});
