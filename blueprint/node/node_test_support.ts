/**
 * Helpers for the node tests: free ports, in-process members with fast Raft timings, and an
 * etcd client over the node's gRPC API.
 *
 * @module
 */
import { join } from "node:path";
import { loadEtcdSchema, methodOf, type ProtoSchema } from "../../shared/proto/mod.ts";
import { RpcChannel } from "../../shared/rpc/mod.ts";
import { BlueprintNode } from "./blueprint_node.ts";
import { type NodeConfig, resolveNodeConfig } from "./config.ts";

/** UTF-8 bytes of `text`. */
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
/** Text of UTF-8 `data`. */
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** `count` distinct free loopback ports (bound and released; a later bind may race). */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Polls `condition` every 20 ms up to `limit_ms` (a liveness bound, not a timing assertion). */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  limit_ms = 20_000,
): Promise<void> {
  for (let waited = 0; !(await condition()); waited += 20) {
    if (waited >= limit_ms) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A member's configuration with fast Raft timings. */
export function testConfig(
  dir: string,
  id: string,
  cluster: Record<string, string>,
  client_port: number,
  extra: Record<string, string> = {},
): NodeConfig {
  return resolveNodeConfig({
    flags: {
      id,
      data: join(dir, id),
      "client-addr": `127.0.0.1:${client_port}`,
      "raft-addr": cluster[id] ?? extra["raft-addr"],
      "initial-cluster": Object.entries(cluster).map(([n, a]) => `${n}=${a}`).join(","),
      "tick-ms": "20",
      "election-tick": "10",
      "request-timeout-ms": "4000",
      ...extra,
    },
  });
}

/** Starts a member with a seed derived from its name (elections replay the same way). */
export function startMember(config: NodeConfig): Promise<BlueprintNode> {
  const seed = [...config.id].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 7) % 100_000;
  return BlueprintNode.start(config, {
    raft_seed: seed,
    log: Deno.env.get("BLUEPRINT_TEST_LOG") ? console.error : undefined,
  });
}

/** An etcd API client of one member. */
export class EtcdTestClient {
  readonly channel: RpcChannel;

  private constructor(readonly schema: ProtoSchema, readonly address: string) {
    this.channel = new RpcChannel(address, { default_deadline_ms: 8000 });
  }

  /** A client of `address`. */
  static async connect(address: string): Promise<EtcdTestClient> {
    return new EtcdTestClient(await loadEtcdSchema(), address);
  }

  /** Calls `service.method` (service without the `etcdserverpb.` prefix). */
  // deno-lint-ignore no-explicit-any
  call(service: string, method: string, request: unknown): Promise<any> {
    return this.channel.unary(
      methodOf(this.schema.service(`etcdserverpb.${service}`), method),
      request as never,
    );
  }

  /** Opens a bidirectional stream of `service.method`. */
  stream(service: string, method: string) {
    return this.channel.bidiStream(
      methodOf(this.schema.service(`etcdserverpb.${service}`), method),
    );
  }

  /** Closes the channel. */
  close(): void {
    this.channel.close();
  }
}
