import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ETCD_PROTO_FILES,
  ETCD_SERVICES,
  HEALTH_SERVICE,
  loadEtcdSchema,
  loadHealthSchema,
  loadProtoRoot,
  methodOf,
  ProtoLoadError,
  ProtoSchema,
} from "./mod.ts";

const memory = (files: Record<string, string>) => ({
  base_url: new URL("memory:/protos/"),
  read_text: (url: URL) => {
    const path = url.pathname.replace("/protos/", "");
    return path in files ? Promise.resolve(files[path]) : Promise.reject(new Error("no file"));
  },
});

Deno.test("schema: the etcd API has its five services with etcd's method shapes", async () => {
  const schema = await loadEtcdSchema();
  deepStrictEqual(schema.serviceNames(), Object.values(ETCD_SERVICES).sort());
  const watch = methodOf(schema.service(ETCD_SERVICES.Watch), "Watch");
  strictEqual(watch.path, "/etcdserverpb.Watch/Watch");
  strictEqual(watch.request_stream && watch.response_stream, true);
  const keep_alive = methodOf(schema.service(ETCD_SERVICES.Lease), "LeaseKeepAlive");
  strictEqual(keep_alive.request_codec.type_name, "etcdserverpb.LeaseKeepAliveRequest");
  const snapshot = methodOf(schema.service(ETCD_SERVICES.Maintenance), "Snapshot");
  deepStrictEqual([snapshot.request_stream, snapshot.response_stream], [false, true]);
  strictEqual(await loadEtcdSchema(), schema, "loaded once per process");
});

Deno.test("schema: unknown names are errors that list what exists", async () => {
  const schema = await loadEtcdSchema();
  throws(
    () => schema.service("etcdserverpb.Auth"),
    /no service named "etcdserverpb\.Auth" \(known: etcdserverpb\.KV, etcdserverpb\.Watch, /,
  );
  throws(() => schema.codec("etcdserverpb.Nope"), /no message named "etcdserverpb\.Nope"/);
  throws(
    () => methodOf(schema.service(ETCD_SERVICES.KV), "Get"),
    /etcdserverpb\.KV has no method Get \(its methods: Range, Put, DeleteRange, Txn, Compact\)/,
  );
});

Deno.test("schema: file descriptors are named by file and list their imports", async () => {
  const etcd = (await loadEtcdSchema()).fileDescriptors();
  deepStrictEqual(etcd.map((file) => [file.file_name, file.dependencies]), [
    ["etcd/kv.proto", []],
    ["etcd/rpc.proto", ["etcd/kv.proto"]],
  ]);
  const health = (await loadHealthSchema()).fileDescriptors();
  deepStrictEqual(health.map((file) => file.file_name), ["grpc/health/v1/health.proto"]);
  ok((await loadHealthSchema()).service(HEALTH_SERVICE).methods.length === 2);
});

Deno.test("loader: imports are followed once, cycles end, failures name the file", async (t) => {
  await t.step("a file imported twice (and a cycle) loads once", async () => {
    const root = await loadProtoRoot(
      ["a.proto"],
      memory({
        "a.proto": `syntax = "proto3"; package a; import "b.proto"; message A { b.B b = 1; }`,
        "b.proto": `syntax = "proto3"; package b; import "a.proto"; message B { int32 x = 1; }`,
      }),
    );
    ok(root.lookupType("a.A"));
    strictEqual(root.lookupType("b.B").filename, "b.proto");
  });

  await t.step("a missing import names the file and its URL", async () => {
    await rejects(
      loadProtoRoot(["a.proto"], memory({ "a.proto": `syntax = "proto3"; import "gone.proto";` })),
      (error: Error) =>
        error instanceof ProtoLoadError &&
        error.message === "cannot read gone.proto (memory:/protos/gone.proto): no file",
    );
  });

  await t.step("a syntax error names the file", async () => {
    await rejects(
      loadProtoRoot(["bad.proto"], memory({ "bad.proto": `syntax = "proto3"; message {` })),
      /cannot parse bad\.proto: /,
    );
  });

  await t.step("an unresolved type is named", async () => {
    await rejects(
      loadProtoRoot(
        ["u.proto"],
        memory({ "u.proto": `syntax = "proto3"; message U { V v = 1; }` }),
      ),
      /unresolved reference in u\.proto: .*V/,
    );
  });

  await t.step("no files at all is refused", async () => {
    await rejects(loadProtoRoot([], memory({})), /no \.proto files given/);
  });
});

Deno.test("loader: files load over HTTP when the base URL is http", async () => {
  const folder = fileURLToPath(new URL("./", import.meta.url));
  const requested: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    requested.push(path);
    if (path.includes("..")) return new Response("no", { status: 403 });
    try {
      return new Response(await Deno.readFile(join(folder, path)));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const base_url = new URL(`http://127.0.0.1:${server.addr.port}/`);
    const schema = await ProtoSchema.load(ETCD_PROTO_FILES, { base_url });
    ok(schema.service(ETCD_SERVICES.KV));
    deepStrictEqual(requested.sort(), ["/etcd/kv.proto", "/etcd/rpc.proto"]);
    await rejects(
      ProtoSchema.load(["missing.proto"], { base_url }),
      /GET http:\/\/127\.0\.0\.1:\d+\/missing\.proto answered HTTP 404/,
    );
  } finally {
    await server.shutdown();
  }
});
