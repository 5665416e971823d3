/**
 * `draft up`: starts a local 3-node Blueprint cluster as child processes under a data
 * directory, waits for a leader, prints the endpoints, and stops the nodes cleanly on Ctrl-C.
 * A second `up` with the same directory resumes with the data.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type ClusterFlavor,
  LocalCluster,
  UP_CLIENT_PORT,
  UP_RAFT_PORT,
} from "../blueprint/client/mod.ts";
import { parseInteger } from "./kv_command.ts";
import { UsageError } from "./output.ts";

const USAGE = `usage: deno run -A mod.ts up [options]   (or: deno task up)

Starts Blueprint nodes n1, n2, n3 on 127.0.0.1 (clients: ports ${UP_CLIENT_PORT}-${
  UP_CLIENT_PORT + 2
}, Raft: ${UP_RAFT_PORT}-${UP_RAFT_PORT + 2}), each logging
to DIR/nN.log, and stops them on Ctrl-C. Run it again to resume with the same data.

options:
  --data DIR            where the nodes keep their data (default ./data)
  --size N              number of nodes, 1 to 7 (default 3)
  --client-port P       client port of n1; the others follow (default ${UP_CLIENT_PORT})
  --raft-port P         Raft port of n1; the others follow (default ${UP_RAFT_PORT})
  --etcd                run etcd members instead (for comparison; needs etcd on the PATH)
  --leader-timeout-ms N how long to wait for a leader (default 30000)`;

/** Runs `draft up`; returns the exit code after Ctrl-C. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      data: { type: "string", default: "./data" },
      size: { type: "string", default: "3" },
      "client-port": { type: "string", default: String(UP_CLIENT_PORT) },
      "raft-port": { type: "string", default: String(UP_RAFT_PORT) },
      etcd: { type: "boolean", default: false },
      "leader-timeout-ms": { type: "string", default: "30000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`up takes no operands; got ${positionals.join(" ")}`);
  }
  const flavor: ClusterFlavor = values.etcd ? "etcd" : "blueprint";
  const size = parseInteger("--size", values.size, 1, 7);
  const client_port = parseInteger("--client-port", values["client-port"], 1, 65535 - size);
  const raft_port = parseInteger("--raft-port", values["raft-port"], 1, 65535 - size);
  const leader_timeout_ms = parseInteger(
    "--leader-timeout-ms",
    values["leader-timeout-ms"],
    1,
    600_000,
  );
  console.log(`starting ${size} ${flavor} nodes under ${values.data} ...`);
  const cluster = await LocalCluster.start({
    flavor,
    data_dir: values.data,
    size,
    ports: { client_port, raft_port },
  });
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (signal: string) => () => resolve(signal);
    Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
    Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
  });
  try {
    const leader = await cluster.waitForLeader(leader_timeout_ms);
    for (const member of cluster.members) {
      const role = member.name === leader.name ? "leader" : "follower";
      console.log(
        `  ${member.name}  client ${member.client_address}  raft ${member.raft_address}  ${role}  log ${member.log_file}`,
      );
    }
    console.log(`\nendpoints: ${cluster.endpoints.join(",")}`);
    console.log(`try: deno run -A mod.ts kv put hello world && deno run -A mod.ts cluster status`);
    console.log("Ctrl-C stops the cluster.");
    const signal = await stopped;
    console.log(`\n${signal}: stopping the nodes ...`);
  } finally {
    await cluster.stop();
  }
  console.log("stopped; the data stays in " + values.data);
  return 0;
}
