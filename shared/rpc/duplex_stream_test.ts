/**
 * Duplex handlers on both server paths (the fast path and grpc-js), each driven by both
 * clients (grpc-js's and the direct stream channel): messages both ways, the OK and failed
 * ends, half-close, cancel, shutdown, and requests that are too big or do not decode.
 */
import { ok, strictEqual, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { grpc } from "../../deps.ts";
import { loadEtcdSchema, methodOf, type ProtoMessage, type WatchRequest } from "../proto/mod.ts";
import {
  DirectStreamChannel,
  duplexHandler,
  fromServiceError,
  RpcChannel,
  RpcError,
  RpcServer,
  Status,
  unavailable,
} from "./mod.ts";
import { collector, waitUntil } from "./testdata/stream_collector.ts";

const encoder = new TextEncoder();
const etcd = await loadEtcdSchema();
const watch_method = methodOf(etcd.service("etcdserverpb.Watch"), "Watch");

/** What the handler saw, per server. */
interface Seen {
  half_closes: number;
  cancels: number;
}

/**
 * A Watch served by a duplex handler: a create is answered with its id (id 13 with an invalid
 * response), a cancel of id 1 ends OK, of id 2 fails UNAVAILABLE with a detail; a half-close
 * ends OK.
 */
async function startServer(fast_path: boolean) {
  const server = new RpcServer({ fast_path, max_request_bytes: 1024, shutdown_timeout_ms: 200 });
  const seen: Seen = { half_closes: 0, cancels: 0 };
  server.addService(etcd, "etcdserverpb.Watch", {
    Watch: duplexHandler<WatchRequest>((call) => ({
      message(request) {
        if (request.request_union === "create_request") {
          const watch_id = request.create_request!.watch_id;
          if (watch_id === 13n) call.write({ watch_id: "not a number" } as unknown as ProtoMessage);
          else call.write({ watch_id, created: true });
        } else if (request.cancel_request!.watch_id === 1n) {
          call.end();
        } else {
          call.fail(unavailable("not the leader", { leader_address: "127.0.0.1:9" }));
        }
      },
      end() {
        seen.half_closes++;
        call.end();
      },
      cancel() {
        seen.cancels++;
      },
    })),
  });
  const { address } = await server.listen("127.0.0.1:0");
  return { server, address, seen };
}

function create(watch_id: bigint) {
  return { create_request: { key: encoder.encode("k"), watch_id } };
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  await waitUntil(check);
  ok(check(), what);
}

/** Sends raw message bytes on a grpc-js stream; resolves with the status it ends with. */
function rawStream(channel: RpcChannel, body: Uint8Array): Promise<RpcError | undefined> {
  return new Promise((resolve) => {
    const call = channel.client.makeBidiStreamRequest<Buffer, Buffer>(
      watch_method.path,
      (value) => value,
      (value) => value,
      new grpc.Metadata(),
      {},
    );
    call.on("error", (error: grpc.ServiceError) => resolve(fromServiceError(error)));
    call.on("end", () => resolve(undefined));
    call.resume();
    call.write(Buffer.from(body));
  });
}

for (const fast_path of [true, false]) {
  const path = fast_path ? "fast path" : "grpc-js";

  Deno.test(`duplex handler (${path}): messages both ways, then OK or a status`, async () => {
    const { server, address } = await startServer(fast_path);
    const channel = new DirectStreamChannel(address);
    try {
      const good = collector();
      const stream = channel.bidiStream<WatchRequest>(watch_method, good.handlers);
      for (let id = 20n; id < 25n; id++) stream.write(create(id));
      await good.first;
      await eventually(() => good.messages.length === 5, "five answers");
      stream.write({ cancel_request: { watch_id: 1n } });
      strictEqual(await good.ended, undefined);
      strictEqual(good.messages.map((m) => m.watch_id).join(), "20,21,22,23,24");

      const failing = collector();
      channel.bidiStream<WatchRequest>(watch_method, failing.handlers)
        .write({ cancel_request: { watch_id: 2n } });
      const error = await failing.ended;
      ok(error instanceof RpcError);
      strictEqual(error.code, Status.UNAVAILABLE);
      strictEqual(error.message, "not the leader");
      strictEqual(error.info.leader_address, "127.0.0.1:9");
      strictEqual(server.fast_duplex_calls, fast_path ? 2 : 0);
    } finally {
      channel.close();
      await server.shutdown();
    }
  });

  Deno.test(`duplex handler (${path}): grpc-js's client talks to it too`, async () => {
    const { server, address } = await startServer(fast_path);
    const channel = new RpcChannel(address);
    try {
      const call = channel.bidiStream<WatchRequest, ProtoMessage>(watch_method);
      const first = new Promise<ProtoMessage>((resolve) => call.once("data", resolve));
      call.write(create(42n));
      strictEqual((await first).watch_id, 42n);
      const ended = new Promise((resolve) => call.on("end", resolve));
      call.end(); // half-close: the handler's end() answers OK
      call.resume();
      await ended;
    } finally {
      channel.close();
      await server.shutdown();
    }
  });

  Deno.test(`duplex handler (${path}): half-close, cancel and shutdown reach the handler`, async () => {
    const { server, address, seen } = await startServer(fast_path);
    const channel = new DirectStreamChannel(address);
    try {
      const closing = collector();
      const half = channel.bidiStream<WatchRequest>(watch_method, closing.handlers);
      half.write(create(1n));
      await closing.first;
      half.end();
      strictEqual(await closing.ended, undefined);
      strictEqual(seen.half_closes, 1);

      const cancelled = collector();
      const stream = channel.bidiStream<WatchRequest>(watch_method, cancelled.handlers);
      stream.write(create(2n));
      await cancelled.first;
      stream.cancel();
      await eventually(() => seen.cancels === 1, "the handler heard the cancel");

      const cut = collector();
      channel.bidiStream<WatchRequest>(watch_method, cut.handlers).write(create(3n));
      await cut.first;
      await server.shutdown(100);
      ok((await cut.ended)?.code !== Status.OK, "the cut stream ends with an error");
      await eventually(() => seen.cancels === 2, "the handler heard the cut");
    } finally {
      channel.close();
      await server.shutdown();
    }
  });

  Deno.test(`duplex handler (${path}): bad requests and responses end the call`, async () => {
    const { server, address } = await startServer(fast_path);
    const channel = new RpcChannel(address);
    const direct = new DirectStreamChannel(address);
    try {
      const garbage = await rawStream(channel, new Uint8Array([0x0a, 0xff, 0xff]));
      strictEqual(garbage?.code, Status.INVALID_ARGUMENT);
      ok(/not a valid etcdserverpb.WatchRequest/.test(garbage!.message), garbage!.message);

      const big = { create_request: { key: new Uint8Array(2000), watch_id: 5n } };
      const oversized = collector();
      direct.bidiStream<WatchRequest>(watch_method, oversized.handlers).write(big);
      const error = await oversized.ended;
      strictEqual(error?.code, Status.INVALID_ARGUMENT);
      ok(/1024/.test(error!.message), error!.message);

      const invalid = collector();
      direct.bidiStream<WatchRequest>(watch_method, invalid.handlers).write(create(13n));
      strictEqual((await invalid.ended)?.code, Status.INTERNAL);
    } finally {
      channel.close();
      direct.close();
      await server.shutdown();
    }
  });
}

Deno.test("duplex handler: a deadline beyond a timer's reach does not end the call at once", async () => {
  const { server, address } = await startServer(true);
  const channel = new DirectStreamChannel(address);
  try {
    const far = collector();
    const stream = channel.bidiStream<WatchRequest>(watch_method, far.handlers, {
      "grpc-timeout": "8760H", // a year, as grpc-go sends for a far deadline
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.write(create(31n));
    await far.first;
    strictEqual(far.messages[0].watch_id, 31n);
    stream.write({ cancel_request: { watch_id: 1n } });
    strictEqual(await far.ended, undefined);
  } finally {
    channel.close();
    await server.shutdown();
  }
});

Deno.test("duplex handler: only for methods that stream both ways", () => {
  const server = new RpcServer();
  throws(
    () =>
      server.addService(etcd, "etcdserverpb.KV", {
        Put: duplexHandler(() => ({
          message() {},
          end() {},
          cancel() {},
        })),
      }),
    /not bidirectional/,
  );
});
