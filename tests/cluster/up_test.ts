/**
 * `draft up` end to end: starts a local cluster, `kv` and `cluster` commands work against it
 * (tables and `--json`), Ctrl-C stops it cleanly, and a second `up` finds the data again.
 */
import assert from "node:assert/strict";
import { freePort } from "../../blueprint/client/mod.ts";
import { SKIP_REASON } from "./mod.ts";

const MODULE = new URL("../../mod.ts", import.meta.url).pathname;

/** Runs a `draft` command to completion; returns its exit code and output. */
async function draft(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MODULE, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Starts `draft up` and resolves once it printed its endpoints. */
async function up(data_dir: string, client_port: number, raft_port: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MODULE,
      "up",
      "--data",
      data_dir,
      "--client-port",
      String(client_port),
      "--raft-port",
      String(raft_port),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("Ctrl-C stops the cluster.")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`up ended before it was ready; it printed:\n${text}`);
    text += value;
  }
  const stop = async () => {
    child.kill("SIGINT");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    return { status: await child.status, text };
  };
  return { text, stop };
}

Deno.test({
  name:
    "up: starts a local cluster, serves kv and cluster commands (leader transfer too), stops on Ctrl-C, resumes",
  ignore: SKIP_REASON !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const data_dir = await Deno.makeTempDir({ prefix: "draft-up-" });
    // Three consecutive free ports for each role: pick a base and check its neighbours.
    const client_port = consecutiveFreePorts();
    const raft_port = consecutiveFreePorts();
    const endpoints = [0, 1, 2].map((i) => `127.0.0.1:${client_port + i}`).join(",");
    try {
      const first = await up(data_dir, client_port, raft_port);
      assert.match(first.text, new RegExp(`endpoints: ${endpoints.replaceAll(".", "\\.")}`));
      const put = await draft([
        "kv",
        "put",
        "greeting",
        "hello",
        "--endpoints",
        endpoints,
        "--json",
      ]);
      assert.equal(put.code, 0, put.stderr);
      const written = JSON.parse(put.stdout.trim());
      assert.equal(written.key, "greeting");
      assert.ok(Number(written.revision) >= 1);
      const status = await draft(["cluster", "status", "--endpoints", endpoints, "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const rows = status.stdout.trim().split("\n").map((line) => JSON.parse(line));
      assert.equal(rows.length, 3);
      assert.equal(rows.filter((row) => row.is_leader).length, 1, status.stdout);
      // The first leader stored the registry's join token at bootstrap; status shows it.
      assert.match(rows[0].join_token, /^[0-9a-f]{32}$/, status.stdout);
      const follower = rows.find((row) => !row.is_leader);
      const transfer = await draft([
        "cluster",
        "transfer",
        follower.member,
        "--endpoints",
        endpoints,
      ]);
      assert.equal(transfer.code, 0, transfer.stderr + transfer.stdout);
      const after = await draft(["cluster", "status", "--endpoints", endpoints, "--json"]);
      const leaders = after.stdout.trim().split("\n").map((line) => JSON.parse(line))
        .filter((row) => row.is_leader);
      assert.deepEqual(leaders.map((row) => row.member), [follower.member]);
      const members = await draft(["cluster", "members", "--endpoints", endpoints]);
      assert.match(members.stdout, /^ID\s+NAME\s+PEER_URLS/);
      assert.match(members.stdout, /n1/);
      const stopped = await first.stop();
      assert.equal(stopped.status.code, 0, stopped.text);
      assert.match(stopped.text, /stopped; the data stays in/);

      const second = await up(data_dir, client_port, raft_port);
      const get = await draft(["kv", "get", "greeting", "--endpoints", endpoints]);
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, /^KEY\s+VALUE.*\ngreeting\s+hello\s/);
      const missing = await draft(["kv", "get", "nothing-here", "--endpoints", endpoints]);
      assert.equal(missing.code, 1);
      assert.equal((await second.stop()).status.code, 0);

      const unreachable = await draft([
        "kv",
        "get",
        "x",
        "--endpoints",
        `127.0.0.1:${client_port}`,
      ]);
      assert.equal(unreachable.code, 1);
      assert.match(
        unreachable.stderr,
        new RegExp(`Range at 127\\.0\\.0\\.1:${client_port} failed`),
      );
    } finally {
      await Deno.remove(data_dir, { recursive: true }).catch(() => {});
    }
  },
});

function consecutiveFreePorts(): number {
  for (let tries = 0; tries < 50; tries++) {
    const base = freePort();
    const listeners: Deno.Listener[] = [];
    try {
      for (let i = 1; i < 3; i++) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
      }
      return base;
    } catch {
      // a neighbour is taken; try another base
    } finally {
      for (const listener of listeners) listener.close();
    }
  }
  throw new Error("no 3 consecutive free ports found in 50 tries");
}
