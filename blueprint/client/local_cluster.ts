/**
 * A local cluster of real server processes on loopback: Blueprint nodes (`mod.ts blueprint`)
 * or etcd members (the `etcd` binary), each with its own data directory and log file, with the
 * controls tests need (kill -9, pause and resume, restart, wipe, add and remove a member).
 *
 * Used by `draft up`, the cluster tests and the benchmark. Readiness is judged the same way
 * for both kinds: the member answers Maintenance.Status.
 *
 * @module
 */
import { join } from "node:path";
import { BlueprintClient, type LeaderInfo, sleep } from "./blueprint_client.ts";
import { runtimeEnv } from "../../shared/runtime/mod.ts";

/** Which server the processes run. */
export type ClusterFlavor = "blueprint" | "etcd";

/** Options of {@link LocalCluster.start}. */
export interface LocalClusterOptions {
  /** The server. Default `"blueprint"`. */
  readonly flavor?: ClusterFlavor;
  /** Directory holding one data directory and one log file per member. */
  readonly data_dir: string;
  /** Number of members, 1 to {@link MAX_LOCAL_MEMBERS}. Default 3. */
  readonly size?: number;
  /** Loopback host. Default `127.0.0.1`. */
  readonly host?: string;
  /**
   * Fixed ports: member i (from 0) gets `client_port + i` and `raft_port + i`. Without it,
   * free ports are picked.
   */
  readonly ports?: { readonly client_port: number; readonly raft_port: number };
  /** How long each member may take to answer, in ms. Default 30 s. */
  readonly ready_timeout_ms?: number;
  /** The `etcd` binary. Default `etcd` (from the PATH). */
  readonly etcd_binary?: string;
  /** Arguments added to every member's command line, e.g. `["--snapshot-every", "50"]`. */
  readonly extra_args?: readonly string[];
  /** Blueprint's entry module. Default this repository's `mod.ts`. */
  readonly blueprint_module?: string;
  /**
   * Deno flags for Blueprint members, placed before the module, e.g.
   * `["--cpu-prof-dir=/tmp/prof"]` to profile them (written when a member stops) or
   * `["--v8-flags=--max-old-space-size=512"]`. Ignored for etcd.
   */
  readonly runtime_args?: readonly string[];
}

/** One member of a {@link LocalCluster}. */
export interface LocalMember {
  /** Its name (`n1`, `n2`, ...). */
  readonly name: string;
  /** Its client address, `host:port`. */
  readonly client_address: string;
  /** Its Raft (peer) address, `host:port`. */
  readonly raft_address: string;
  /** Its data directory. */
  readonly data_dir: string;
  /** Its log file (stdout and stderr). */
  readonly log_file: string;
  /** Whether it started as a new member joining a running cluster. */
  readonly joined: boolean;
}

/** The client port of the first member `draft up` starts; the others follow. */
export const UP_CLIENT_PORT = 2221;

/** The Raft port of the first member `draft up` starts; the others follow. */
export const UP_RAFT_PORT = 1111;

/** The endpoints of the cluster `draft up` starts: the CLI's default `--endpoints`. */
export const DEFAULT_LOCAL_ENDPOINTS = "127.0.0.1:2221,127.0.0.1:2222,127.0.0.1:2223";

/** The most members a local cluster may have. */
export const MAX_LOCAL_MEMBERS = 7;

interface RunningMember extends LocalMember {
  child: Deno.ChildProcess | undefined;
  exited: Promise<Deno.CommandStatus> | undefined;
}

const reserved_ports = new Set<number>();

/**
 * Picks a free loopback port (not handed out before by this process).
 *
 * @param host the address to bind
 */
export function freePort(host = "127.0.0.1"): number {
  for (let tries = 0; tries < 100; tries++) {
    const listener = Deno.listen({ hostname: host, port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    if (!reserved_ports.has(port)) {
      reserved_ports.add(port);
      return port;
    }
  }
  throw new Error(`no free port found on ${host} in 100 tries`);
}

/**
 * A running local cluster.
 *
 * @example
 * ```ts
 * const cluster = await LocalCluster.start({ data_dir: await Deno.makeTempDir() });
 * const leader = await cluster.waitForLeader(10_000);
 * await cluster.kill(leader.name);
 * await cluster.stop();
 * ```
 */
export class LocalCluster {
  /** The server the members run. */
  readonly flavor: ClusterFlavor;
  readonly #options: LocalClusterOptions;
  readonly #members: RunningMember[] = [];
  readonly #host: string;
  readonly #ready_timeout_ms: number;
  #next_name = 1;

  private constructor(options: LocalClusterOptions) {
    this.flavor = options.flavor ?? "blueprint";
    if (this.flavor !== "blueprint" && this.flavor !== "etcd") {
      throw new RangeError(`flavor is ${this.flavor}; allowed: "blueprint" or "etcd"`);
    }
    this.#options = options;
    this.#host = options.host ?? "127.0.0.1";
    this.#ready_timeout_ms = options.ready_timeout_ms ?? 30_000;
  }

  /**
   * Starts every member (reusing data already in `data_dir`) and waits until each answers.
   * Stops what it started when one fails, and says which and why (with its log's tail).
   *
   * @param options flavor, size, directory, ports
   */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(options);
    const size = options.size ?? 3;
    if (!Number.isSafeInteger(size) || size < 1 || size > MAX_LOCAL_MEMBERS) {
      throw new RangeError(`size is ${size}; allowed: 1 to ${MAX_LOCAL_MEMBERS}`);
    }
    await Deno.mkdir(options.data_dir, { recursive: true });
    for (let index = 0; index < size; index++) cluster.#define(index, false);
    try {
      for (const member of cluster.#members) await cluster.#spawn(member, "new");
      await Promise.all(cluster.#members.map((member) => cluster.#waitServing(member)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The members, including stopped ones. */
  get members(): readonly LocalMember[] {
    return this.#members;
  }

  /** Client addresses of every member. */
  get endpoints(): string[] {
    return this.#members.map((member) => member.client_address);
  }

  /**
   * A member by name; throws naming the members there are.
   *
   * @param name the member's name
   */
  member(name: string): LocalMember {
    return this.#find(name);
  }

  /**
   * The process id of a running member, or undefined when it is stopped (to measure its CPU
   * and memory from outside).
   *
   * @param name the member
   */
  pid(name: string): number | undefined {
    return this.#find(name).child?.pid;
  }

  /** Whether a member's process is running. */
  isRunning(name: string): boolean {
    return this.#find(name).child !== undefined;
  }

  /**
   * Waits until a running member names a leader that is running, and returns it.
   *
   * @param timeout_ms how long to wait
   * @param excluding a member that must not be the answer (e.g. the one just killed)
   */
  async waitForLeader(
    timeout_ms: number,
    excluding?: string,
  ): Promise<LeaderInfo & { name: string }> {
    const client = await BlueprintClient.connect({
      endpoints: this.#running().map((member) => member.client_address),
      attempt_timeout_ms: 1_000,
    });
    const deadline = Date.now() + timeout_ms;
    let last = "no member answered";
    try {
      while (Date.now() < deadline) {
        try {
          const leader = await client.findLeader({ deadline_ms: 1_000 });
          const member = this.#members.find((m) => m.client_address === leader.endpoint);
          if (member?.child && member.name !== excluding) return { ...leader, name: member.name };
          last = `leader ${leader.endpoint} is ${member ? "excluded or stopped" : "unknown"}`;
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
        await sleep(100);
      }
    } finally {
      client.close();
    }
    throw new Error(`no leader within ${timeout_ms} ms: ${last}`);
  }

  /**
   * Sends `signal` to a member's process; for SIGKILL and SIGTERM waits until it exited.
   *
   * @param name the member
   * @param signal the signal; default SIGKILL
   */
  async kill(name: string, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const member = this.#find(name);
    const child = member.child;
    if (child === undefined) return;
    if (signal === "SIGKILL" || signal === "SIGTERM") {
      try {
        child.kill("SIGCONT"); // a paused process cannot handle SIGTERM
        child.kill(signal);
      } catch {
        // already exited
      }
      await member.exited;
      member.child = undefined;
      return;
    }
    child.kill(signal);
  }

  /** Pauses a member's process (SIGSTOP). */
  pause(name: string): Promise<void> {
    return this.kill(name, "SIGSTOP");
  }

  /** Resumes a paused member's process (SIGCONT). */
  resume(name: string): Promise<void> {
    return this.kill(name, "SIGCONT");
  }

  /**
   * Starts a stopped member again with its data, and waits until it answers.
   *
   * @param name the member
   */
  async restart(name: string): Promise<void> {
    const member = this.#find(name);
    if (member.child !== undefined) throw new Error(`member ${name} is running; kill it first`);
    await this.#spawn(member, member.joined ? "join" : "existing");
    await this.#waitServing(member);
  }

  /**
   * Kills a member and deletes its data directory (restart it to see it rejoin).
   *
   * @param name the member
   */
  async wipe(name: string): Promise<void> {
    const member = this.#find(name);
    await this.kill(name, "SIGKILL");
    await Deno.remove(member.data_dir, { recursive: true }).catch(() => {});
  }

  /**
   * Adds a member to the running cluster and starts it: Blueprint's node joins by itself
   * (`--join`); an etcd member is first added with MemberAdd.
   */
  async addMember(): Promise<LocalMember> {
    const running = this.#running();
    if (running.length === 0) throw new Error("no member running to join through");
    if (this.#members.length >= MAX_LOCAL_MEMBERS) {
      throw new Error(
        `the cluster has ${this.#members.length} members; the limit is ${MAX_LOCAL_MEMBERS}`,
      );
    }
    const member = this.#define(this.#members.length, true);
    if (this.flavor === "etcd") {
      const client = await BlueprintClient.connect({
        endpoints: this.endpoints,
        deadline_ms: 30_000,
        max_attempts: 50,
      });
      try {
        await client.memberAdd([`http://${member.raft_address}`]);
      } finally {
        client.close();
      }
    }
    await this.#spawn(member, "join");
    await this.#waitServing(member);
    return member;
  }

  /**
   * Removes a member from the cluster (MemberRemove through another member), then stops it.
   *
   * @param name the member
   */
  async removeMember(name: string): Promise<void> {
    const member = this.#find(name);
    const others = this.#running().filter((m) => m !== member).map((m) => m.client_address);
    const client = await BlueprintClient.connect({
      endpoints: others,
      deadline_ms: 30_000,
      max_attempts: 50,
    });
    try {
      const members = await client.memberList();
      const found = members.find((m) => m.name === name);
      if (found === undefined) throw new Error(`member ${name} is not in the member list`);
      await client.memberRemove(found.ID);
    } finally {
      client.close();
    }
    await this.kill(name, "SIGTERM");
  }

  /** Stops every member: SIGTERM, then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    await Promise.all(this.#members.map(async (member) => {
      if (member.child === undefined) return;
      try {
        member.child.kill("SIGCONT");
        member.child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const timer = setTimeout(() => {
        try {
          member.child?.kill("SIGKILL");
        } catch {
          // already exited
        }
      }, 5_000);
      await member.exited;
      clearTimeout(timer);
      member.child = undefined;
    }));
  }

  /**
   * The last `max_lines` lines of a member's log (for failure messages).
   *
   * @param name the member
   * @param max_lines how many lines
   */
  async logTail(name: string, max_lines = 20): Promise<string> {
    try {
      const text = await Deno.readTextFile(this.#find(name).log_file);
      return text.trimEnd().split("\n").slice(-max_lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  #define(index: number, joined: boolean): RunningMember {
    const name = `n${this.#next_name++}`;
    const ports = this.#options.ports;
    const client_port = ports ? ports.client_port + index : freePort(this.#host);
    const raft_port = ports ? ports.raft_port + index : freePort(this.#host);
    const member: RunningMember = {
      name,
      client_address: `${this.#host}:${client_port}`,
      raft_address: `${this.#host}:${raft_port}`,
      data_dir: join(this.#options.data_dir, name),
      log_file: join(this.#options.data_dir, `${name}.log`),
      joined,
      child: undefined,
      exited: undefined,
    };
    this.#members.push(member);
    return member;
  }

  #running(): RunningMember[] {
    return this.#members.filter((member) => member.child !== undefined);
  }

  #find(name: string): RunningMember {
    const member = this.#members.find((m) => m.name === name);
    if (member === undefined) {
      throw new RangeError(
        `no member ${name}; members: ${this.#members.map((m) => m.name).join(", ")}`,
      );
    }
    return member;
  }

  async #spawn(member: RunningMember, state: "new" | "existing" | "join"): Promise<void> {
    const [command, args] = this.flavor === "etcd"
      ? [this.#options.etcd_binary ?? "etcd", this.#etcdArgs(member, state)]
      : [Deno.execPath(), this.#blueprintArgs(member, state)];
    const log = await Deno.open(member.log_file, { create: true, append: true });
    const child = new Deno.Command(command, {
      args: [...args, ...(this.#options.extra_args ?? [])],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Blueprint members get the runtime's memory settings; etcd ignores them.
      env: { ...runtimeEnv(), NO_COLOR: "1" },
    }).spawn();
    const log_writer = log.writable.getWriter();
    const copy = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) await log_writer.write(chunk);
    };
    const copied = Promise.all([copy(child.stdout), copy(child.stderr)]);
    member.child = child;
    member.exited = child.status.then(async (status) => {
      await copied.catch(() => {});
      await log_writer.close().catch(() => {});
      return status;
    });
  }

  #blueprintArgs(member: RunningMember, state: "new" | "existing" | "join"): string[] {
    const module = this.#options.blueprint_module ??
      new URL("../../mod.ts", import.meta.url).pathname;
    const args = [
      "run",
      "-A",
      ...(this.#options.runtime_args ?? []),
      module,
      "blueprint",
      "--id",
      member.name,
      "--data",
      member.data_dir,
      "--client-addr",
      member.client_address,
      "--raft-addr",
      member.raft_address,
    ];
    if (state === "join") {
      const through = this.#running().find((m) => m !== member);
      if (through === undefined) throw new Error(`no running member for ${member.name} to join`);
      args.push("--join", through.client_address);
    } else {
      const initial = this.#members.filter((m) => !m.joined)
        .map((m) => `${m.name}=${m.raft_address}`).join(",");
      args.push("--initial-cluster", initial);
    }
    return args;
  }

  #etcdArgs(member: RunningMember, state: "new" | "existing" | "join"): string[] {
    const in_cluster = this.#members.filter((m) => !m.joined || m === member || m.child);
    const initial = in_cluster.map((m) => `${m.name}=http://${m.raft_address}`).join(",");
    return [
      "--name",
      member.name,
      "--data-dir",
      member.data_dir,
      "--listen-client-urls",
      `http://${member.client_address}`,
      "--advertise-client-urls",
      `http://${member.client_address}`,
      "--listen-peer-urls",
      `http://${member.raft_address}`,
      "--initial-advertise-peer-urls",
      `http://${member.raft_address}`,
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      state === "new" ? "new" : "existing",
      "--initial-cluster-token",
      "draft-local",
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
    ];
  }

  async #waitServing(member: RunningMember): Promise<void> {
    const client = await BlueprintClient.connect({ endpoints: [member.client_address] });
    const deadline = Date.now() + this.#ready_timeout_ms;
    let last = "";
    let exited = false;
    member.exited?.then(() => (exited = true));
    try {
      while (Date.now() < deadline && !exited) {
        try {
          await client.status(member.client_address, { deadline_ms: 1_000 });
          return;
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
        await sleep(100);
      }
    } finally {
      client.close();
    }
    const why = exited
      ? `exited with ${(await member.exited)?.code}`
      : `did not answer within ${this.#ready_timeout_ms} ms (${last})`;
    throw new Error(
      `${this.flavor} member ${member.name} at ${member.client_address} ${why}; log ${member.log_file}:\n${await this
        .logTail(member.name)}`,
    );
  }
}
