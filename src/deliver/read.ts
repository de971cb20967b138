import type { ServerMessage } from "../contract";
import { recipientHasIt } from "./receipt";

/**
 * Step 4 for a message without files (contract v1.1): there is nothing to download, so the
 * recipient has it once it acknowledges the `transfer.ready` that carried it. That counts as
 * its download: `downloadedAt` is set, `downloads` grows by one, the sender gets
 * `transfer.downloaded`, and the transfer is `delivered` once every recipient has
 * acknowledged it.
 */
export function isMessageOnly(msg: ServerMessage): msg is Extract<ServerMessage, { type: "transfer.ready" }> {
  return msg.type === "transfer.ready" && msg.transfer.files.length === 0;
}

export async function messageRead(env: Env, transferId: string, terminalId: string, now = Date.now()): Promise<void> {
  await recipientHasIt(env, transferId, terminalId, now, { countRead: true });
}
