/**
 * The unary fast path against malformed requests sent on a bare HTTP/2 stream (what grpc-js
 * clients never send), and its hand-over of compressed calls to grpc-js.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import { grpc } from "../../deps.ts";
import { etcdCodecs, loadEtcdSchema, type PutRequest } from "../proto/mod.ts";
import { RpcServer, Status, statusName } from "./mod.ts";

const etcd = await loadEtcdSchema();
const codecs = etcdCodecs(etcd);

/** A framed gRPC message: flag byte, 4-byte length, body. */
function frame(body: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

/** Sends `body` as the request of `path`; resolves with the status and the response bytes. */
function rawCall(
  address: string,
  path: string,
  body: Uint8Array,
  extra_headers: Record<string, string> = {},
): Promise<{ status: number; message: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...extra_headers,
    });
    const chunks: Buffer[] = [];
    let status = -1;
    let message = "";
    const take = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) {
        status = Number(headers["grpc-status"]);
        message = decodeURI(String(headers["grpc-message"] ?? ""));
      }
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ status, message, bytes: Buffer.concat(chunks) });
    });
    stream.end(body);
  });
}

Deno.test("unary fast path: malformed requests get a status that names the fault", async (t) => {
  const server = new RpcServer({ max_request_bytes: 1000, max_receive_message_bytes: 2000 });
  const puts: PutRequest[] = [];
  server.addService(etcd, "etcdserverpb.KV", {
    Put: (request: PutRequest) => {
      puts.push(request);
      return { header: { revision: 1n } };
    },
  });
  const { address } = await server.listen("127.0.0.1:0");
  const put = "/etcdserverpb.KV/Put";
  const request = codecs.PutRequest.encode({ key: new Uint8Array([1]), value: new Uint8Array(2) });
  try {
    await t.step("a well-formed request is answered with a message and OK", async () => {
      const answer = await rawCall(address, put, frame(request));
      strictEqual(answer.status, Status.OK);
      const response = codecs.PutResponse.decode(answer.bytes.subarray(5));
      strictEqual(response.header?.revision, 1n);
    });
    const cases: [string, Uint8Array, number, RegExp, Record<string, string>?][] = [
      ["no message", new Uint8Array(0), Status.UNIMPLEMENTED, /no request message/],
      ["two messages", Buffer.concat([frame(request), frame(request)]), 12, /second request/],
      ["a cut-off prefix", new Uint8Array([0, 0, 0]), Status.INTERNAL, /cut-off message prefix/],
      ["a cut-off message", frame(request).subarray(0, 7), Status.INTERNAL, /cut-off message/],
      ["a compressed flag", frame(request, true), Status.INTERNAL, /compressed message/],
      [
        "a declared length over the limit",
        frame(new Uint8Array(2001)),
        Status.RESOURCE_EXHAUSTED,
        /larger than max \(2001 vs 2000\)/,
      ],
      [
        "a bad grpc-timeout",
        frame(request),
        Status.INTERNAL,
        /Invalid grpc-timeout value "soon"/,
        { "grpc-timeout": "soon" },
      ],
      ["bytes that are not a PutRequest", frame(new Uint8Array([0xff, 0xff])), 3, /not a valid/],
      ["a request over max_request_bytes", frame(new Uint8Array(1500)), 3, /limit is 1000/],
    ];
    for (const [what, body, status, pattern, headers] of cases) {
      await t.step(`${what}: ${statusName(status)}`, async () => {
        const answer = await rawCall(address, put, body, headers);
        strictEqual(answer.status, status, answer.message);
        ok(pattern.test(answer.message), `${answer.message} !~ ${pattern}`);
      });
    }
    await t.step("none of the refused requests reached the handler", () => {
      strictEqual(puts.length, 1);
    });
    await t.step("a compressed call goes to grpc-js and is answered there", async () => {
      const before = server.fast_unary_calls;
      const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
        "grpc.default_compression_algorithm": 2, // gzip
      });
      try {
        const response = await new Promise<Buffer>((resolve, reject) =>
          client.makeUnaryRequest<Buffer, Buffer>(
            put,
            (value) => value,
            (value) => value,
            Buffer.from(request),
            (error, value) => error ? reject(error) : resolve(value!),
          )
        );
        deepStrictEqual(codecs.PutResponse.decode(response).header?.revision, 1n);
        strictEqual(server.fast_unary_calls, before, "not on the fast path");
        strictEqual(puts.length, 2);
      } finally {
        client.close();
      }
    });
  } finally {
    await server.shutdown(2000);
  }
});
