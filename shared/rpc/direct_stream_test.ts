/**
 * {@link DirectStreamChannel} against a real {@link RpcServer} on loopback: messages both
 * ways, every way a stream ends (OK, a status with details, an unknown method, a refused or
 * silent server, a server that goes away and comes back), limits, and cancel.
 */
import { ok, strictEqual, throws } from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { grpc } from "../../deps.ts";
import {
  loadEtcdSchema,
  methodOf,
  ProtoEncodeError,
  type ProtoMessage,
  type WatchRequest,
} from "../proto/mod.ts";
import { DirectStreamChannel, RpcError, RpcServer, Status, unavailable } from "./mod.ts";
import { collector, waitUntil } from "./testdata/stream_collector.ts";

const encoder = new TextEncoder();
const etcd = await loadEtcdSchema();
const watch_method = methodOf(etcd.service("etcdserverpb.Watch"), "Watch");
const put_method = methodOf(etcd.service("etcdserverpb.KV"), "Put");

/**
 * A Watch service driven by the request: a create echoes its watch id (`watch_id` 99 answers
 * a 64 KiB message), a cancel of id 1 ends OK, of id 2 fails UNAVAILABLE with a detail.
 * Counts the streams it saw cancelled.
 */
async function startServer(port = 0) {
  const server = new RpcServer({ shutdown_timeout_ms: 200 });
  const seen = { cancelled: 0 };
  server.addService(etcd, "etcdserverpb.Watch", {
    Watch: (call: grpc.ServerDuplexStream<WatchRequest, ProtoMessage>) => {
      call.on("cancelled", () => seen.cancelled++);
      call.on("data", (request: WatchRequest) => {
        if (request.request_union === "create_request") {
          const watch_id = request.create_request!.watch_id;
          const padding = watch_id === 99n ? "x".repeat(64 * 1024) : "";
          call.write({ watch_id, created: true, cancel_reason: padding });
        } else if (request.cancel_request!.watch_id === 1n) {
          call.end();
        } else {
          call.emit("error", unavailable("not the leader", { leader_address: "127.0.0.1:9" }));
        }
      });
    },
  });
  const { address } = await server.listen(`127.0.0.1:${port}`);
  return { server, address, seen };
}

function create(watch_id: bigint) {
  return { create_request: { key: encoder.encode("k"), watch_id } };
}

function cancelOf(watch_id: bigint) {
  return { cancel_request: { watch_id } };
}

Deno.test("direct stream: messages both ways, then the server's OK ends it", async () => {
  const { server, address } = await startServer();
  const channel = new DirectStreamChannel(address);
  try {
    const { handlers, messages, ended } = collector();
    const stream = channel.bidiStream<WatchRequest>(watch_method, handlers);
    for (let id = 10n; id < 15n; id++) stream.write(create(id));
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.write(cancelOf(1n));
    strictEqual(await ended, undefined);
    strictEqual(messages.map((m) => m.watch_id).join(), "10,11,12,13,14");
    strictEqual(channel.connections, 1);
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: a status with details ends it as an RpcError", async () => {
  const { server, address } = await startServer();
  const channel = new DirectStreamChannel(address);
  try {
    const { handlers, ended } = collector();
    channel.bidiStream<WatchRequest>(watch_method, handlers).write(cancelOf(2n));
    const error = await ended;
    ok(error instanceof RpcError);
    strictEqual(error.code, Status.UNAVAILABLE);
    strictEqual(error.message, "not the leader");
    strictEqual(error.info.leader_address, "127.0.0.1:9");
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: an unknown method ends UNIMPLEMENTED; a unary one is refused", async () => {
  const { server, address } = await startServer();
  const channel = new DirectStreamChannel(address);
  try {
    const { handlers, ended } = collector();
    const unknown = { ...watch_method, path: "/etcdserverpb.Watch/Nope" };
    channel.bidiStream(unknown, handlers);
    strictEqual((await ended)?.code, Status.UNIMPLEMENTED);
    throws(() => channel.bidiStream(put_method, handlers), TypeError);
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: a message that does not encode throws and nothing is sent", async () => {
  const { server, address } = await startServer();
  const channel = new DirectStreamChannel(address);
  try {
    const { handlers, first } = collector();
    const stream = channel.bidiStream<WatchRequest>(watch_method, handlers);
    throws(
      () => stream.write({ create_request: { key: "not bytes" } } as unknown as WatchRequest),
      ProtoEncodeError,
    );
    stream.write(create(7n)); // the stream still works
    await first;
    stream.cancel();
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: limits on both directions", async () => {
  const { server, address } = await startServer();
  const channel = new DirectStreamChannel(address, {
    max_receive_message_bytes: 1024,
    max_send_message_bytes: 64,
  });
  try {
    const { handlers, ended } = collector();
    const stream = channel.bidiStream<WatchRequest>(watch_method, handlers);
    const big_key = { create_request: { key: new Uint8Array(100), watch_id: 1n } };
    throws(() => stream.write(big_key), (error: unknown) => {
      ok(error instanceof RpcError && error.code === Status.RESOURCE_EXHAUSTED);
      ok(/send limit of 64/.test(error.message), error.message);
      return true;
    });
    stream.write(create(99n)); // answered with a 64 KiB message
    const error = await ended;
    strictEqual(error?.code, Status.RESOURCE_EXHAUSTED);
    ok(/limit is 1024/.test(error!.message), error!.message);
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: cancel resets the stream and calls no handler", async () => {
  const { server, address, seen } = await startServer();
  const channel = new DirectStreamChannel(address);
  try {
    let ends = 0;
    const { handlers, first } = collector();
    const stream = channel.bidiStream<WatchRequest>(watch_method, {
      ...handlers,
      on_end: () => ends++,
    });
    stream.write(create(3n));
    await first;
    stream.cancel();
    await waitUntil(() => !(seen.cancelled === 0));
    strictEqual(seen.cancelled, 1, "the server saw the stream cancelled");
    strictEqual(ends, 0);
    strictEqual(stream.write(create(4n)), false, "a cancelled stream sends nothing");
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: a refused connection ends UNAVAILABLE naming the address", async () => {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const port = (listener.address() as net.AddressInfo).port;
  await new Promise((resolve) => listener.close(resolve)); // nothing listens there now
  const channel = new DirectStreamChannel(`127.0.0.1:${port}`);
  try {
    const { handlers, ended } = collector();
    channel.bidiStream(watch_method, handlers);
    const error = await ended;
    strictEqual(error?.code, Status.UNAVAILABLE);
    ok(error!.message.includes(`127.0.0.1:${port}`), error!.message);
  } finally {
    channel.close();
  }
});

Deno.test("direct stream: a server that never answers a ping is dropped", async () => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("data", () => {}); // reads, never writes: no settings, no ping answer
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as net.AddressInfo).port;
  const channel = new DirectStreamChannel(`127.0.0.1:${port}`, {
    keepalive_time_ms: 50,
    keepalive_timeout_ms: 100,
  });
  try {
    const { handlers, ended } = collector();
    channel.bidiStream(watch_method, handlers);
    const dropped = await ended;
    strictEqual(dropped?.code, Status.UNAVAILABLE, `${dropped?.message}`);
  } finally {
    channel.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

Deno.test("direct stream: a server that goes away ends the stream; the next one reconnects", async () => {
  const first_server = await startServer();
  const channel = new DirectStreamChannel(first_server.address);
  const port = Number(first_server.address.split(":")[1]);
  let second: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const before = collector();
    channel.bidiStream<WatchRequest>(watch_method, before.handlers).write(create(5n));
    await before.first;
    await first_server.server.shutdown(100); // cuts the open stream
    const error = await before.ended;
    ok(error instanceof RpcError && error.code !== Status.OK, `ended with ${error}`);
    second = await startServer(port);
    const after = collector();
    channel.bidiStream<WatchRequest>(watch_method, after.handlers).write(create(6n));
    await after.first;
    strictEqual(after.messages[0].watch_id, 6n);
    strictEqual(channel.connections, 2);
  } finally {
    channel.close();
    await second?.server.shutdown();
  }
  throws(() => channel.bidiStream(watch_method, collector().handlers), /closed/);
});

Deno.test("direct stream: a header HTTP/2 refuses throws; the connection and its streams go on", async () => {
  const { server, address } = await startServer();
  const channel = new DirectStreamChannel(address);
  try {
    const open = collector();
    const stream = channel.bidiStream<WatchRequest>(watch_method, open.handlers);
    stream.write(create(8n));
    await open.first;
    throws(() => channel.bidiStream(watch_method, collector().handlers, { connection: "close" }));
    stream.write(create(9n));
    await waitUntil(() => !(open.messages.length < 2));
    strictEqual(open.messages.length, 2, "the open stream still answers");
    strictEqual(channel.connections, 1);
    stream.cancel();
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("direct stream: after GOAWAY new streams use a new connection; close ends the old one's", async () => {
  // A bare HTTP/2 server: answers each stream's headers, and goes away after the first.
  const sessions: http2.ServerHttp2Session[] = [];
  const bare = http2.createServer();
  bare.on("session", (session) => sessions.push(session));
  bare.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.on("data", () => {});
    if (sessions.length === 1) stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
  });
  await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
  const port = (bare.address() as net.AddressInfo).port;
  const channel = new DirectStreamChannel(`127.0.0.1:${port}`);
  try {
    const old = collector();
    channel.bidiStream(watch_method, old.handlers);
    await waitUntil(() => !(sessions.length === 0));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the GOAWAY arrives
    channel.bidiStream(watch_method, collector().handlers);
    strictEqual(channel.connections, 2, "a new connection after GOAWAY");
    channel.close();
    strictEqual(
      (await old.ended)?.code,
      Status.UNAVAILABLE,
      "close ends the old connection's stream",
    );
  } finally {
    channel.close();
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => bare.close(resolve));
  }
});
