/**
 * Test worker: echoes every message back until the parent closes, then closes its sender.
 * With name "throw-after-N", throws after echoing N messages.
 *
 * @module
 */
import { acceptWorkerChannel } from "../mod.ts";

const { sender, receiver } = await acceptWorkerChannel();
const throw_after = /^throw-after-(\d+)$/.exec(self.name)?.[1];
let echoed = 0;
for (let m = receiver.receiveBlocking(); m !== null; m = receiver.receiveBlocking()) {
  sender.sendBlocking(m);
  echoed++;
  if (throw_after !== undefined && echoed >= Number(throw_after)) {
    throw new Error(`echo worker failing on purpose after ${echoed} messages`);
  }
}
sender.close();
