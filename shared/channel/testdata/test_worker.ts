/**
 * Worker for the channel tests; its name picks the behaviour:
 *
 * - "echo": echoes every message until the parent closes, then closes its sender.
 * - "throw-after-N": echoes N messages, then throws an uncaught error.
 * - "stall": accepts, then never reads (so the parent's sends fill the ring).
 * - "self-close-after-1": takes one message, then calls `self.close()`.
 * - "exit-after-1": takes one message, then calls `Deno.exit`.
 * - "throw-before-accept": throws while loading, before accepting the channel.
 * - "never-accept": stays alive without ever accepting the channel.
 * - "send-then-close": sends three messages, closes its sender, then exits with `self.close()`.
 *
 * @module
 */
import { acceptWorkerChannel } from "../mod.ts";

const mode = self.name;
if (mode === "throw-before-accept") throw new Error("test worker failing before accept");
if (mode === "never-accept") await new Promise(() => setInterval(() => {}, 1_000));

const { sender, receiver } = await acceptWorkerChannel();
const throw_after = /^throw-after-(\d+)$/.exec(mode)?.[1];

if (mode === "stall") {
  // Keeps the worker alive without reading.
  setInterval(() => {}, 1_000);
} else if (mode === "self-close-after-1") {
  receiver.receiveBlocking();
  self.close();
} else if (mode === "exit-after-1") {
  receiver.receiveBlocking();
  Deno.exit(0);
} else if (mode === "send-then-close") {
  for (let i = 0; i < 3; i++) sender.sendBlocking(new Uint8Array([i]));
  sender.close();
  self.close();
} else {
  let echoed = 0;
  for (let m = receiver.receiveBlocking(); m !== null; m = receiver.receiveBlocking()) {
    sender.sendBlocking(m);
    echoed++;
    if (throw_after !== undefined && echoed >= Number(throw_after)) {
      throw new Error(`test worker failing on purpose after ${echoed} messages`);
    }
  }
  sender.close();
}
