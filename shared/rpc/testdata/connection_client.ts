/**
 * A client process for the connection regression test (tests/grpc_connection_test.ts).
 *
 * Usage: `connection_client.ts <host:port> <calls> close|hold`. Makes `calls` unary calls
 * (puts and gets, 8 at a time) on one channel and prints `CALLS <n>`. Then:
 * - `close`: closes the channel, lets the event loop run a moment, exits 0;
 * - `hold`: keeps the channel, prints `STATE <name>` when its connection leaves READY (the
 *   server went away), and on an `exit` line on stdin closes the channel and exits 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { grpc } from "../../../deps.ts";
import { loadEtcdSchema, methodOf } from "../../proto/mod.ts";
import { RpcChannel } from "../mod.ts";

const { positionals } = parseArgs({ args: Deno.args, allowPositionals: true });
const [address, calls_text, mode] = positionals;
const calls = Number(calls_text);
if (
  !address || !Number.isSafeInteger(calls) || calls < 1 || (mode !== "close" && mode !== "hold")
) {
  console.error("usage: connection_client.ts <host:port> <calls: 1+> close|hold");
  Deno.exit(2);
}

const schema = await loadEtcdSchema();
const kv = schema.service("etcdserverpb.KV");
const put = methodOf(kv, "Put");
const range = methodOf(kv, "Range");
const channel = new RpcChannel(address, { default_deadline_ms: 10_000 });
const encoder = new TextEncoder();
// A few calls in flight at once: the same 600 calls on the one connection, in less time.
const IN_FLIGHT = 8;
let next_call = 0;
async function callLoop(): Promise<void> {
  while (next_call < calls) {
    const i = next_call++;
    const key = encoder.encode(`key-${i % 16}`);
    if (i % 2 === 0) await channel.unary(put, { key, value: encoder.encode(`value-${i}`) });
    else await channel.unary(range, { key });
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, callLoop));
console.log(`CALLS ${calls}`);

if (mode === "close") {
  channel.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
  Deno.exit(0);
}

const grpc_channel = channel.client.getChannel();
const watchState = (state: grpc.connectivityState) => {
  grpc_channel.watchConnectivityState(state, Infinity, () => {
    const now = grpc_channel.getConnectivityState(false);
    console.log(`STATE ${grpc.connectivityState[now]}`);
    if (now === grpc.connectivityState.READY) watchState(now);
  });
};
watchState(grpc_channel.getConnectivityState(false));

const MAX_COMMAND_LINES = 100;
let buffered = "";
let line_count = 0;
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buffered += chunk;
  if (buffered.includes("exit") || ++line_count > MAX_COMMAND_LINES) break;
}
channel.close();
await new Promise((resolve) => setTimeout(resolve, 100));
Deno.exit(0);
