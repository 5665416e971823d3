/**
 * Regression test for the runtime fact in DESIGN.md: Deno 2.9.4 to 2.9.6 crash inside
 * `node:http2` when a connection that has carried more than ~120 calls receives GOAWAY. A
 * server and a client run as separate Deno processes (so a crash shows as an exit code or a
 * signal), make 600 unary calls on one connection, and then
 * (a) the client closes its channel, and, separately,
 * (b) the server shuts down while the client holds the connection.
 * Neither process may crash; both must exit 0.
 *
 * Checked against the bug: run under Deno 2.9.5, case (b) fails because the client aborts with
 * nghttp2's assertion `stream->closed_next == NULL` in `find_stream_on_goaway_func`; under the
 * pinned 2.9.3 both cases pass.
 *
 * The processes run with the permissions the RPC layer documents, not -A, so that the list
 * stays true.
 */
import { ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";

const CALLS = 600;
const TESTDATA = new URL("../shared/rpc/testdata/", import.meta.url);
const PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-sys=uid,gid"];
/** A guard against hangs, not a speed assertion: each wait fails the test after this long. */
const HANG_GUARD_MS = 30_000;

/** A Deno subprocess whose stdout is read line by line and whose stdin takes commands. */
class Program {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #stderr = "";
  readonly #stdout_done: Promise<void>;
  readonly #stderr_done: Promise<void>;

  constructor(readonly name: string, script: string, args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, fileURLToPath(new URL(script, TESTDATA)), ...args],
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#stdout_done = this.#readStdout();
    this.#stderr_done = this.#readStderr();
  }

  /** Waits for a stdout line matching `pattern` and returns its match. */
  async waitForLine(pattern: RegExp): Promise<RegExpMatchArray> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (Date.now() < deadline) {
      for (const line of this.#lines) {
        const match = line.match(pattern);
        if (match) return match;
      }
      const status = await Promise.race([
        new Promise<"line">((resolve) => this.#waiters.push(() => resolve("line"))),
        this.#child.status.then(() => "exited" as const),
        sleep(1000).then(() => "tick" as const),
      ]);
      if (status === "exited" && !this.#lines.some((line) => pattern.test(line))) {
        await this.#stdout_done;
        if (!this.#lines.some((line) => pattern.test(line))) break;
      }
    }
    throw new Error(`${this.name}: no line matching ${pattern}\n${this.describe()}`);
  }

  /** Sends one line to stdin. */
  async send(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /** Waits for the exit; kills the process and fails if it does not come. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await Promise.race([this.#child.status, sleep(HANG_GUARD_MS)]);
    if (!status) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
      throw new Error(`${this.name} did not exit\n${this.describe()}`);
    }
    await Promise.all([this.#stdout_done, this.#stderr_done]);
    await this.#writer.close().catch(() => {});
    return status;
  }

  /** True while the process runs. */
  async running(): Promise<boolean> {
    return await Promise.race([this.#child.status.then(() => false), sleep(0).then(() => true)]);
  }

  /** Stops a leftover process (test cleanup). */
  async kill(): Promise<void> {
    if (await this.running()) this.#child.kill("SIGKILL");
    await this.#child.status;
    await Promise.all([this.#stdout_done, this.#stderr_done]);
    await this.#writer.close().catch(() => {});
  }

  describe(): string {
    return `--- ${this.name} stdout:\n${this.#lines.join("\n")}\n--- stderr:\n${this.#stderr}`;
  }

  async #readStdout(): Promise<void> {
    let pending = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      this.#lines.push(...parts);
      const waiters = this.#waiters;
      this.#waiters = [];
      waiters.forEach((wake) => wake());
    }
    if (pending) this.#lines.push(pending);
  }

  async #readStderr(): Promise<void> {
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr += chunk;
    }
  }
}

function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

function assertCleanExit(program: Program, status: Deno.CommandStatus): void {
  strictEqual(status.signal, null, `${program.name} died of a signal\n${program.describe()}`);
  strictEqual(status.code, 0, `${program.name} exited ${status.code}\n${program.describe()}`);
}

async function startServer(): Promise<{ server: Program; address: string }> {
  const server = new Program("server", "connection_server.ts", []);
  const [, port] = await server.waitForLine(/^LISTENING (\d+)$/);
  return { server, address: `127.0.0.1:${port}` };
}

Deno.test(`gRPC: ${CALLS} calls on one connection, then the client closes it`, async () => {
  const { server, address } = await startServer();
  let client: Program | undefined;
  try {
    client = new Program("client", "connection_client.ts", [address, String(CALLS), "close"]);
    await client.waitForLine(new RegExp(`^CALLS ${CALLS}$`));
    assertCleanExit(client, await client.exit());
    // The server received the client's GOAWAY; it must still be alive and shut down cleanly.
    ok(await server.running(), `the server died after the client closed\n${server.describe()}`);
    await server.send("shutdown");
    await server.waitForLine(/^PEERS 1$/); // every call went over the one connection
    assertCleanExit(server, await server.exit());
  } finally {
    await client?.kill();
    await server.kill();
  }
});

Deno.test(`gRPC: ${CALLS} calls on one connection, then the server shuts down`, async () => {
  const { server, address } = await startServer();
  let client: Program | undefined;
  try {
    client = new Program("client", "connection_client.ts", [address, String(CALLS), "hold"]);
    await client.waitForLine(new RegExp(`^CALLS ${CALLS}$`));
    await server.send("shutdown");
    await server.waitForLine(/^SHUTDOWN graceful$/);
    assertCleanExit(server, await server.exit());
    // The client received the server's GOAWAY: its connection left READY, and it lives on.
    await client.waitForLine(/^STATE (IDLE|CONNECTING|TRANSIENT_FAILURE)$/);
    ok(await client.running(), `the client died after the server left\n${client.describe()}`);
    await client.send("exit");
    assertCleanExit(client, await client.exit());
  } finally {
    await client?.kill();
    await server.kill();
  }
});
