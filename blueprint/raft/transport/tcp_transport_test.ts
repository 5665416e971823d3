import assert from "node:assert/strict";
import { TcpTransport, type TcpTransportOptions } from "./mod.ts";
import { encodeHelloFrame } from "./frame_codec.ts";

const HOST = "127.0.0.1";
const FAST_BACKOFF = { initial_delay_ms: 10, max_delay_ms: 100 };

interface Node {
  transport: TcpTransport;
  received: { from: string; text: string }[];
  logs: string[];
  port: number;
}

function startNode(
  id: string,
  port: number,
  peers: Record<string, number>,
  extra: Partial<TcpTransportOptions> = {},
): Node {
  const received: { from: string; text: string }[] = [];
  const logs: string[] = [];
  const transport = new TcpTransport({
    cluster_id: "test-cluster",
    node_id: id,
    listen: { hostname: HOST, port },
    peers: Object.fromEntries(
      Object.entries(peers).map(([peer, p]) => [peer, { hostname: HOST, port: p }]),
    ),
    on_message: (from, payload) => received.push({ from, text: new TextDecoder().decode(payload) }),
    backoff: FAST_BACKOFF,
    log: (line) => logs.push(line),
    ...extra,
  });
  return { transport, received, logs, port: transport.start().port };
}

/** Polls `condition` every 5 ms, up to `limit_ms`; fails with `what` (a liveness check, not timing). */
async function eventually(what: string, condition: () => boolean, limit_ms = 10_000) {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited >= limit_ms) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("TcpTransport", async (t) => {
  await t.step("delivers many messages in order, tagged with the sender", async () => {
    const b = startNode("b", 0, {});
    const a = startNode("a", 0, { b: b.port });
    for (let i = 0; i < 2000; i++) assert.ok(a.transport.send("b", text(`m${i}`)));
    await eventually("2000 messages", () => b.received.length === 2000);
    assert.deepEqual(
      b.received.map((m) => m.text),
      Array.from({ length: 2000 }, (_, i) => `m${i}`),
    );
    assert.ok(b.received.every((m) => m.from === "a"));
    assert.equal(a.transport.send("nobody", text("x")), false);
    await a.transport.stop();
    await b.transport.stop();
  });

  await t.step("reconnects after the peer restarts, logging once each way", async () => {
    let b = startNode("b", 0, {});
    const port = b.port;
    const unreachable: string[] = [];
    const a = startNode("a", 0, { b: port }, { on_unreachable: (peer) => unreachable.push(peer) });
    a.transport.send("b", text("before"));
    await eventually("first message", () => b.received.length === 1);
    await b.transport.stop();
    // While b is down a's messages are lost or dropped; Raft would retry them.
    await eventually("a notices b is gone", () => a.logs.some((l) => /peer b/.test(l)));
    for (let i = 0; i < 5; i++) a.transport.send("b", text(`lost${i}`));
    b = startNode("b", port, {});
    await eventually("a reconnects", () => {
      a.transport.send("b", text("after"));
      return b.received.some((m) => m.text === "after");
    });
    assert.equal(a.logs.filter((l) => /unreachable/.test(l)).length, 1, a.logs.join("\n"));
    assert.equal(a.logs.filter((l) => /reachable again/.test(l)).length, 1, a.logs.join("\n"));
    assert.ok(a.transport.stats().peers.b.connects >= 2);
    assert.ok(unreachable.length >= 1 && unreachable.every((peer) => peer === "b"));
    await a.transport.stop();
    await b.transport.stop();
  });

  await t.step("an oversized frame closes the connection with a clear log line", async () => {
    const b = startNode("b", 0, {}, { max_frame_bytes: 1024 });
    const conn = await Deno.connect({ hostname: HOST, port: b.port });
    await conn.write(encodeHelloFrame({ cluster_id: "test-cluster", sender_id: "evil" }));
    await conn.write(new Uint8Array([0x00, 0x00, 0x10, 0x00, 2])); // announces 1 MiB
    const closed = await conn.read(new Uint8Array(8)).catch(() => null);
    assert.equal(closed, null);
    conn.close();
    await eventually("log line", () => b.logs.length > 0);
    assert.match(b.logs[0], /from evil: frame of 1048575 bytes exceeds the limit of 1024/);
    assert.equal(b.received.length, 0);
    await b.transport.stop();
  });

  await t.step("a peer from another cluster is refused", async () => {
    const b = startNode("b", 0, {});
    const a = startNode("a", 0, { b: b.port }, { cluster_id: "other" });
    a.transport.send("b", text("hi"));
    await eventually("refusal logged", () => b.logs.some((l) => /cluster "other"/.test(l)));
    assert.equal(b.received.length, 0);
    await a.transport.stop();
    await b.transport.stop();
  });

  await t.step("the queue toward a dead peer stays bounded and counts drops", async () => {
    const listener = Deno.listen({ hostname: HOST, port: 0 });
    const dead_port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const a = startNode("a", 0, { b: dead_port }, { max_queue_messages: 100 });
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (a.transport.send("b", text("x"))) accepted++;
    const stats = a.transport.stats().peers.b;
    assert.ok(accepted <= 100, `accepted ${accepted}`);
    assert.ok(stats.queued <= 100);
    assert.ok(stats.dropped >= 900, `dropped ${stats.dropped}`);
    await a.transport.stop();
  });
});
