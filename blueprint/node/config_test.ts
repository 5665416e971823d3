import assert from "node:assert/strict";
import {
  ConfigError,
  DEFAULT_NODE_CONFIG,
  parseHostPort,
  parseInitialCluster,
  resolveNodeConfig,
} from "./config.ts";

const BASE = { id: "n1", data: "/tmp/n1" };

Deno.test("config: defaults fill what no source sets", () => {
  const config = resolveNodeConfig({ flags: BASE });
  assert.equal(config.client_address, DEFAULT_NODE_CONFIG.client_address);
  assert.equal(config.request_timeout_ms, 5000);
  assert.deepEqual(config.initial_cluster, { n1: DEFAULT_NODE_CONFIG.raft_address });
});

Deno.test("config: flags beat environment, environment beats the file", () => {
  const config = resolveNodeConfig({
    flags: { ...BASE, "client-addr": "127.0.0.1:1" },
    env: { DRAFT_CLIENT_ADDR: "127.0.0.1:2", DRAFT_RAFT_ADDR: "127.0.0.1:3", DRAFT_TICK_MS: "50" },
    file: {
      path: "c.json",
      value: { client_address: "127.0.0.1:4", raft_address: "127.0.0.1:5", election_tick: 20 },
    },
  });
  assert.equal(config.client_address, "127.0.0.1:1");
  assert.equal(config.raft_address, "127.0.0.1:3");
  assert.equal(config.tick_ms, 50);
  assert.equal(config.election_tick, 20);
});

Deno.test("config: the file alone can name the member and its cluster", () => {
  const config = resolveNodeConfig({
    file: {
      path: "c.json",
      value: { id: "n2", data_dir: "/d", initial_cluster: { n1: "a:1", n2: "b:2" } },
    },
  });
  assert.equal(config.id, "n2");
  assert.deepEqual(config.initial_cluster, { n1: "a:1", n2: "b:2" });
});

Deno.test("config: initial cluster parses and refuses bad entries", () => {
  assert.deepEqual(parseInitialCluster("n1=127.0.0.1:1,n2=http://127.0.0.1:2", "x"), {
    n1: "127.0.0.1:1",
    n2: "127.0.0.1:2",
  });
  assert.throws(() => parseInitialCluster("n1", "--initial-cluster"), /not name=host:port/);
  assert.throws(() => parseInitialCluster("n1=a:1,n1=a:2", "x"), /listed twice/);
  assert.throws(
    () => resolveNodeConfig({ flags: { ...BASE, "initial-cluster": "n2=a:1" } }),
    /does not list this member "n1"/,
  );
  // A joining member need not be listed.
  const joining = resolveNodeConfig({
    flags: { ...BASE, "initial-cluster": "n2=a:1", join: "127.0.0.1:2379" },
  });
  assert.equal(joining.join, "127.0.0.1:2379");
});

Deno.test("config: every bad value names its source and what is allowed", () => {
  const cases: [Parameters<typeof resolveNodeConfig>[0], RegExp][] = [
    [{ flags: { data: "/d" } }, /member name is missing: give --id/],
    [{ flags: { id: "n1" } }, /data directory is missing/],
    [{ flags: { ...BASE, "tick-ms": "fast" } }, /--tick-ms is "fast"; allowed: an integer from 1/],
    [{ flags: { ...BASE }, env: { DRAFT_TICK_MS: "0" } }, /DRAFT_TICK_MS is 0; allowed/],
    [{ flags: { ...BASE, "client-addr": "nowhere" } }, /client address .* host:port/],
    [{ flags: { ...BASE, bogus: "1" } }, /unknown flag --bogus/],
    [{ flags: BASE, file: { path: "c.json", value: { nope: 1 } } }, /c.json: unknown key "nope"/],
    [{ flags: BASE, file: { path: "c.json", value: [] } }, /must hold a JSON object/],
    [{ flags: BASE, file: { path: "c.json", value: { tick_ms: "1" } } }, /"tick_ms" must be an/],
    [{ flags: { ...BASE, id: "bad name" } }, /--id is "bad name"/],
    [
      { flags: { ...BASE, "max-request-bytes": "2048", "max-value-bytes": "4096" } },
      /max_request_bytes \(2048\) must hold a key and a value/,
    ],
  ];
  for (const [sources, pattern] of cases) {
    assert.throws(() => resolveNodeConfig(sources), (error: Error) => {
      assert.ok(error instanceof ConfigError, `${error}`);
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("config: host:port parsing", () => {
  assert.deepEqual(parseHostPort("http://[::1]:80", "x"), { hostname: "::1", port: 80 });
  assert.throws(() => parseHostPort("a:70000", "peer"), /peer is "a:70000"/);
});
