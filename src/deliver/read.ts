import { SEAL_NAME, type ServerMessage, type Transfer } from "../contract";
import { recipientHasIt } from "./receipt";

/**
 * Step 4 for a message without files (contract v1.1): there is nothing to download, so the
 * recipient has it once it acknowledges the `transfer.ready` that carried it. That counts as
 * its download: `downloadedAt` is set, `downloads` grows by one, the sender gets
 * `transfer.downloaded`, and the transfer is `delivered` once every recipient has
 * acknowledged it. So is a sealed text (`seal.age` alone, v1.2).
 */
export function isMessageOnly(msg: ServerMessage): msg is Extract<ServerMessage, { type: "transfer.ready" }> {
  return msg.type === "transfer.ready" && (msg.transfer.files.length === 0 || isSealedText(msg.transfer));
}

/**
 * v1.2: a sealed text, a transfer of `seal.age` alone, is a message like any other: had by the
 * ack of its `transfer.ready`; fetching `seal.age` counts for nothing (./coverage.ts isSealOf).
 */
export const isSealedText = (t: Pick<Transfer, "sealed" | "files">) => t.sealed === true && t.files.length === 1 && t.files[0]!.name === SEAL_NAME;

export async function messageRead(env: Env, transferId: string, terminalId: string, now = Date.now()): Promise<void> {
  await recipientHasIt(env, transferId, terminalId, now, { countRead: true });
}
