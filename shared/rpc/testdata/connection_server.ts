/**
 * A server process for the connection regression test (tests/grpc_connection_test.ts).
 *
 * Serves etcd's KV Put and Range from memory on 127.0.0.1, prints `LISTENING <port>`, and on
 * a `shutdown` line on stdin (or stdin closing) shuts down gracefully, prints the number of
 * distinct client connections it saw (`PEERS <n>`) and exits 0.
 *
 * @module
 */
import { loadEtcdSchema, type PutRequest, type RangeRequest } from "../../proto/mod.ts";
import { RpcServer } from "../mod.ts";

const schema = await loadEtcdSchema();
const server = new RpcServer({ shutdown_timeout_ms: 5000 });
const store = new Map<string, Uint8Array>();
const peers = new Set<string>();
let revision = 0n;
server.addService(schema, "etcdserverpb.KV", {
  Put: (request: PutRequest, context: { peer: string }) => {
    peers.add(context.peer);
    store.set(new TextDecoder().decode(request.key), request.value);
    return { header: { revision: ++revision } };
  },
  Range: (request: RangeRequest, context: { peer: string }) => {
    peers.add(context.peer);
    const value = store.get(new TextDecoder().decode(request.key));
    return { header: { revision }, kvs: value ? [{ key: request.key, value }] : [] };
  },
});
const { port } = await server.listen("127.0.0.1:0");
console.log(`LISTENING ${port}`);

const MAX_COMMAND_LINES = 100;
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffered = "";
let line_count = 0;
for await (const chunk of lines) {
  buffered += chunk;
  if (buffered.includes("shutdown") || ++line_count > MAX_COMMAND_LINES) break;
}
const { forced } = await server.shutdown();
console.log(`PEERS ${peers.size}`);
console.log(`SHUTDOWN ${forced ? "forced" : "graceful"}`);
Deno.exit(0);
