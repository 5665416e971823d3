/**
 * The server and client over real loopback connections: handlers, statuses for every kind of
 * bad input, size limits, the health service, reflection (v1 and v1alpha) and shutdown.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { grpc } from "../../deps.ts";
import {
  type Encodable,
  etcdCodecs,
  HEALTH_SERVICE,
  loadEtcdSchema,
  loadHealthSchema,
  methodOf,
  ProtoEncodeError,
  type ProtoMessage,
  ProtoSchema,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type WatchRequest,
} from "../proto/mod.ts";
import {
  fromServiceError,
  invalidArgument,
  RpcChannel,
  RpcError,
  RpcServer,
  Status,
  unavailable,
} from "./mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const etcd = await loadEtcdSchema();
const kv = etcd.service("etcdserverpb.KV");
const watch = etcd.service("etcdserverpb.Watch");

/** A small in-memory KV service: enough to exercise every kind of call and failure. */
function startKvServer(options: ConstructorParameters<typeof RpcServer>[0] = {}) {
  const server = new RpcServer(options);
  const store = new Map<string, Uint8Array>();
  let revision = 0n;
  const release_hang: (() => void)[] = [];
  server.addService(etcd, "etcdserverpb.KV", {
    Put: (request: PutRequest): Encodable<PutResponse> => {
      if (request.key.length === 0) throw invalidArgument("key is empty; a key needs 1+ bytes");
      if (decoder.decode(request.key) === "crash") throw new Error("handler bug");
      if (decoder.decode(request.key) === "follower") {
        throw unavailable("not the leader", { leader_address: "127.0.0.1:9" });
      }
      store.set(decoder.decode(request.key), request.value);
      return { header: { revision: ++revision, leader_id: 7n, leader_client_address: "a:1" } };
    },
    Range: async (request: RangeRequest) => {
      if (decoder.decode(request.key) === "hang") {
        await new Promise<void>((resolve) => release_hang.push(resolve));
      }
      const value = store.get(decoder.decode(request.key));
      return {
        header: { revision },
        kvs: value ? [{ key: request.key, value, mod_revision: revision }] : [],
        count: value ? 1n : 0n,
      };
    },
  });
  server.addService(etcd, "etcdserverpb.Watch", {
    Watch: (call: grpc.ServerDuplexStream<WatchRequest, ProtoMessage>) => {
      call.on("data", (request: WatchRequest) => {
        if (request.request_union === "create_request") {
          call.write({ watch_id: request.create_request!.watch_id, created: true });
        } else {
          call.end();
        }
      });
    },
  });
  return { server, release_hang };
}

async function withServer(
  options: ConstructorParameters<typeof RpcServer>[0],
  body: (channel: RpcChannel, server: RpcServer) => Promise<void>,
): Promise<void> {
  const { server, release_hang } = startKvServer(options);
  const { address } = await server.listen("127.0.0.1:0");
  const channel = new RpcChannel(address);
  try {
    await body(channel, server);
  } finally {
    channel.close();
    release_hang.forEach((release) => release());
    await server.shutdown(2000);
  }
}

async function rejectsWith(promise: Promise<unknown>, code: number, pattern: RegExp) {
  await rejects(promise, (error: unknown) => {
    ok(error instanceof RpcError, `expected an RpcError, got ${error}`);
    strictEqual(error.code, code, `code ${error.code} (${error.message})`);
    ok(pattern.test(error.message), `message ${JSON.stringify(error.message)} !~ ${pattern}`);
    return true;
  });
}

/** Sends raw bytes to a unary method, bypassing the request codec. */
function rawUnary(channel: RpcChannel, path: string, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    channel.client.makeUnaryRequest<Buffer, Buffer>(
      path,
      (value) => value,
      (value) => value,
      Buffer.from(bytes),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (error, response) => error ? reject(fromServiceError(error)) : resolve(response!),
    );
  });
}

for (const fast_path of [true, false]) {
  const path = fast_path ? "fast path" : "grpc-js only";
  Deno.test(`rpc server (${path}): calls, statuses and limits`, async (t) => {
    await withServer({ fast_path }, async (channel, server) => {
      await t.step("a unary call round-trips typed messages, 64-bit fields included", async () => {
        const put = await channel.unary<PutRequest, PutResponse>(methodOf(kv, "Put"), {
          key: encoder.encode("k"),
          value: encoder.encode("v"),
        });
        strictEqual(put.header?.revision, 1n);
        strictEqual(put.header?.leader_id, 7n);
        strictEqual(put.header?.leader_client_address, "a:1");
        const range = await channel.unary<RangeRequest, ProtoMessage>(methodOf(kv, "Range"), {
          key: encoder.encode("k"),
        });
        deepStrictEqual((range.kvs as { value: Uint8Array }[])[0].value, encoder.encode("v"));
        strictEqual(range.count, 1n);
      });

      await t.step("a handler's RpcError arrives with its code, message and details", async () => {
        await rejectsWith(
          channel.unary(methodOf(kv, "Put"), { key: new Uint8Array() }),
          Status.INVALID_ARGUMENT,
          /key is empty; a key needs 1\+ bytes/,
        );
        await rejects(
          channel.unary(methodOf(kv, "Put"), { key: encoder.encode("follower") }),
          (error: RpcError) => {
            strictEqual(error.code, Status.UNAVAILABLE);
            deepStrictEqual(error.info, { leader_address: "127.0.0.1:9" });
            return true;
          },
        );
      });

      await t.step("any other throw becomes INTERNAL with its message", async () => {
        await rejectsWith(
          channel.unary(methodOf(kv, "Put"), { key: encoder.encode("crash") }),
          Status.INTERNAL,
          /handler bug/,
        );
      });

      await t.step("a method without a handler answers UNIMPLEMENTED naming it", async () => {
        await rejectsWith(
          channel.unary(methodOf(kv, "Compact"), {}),
          Status.UNIMPLEMENTED,
          /\/etcdserverpb\.KV\/Compact is not offered/,
        );
      });

      await t.step("bytes that are not the request message get INVALID_ARGUMENT", async () => {
        // Field 1 (key) declared as a 100-byte string but only 2 bytes follow.
        await rejectsWith(
          rawUnary(channel, "/etcdserverpb.KV/Put", new Uint8Array([0x0a, 100, 1, 2])),
          Status.INVALID_ARGUMENT,
          /not a valid etcdserverpb\.PutRequest/,
        );
      });

      await t.step("a request over 1.5 MiB gets INVALID_ARGUMENT naming the limit", async () => {
        const value = new Uint8Array(1.5 * 1024 * 1024);
        await rejectsWith(
          channel.unary(methodOf(kv, "Put"), { key: encoder.encode("big"), value }),
          Status.INVALID_ARGUMENT,
          /request to \/etcdserverpb\.KV\/Put is 1572\d{3} bytes; the limit is 1572864 bytes/,
        );
      });

      await t.step("a message over the receive limit gets RESOURCE_EXHAUSTED with it", async () => {
        const value = new Uint8Array(2 * 1024 * 1024 + 16);
        await rejectsWith(
          channel.unary(methodOf(kv, "Put"), { key: encoder.encode("huge"), value }),
          Status.RESOURCE_EXHAUSTED,
          /larger than max \(\d+ vs\.? 2097152\)/,
        );
      });

      await t.step("the connection still serves calls after all those failures", async () => {
        const put = await channel.unary<PutRequest, PutResponse>(methodOf(kv, "Put"), {
          key: encoder.encode("after"),
        });
        ok(put.header!.revision > 1n);
      });

      await t.step("a bidirectional stream carries decoded messages both ways", async () => {
        const stream = channel.bidiStream<WatchRequest, ProtoMessage>(methodOf(watch, "Watch"));
        const first = new Promise<ProtoMessage>((resolve) => stream.once("data", resolve));
        stream.write({ create_request: { key: encoder.encode("a"), watch_id: 42n } });
        const response = await first;
        strictEqual(response.watch_id, 42n);
        strictEqual(response.created, true);
        const ended = new Promise((resolve) => stream.on("end", resolve));
        stream.write({ cancel_request: { watch_id: 42n } });
        stream.resume();
        await ended;
      });

      await t.step(
        "a streamed message that does not decode ends the stream with INVALID_ARGUMENT",
        async () => {
          const stream = channel.client.makeBidiStreamRequest<Buffer, Buffer>(
            "/etcdserverpb.Watch/Watch",
            (value) => value,
            (value) => value,
            new grpc.Metadata(),
            { deadline: Date.now() + 10_000 },
          );
          const failed = new Promise<RpcError>((resolve) =>
            stream.on("error", (error: grpc.ServiceError) => resolve(fromServiceError(error)))
          );
          stream.resume();
          stream.write(Buffer.from([0x0a, 100, 1])); // create_request claims 100 bytes, has 1
          const error = await failed;
          strictEqual(error.code, Status.INVALID_ARGUMENT);
          ok(/not a valid etcdserverpb\.WatchRequest/.test(error.message), error.message);
        },
      );

      await t.step("a call past its deadline fails with DEADLINE_EXCEEDED", async () => {
        await rejectsWith(
          channel.unary(methodOf(kv, "Range"), { key: encoder.encode("hang") }, {
            deadline_ms: 100,
          }),
          Status.DEADLINE_EXCEEDED,
          /Deadline exceeded/i,
        );
      });

      await t.step("a client encoding mistake is named before anything is sent", async () => {
        ok(etcdCodecs(etcd).PutRequest);
        await rejects(
          channel.unary(methodOf(kv, "Put"), { key: "text" as unknown as Uint8Array }),
          (error: Error) =>
            error instanceof ProtoEncodeError &&
            error.message ===
              'etcdserverpb.PutRequest.key: expected a Uint8Array, got the string "text"',
        );
      });

      await t.step("unary calls took the path the option chose", () => {
        if (fast_path) ok(server.fast_unary_calls >= 8, `${server.fast_unary_calls} fast calls`);
        else strictEqual(server.fast_unary_calls, 0);
      });
    });
  });
}

Deno.test("rpc server: configured request limit", async () => {
  await withServer({ max_request_bytes: 1000 }, async (channel) => {
    await rejectsWith(
      channel.unary(methodOf(kv, "Put"), { key: encoder.encode("k"), value: new Uint8Array(1000) }),
      Status.INVALID_ARGUMENT,
      /the limit is 1000 bytes/,
    );
    await channel.unary(methodOf(kv, "Put"), {
      key: encoder.encode("k"),
      value: new Uint8Array(900),
    });
  });
});

Deno.test("rpc channel: a server that is not there is UNAVAILABLE, naming the address", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${listener.addr.port}`;
  listener.close(); // the port is now free: nothing answers there
  const channel = new RpcChannel(address);
  try {
    await rejectsWith(
      channel.waitForReady(300),
      Status.UNAVAILABLE,
      new RegExp(`${address} not ready`),
    );
    await rejectsWith(
      channel.unary(methodOf(kv, "Put"), { key: encoder.encode("k") }, { deadline_ms: 2000 }),
      Status.UNAVAILABLE,
      /ECONNREFUSED|connect/i,
    );
  } finally {
    channel.close();
  }
});

Deno.test("rpc server: options are validated with clear errors", () => {
  let message = "";
  try {
    new RpcServer({ max_request_bytes: 0 });
  } catch (error) {
    message = String(error);
  }
  ok(message.includes("max_request_bytes is 0; allowed: an integer from 1 to"), message);
});

Deno.test("rpc server: health service", async (t) => {
  const health_schema = await loadHealthSchema();
  const health = health_schema.service(HEALTH_SERVICE);
  await withServer({}, async (channel, server) => {
    await t.step("the server and each added service are SERVING", async () => {
      for (const service of ["", "etcdserverpb.KV", "etcdserverpb.Watch"]) {
        const response = await channel.unary(methodOf(health, "Check"), { service });
        strictEqual(response.status, 1, service);
      }
    });

    await t.step("an unknown service is NOT_FOUND, naming the known ones", async () => {
      await rejectsWith(
        channel.unary(methodOf(health, "Check"), { service: "nope.Service" }),
        Status.NOT_FOUND,
        /unknown service "nope\.Service" \(known: etcdserverpb\.KV, etcdserverpb\.Watch\)/,
      );
    });

    await t.step("Watch reports the state now and every change", async () => {
      const stream = channel.serverStream(methodOf(health, "Watch"), {
        service: "etcdserverpb.KV",
      }, { deadline_ms: 10_000 });
      const statuses: unknown[] = [];
      const got_two = new Promise<void>((resolve) => {
        stream.on("data", (response: ProtoMessage) => {
          statuses.push(response.status);
          if (statuses.length === 1) server.health.set("etcdserverpb.KV", "NOT_SERVING");
          if (statuses.length === 2) resolve();
        });
      });
      stream.on("error", () => {});
      await got_two;
      deepStrictEqual(statuses, [1, 2]);
      stream.cancel();
      const check = await channel.unary(methodOf(health, "Check"), {
        service: "etcdserverpb.KV",
      });
      strictEqual(check.status, 2);
    });
  });
});

for (const version of ["v1", "v1alpha"]) {
  Deno.test(`rpc server: reflection ${version} lists services and serves their files`, async () => {
    const schema = await ProtoSchema.load([`reflection_${version}.proto`], {
      base_url: new URL("./testdata/", import.meta.url),
    });
    const reflection = schema.service(`grpc.reflection.${version}.ServerReflection`);
    const file_descriptor = (await import("../../deps.ts")).protobufDescriptor
      .FileDescriptorProto;
    await withServer({}, async (channel) => {
      const stream = channel.bidiStream(methodOf(reflection, "ServerReflectionInfo"), {
        deadline_ms: 10_000,
      });
      const responses: ProtoMessage[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on("data", (response: ProtoMessage) => {
          responses.push(response);
          if (responses.length === 2) stream.end();
        });
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      stream.write({ list_services: "*" });
      stream.write({ file_containing_symbol: "etcdserverpb.KV" });
      await done;
      const listed = (responses[0].list_services_response as { service: { name: string }[] })
        .service.map((service) => service.name).sort();
      for (const name of ["etcdserverpb.KV", "etcdserverpb.Watch", HEALTH_SERVICE]) {
        ok(listed.includes(name), `${name} missing from ${listed}`);
      }
      const files = (responses[1].file_descriptor_response as {
        file_descriptor_proto: Uint8Array[];
      }).file_descriptor_proto.map((bytes) =>
        file_descriptor.toObject(file_descriptor.decode(bytes)) as {
          name: string;
          dependency?: string[];
        }
      );
      const rpc_file = files.find((file) => file.name === "etcd/rpc.proto");
      ok(rpc_file, `files: ${files.map((file) => file.name)}`);
      deepStrictEqual(rpc_file.dependency, ["etcd/kv.proto"]);
      ok(files.some((file) => file.name === "etcd/kv.proto"), "the dependency is served too");
    });
  });
}

Deno.test("rpc server: shutdown waits for calls, then cuts them at its bound", async () => {
  const { server, release_hang } = startKvServer();
  const { address } = await server.listen("127.0.0.1:0");
  const channel = new RpcChannel(address);
  try {
    await channel.unary(methodOf(kv, "Put"), { key: encoder.encode("k") });
    const hanging = channel.unary(methodOf(kv, "Range"), { key: encoder.encode("hang") });
    hanging.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the call reach the handler
    const { forced } = await server.shutdown(200);
    strictEqual(forced, true);
    await rejects(hanging, (error: RpcError) => error.code !== Status.OK);
  } finally {
    release_hang.forEach((release) => release());
    channel.close();
  }
  // An open bidirectional stream the handler never ends is cut at the bound, and its client
  // hears an error rather than waiting on a server that has stopped.
  const streaming = startKvServer().server;
  const { address: streaming_address } = await streaming.listen("127.0.0.1:0");
  const streamer = new RpcChannel(streaming_address);
  try {
    const call = streamer.bidiStream(methodOf(watch, "Watch"));
    const created = new Promise((resolve) => call.once("data", resolve));
    const failed = new Promise<RpcError>((resolve) => call.on("error", resolve));
    call.write({ create_request: { key: encoder.encode("k"), watch_id: 1n } });
    await created;
    deepStrictEqual(await streaming.shutdown(200), { forced: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const error = await Promise.race([
      failed,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 5_000)),
    ]);
    clearTimeout(timer);
    strictEqual(error !== undefined && error.code !== Status.OK, true, "the cut stream errs");
  } finally {
    streamer.close();
  }
  // A server with an open health Watch stream still shuts down without cutting anything:
  // the watcher hears NOT_SERVING and its stream ends.
  const idle = startKvServer().server;
  const { address: idle_address } = await idle.listen("127.0.0.1:0");
  const watcher = new RpcChannel(idle_address);
  const health = (await loadHealthSchema()).service(HEALTH_SERVICE);
  const stream = watcher.serverStream(methodOf(health, "Watch"), { service: "" });
  const statuses: unknown[] = [];
  const first = new Promise((resolve) => stream.once("data", resolve));
  stream.on("data", (response: ProtoMessage) => statuses.push(response.status));
  const ended = new Promise((resolve) => stream.on("end", resolve));
  stream.on("error", () => {});
  await first;
  deepStrictEqual(await idle.shutdown(5000), { forced: false });
  await ended;
  deepStrictEqual(statuses, [1, 2]);
  watcher.close();
});
