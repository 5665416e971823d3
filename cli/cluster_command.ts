/**
 * `draft cluster`: status of each member, the member list, adding and removing members, and
 * handing leadership to another member.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type BlueprintClient,
  DEFAULT_LOCAL_ENDPOINTS,
  type Member,
  toText,
} from "../blueprint/client/mod.ts";
import { JOIN_TOKEN_KEY } from "../blueprint/registry/mod.ts";
import { CLIENT_FLAGS, connectFromFlags, hexId } from "./kv_command.ts";
import { printRecords, UsageError } from "./output.ts";

const USAGE = `usage: deno run -A mod.ts cluster ACTION [options]

actions:
  status                       each endpoint's member, leader, term, indexes and size
  members                      the member list
  add PEER_URL [--learner]     add a member with this Raft address (a learner with --learner)
  remove MEMBER                remove a member, by name or hex ID
  transfer MEMBER              hand leadership to a member, by name or hex ID

options:
  --endpoints A,B,C     servers, host:port (default ${DEFAULT_LOCAL_ENDPOINTS}, what 'up' starts)
  --timeout-ms N        deadline of each call including retries (default 10000)
  --json                one JSON object per line`;

/** Runs `draft cluster ...`; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CLIENT_FLAGS, learner: { type: "boolean", default: false } },
  });
  const [action, ...operands] = positionals;
  if (values.help || action === undefined) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const client = await connectFromFlags(values);
  try {
    switch (action) {
      case "status":
        expectCount(action, operands, 0, "");
        return await status(client, values.json);
      case "members":
        expectCount(action, operands, 0, "");
        printMembers(await client.memberList(), values.json);
        return 0;
      case "add": {
        expectCount(action, operands, 1, "PEER_URL");
        const response = await client.memberAdd([operands[0]], values.learner);
        printMembers(response.member ? [response.member] : [], values.json);
        return 0;
      }
      case "remove": {
        expectCount(action, operands, 1, "MEMBER");
        const member = await resolveMember(client, operands[0]);
        printMembers(await client.memberRemove(member.ID), values.json);
        return 0;
      }
      case "transfer": {
        expectCount(action, operands, 1, "MEMBER");
        const member = await resolveMember(client, operands[0]);
        await client.moveLeader(member.ID);
        const leader = await client.findLeader();
        printRecords(["leader", "endpoint"], [{
          leader: member.name || hexId(leader.member_id),
          endpoint: leader.endpoint,
        }], values.json);
        return leader.member_id === member.ID ? 0 : 1;
      }
      default:
        throw new UsageError(
          `unknown action "${action}"; actions: status, members, add, remove, transfer`,
        );
    }
  } finally {
    client.close();
  }
}

async function status(client: BlueprintClient, json: boolean): Promise<number> {
  const results = await Promise.all(client.endpoints.map(async (endpoint) => {
    try {
      const s = await client.status(endpoint);
      return {
        endpoint,
        member: hexId(s.header?.member_id ?? 0n),
        leader: hexId(s.leader),
        is_leader: s.leader !== 0n && s.leader === s.header?.member_id,
        learner: s.isLearner,
        term: s.raftTerm.toString(),
        raft_index: s.raftIndex.toString(),
        applied: s.raftAppliedIndex.toString(),
        db_size_bytes: s.dbSize.toString(),
        version: s.version,
        error: s.errors.join("; "),
      };
    } catch (error) {
      return { endpoint, error: error instanceof Error ? error.message : String(error) };
    }
  }));
  const join_token = await readJoinToken(client);
  if (json) { for (const result of results) Object.assign(result, { join_token }); }
  printRecords(
    [
      "endpoint",
      "member",
      "leader",
      "is_leader",
      "learner",
      "term",
      "raft_index",
      "applied",
      "db_size_bytes",
      "version",
      "error",
    ],
    results,
    json,
  );
  if (!json) {
    console.log(
      join_token === ""
        ? "\njoin token: not readable (no quorum, or no leader has stored it yet)"
        : `\njoin token (the nonce Draft processes register with): ${join_token}`,
    );
  }
  return results.some((result) => "member" in result) ? 0 : 1;
}

/** The registry's join token, stored by the first leader; "" if it cannot be read now. */
async function readJoinToken(client: BlueprintClient): Promise<string> {
  try {
    const { kvs } = await client.get(JOIN_TOKEN_KEY);
    return kvs.length === 0 ? "" : toText(kvs[0].value);
  } catch {
    return "";
  }
}

function printMembers(members: Member[], json: boolean): void {
  printRecords(
    ["id", "name", "peer_urls", "client_urls", "learner"],
    members.map((member) => ({
      id: hexId(member.ID),
      name: member.name,
      peer_urls: member.peerURLs.join(","),
      client_urls: member.clientURLs.join(","),
      learner: member.isLearner,
    })),
    json,
  );
}

async function resolveMember(client: BlueprintClient, text: string): Promise<Member> {
  const members = await client.memberList();
  const found = members.find((member) => member.name === text) ??
    (/^[0-9a-fA-F]{1,16}$/.test(text)
      ? members.find((member) => member.ID === BigInt(`0x${text}`))
      : undefined);
  if (found === undefined) {
    const known = members.map((member) => `${member.name || "?"} (${hexId(member.ID)})`);
    throw new UsageError(`no member ${JSON.stringify(text)}; members: ${known.join(", ")}`);
  }
  return found;
}

function expectCount(action: string, operands: string[], count: number, names: string): void {
  if (operands.length !== count) {
    throw new UsageError(
      `${action} takes ${count === 0 ? "no operands" : names}; got ${operands.length} operand(s)`,
    );
  }
}
