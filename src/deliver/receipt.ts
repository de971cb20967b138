import { notifyDownloaded } from "../notify/producers";
import { recordReceived } from "../store/delivery";
import { getTransfer } from "../store/transfers";

/**
 * "This recipient now has the transfer": one home for what follows, whoever learnt it (a
 * download whose bytes completed every file, src/deliver/download.ts; the ack of a message
 * without files, src/deliver/read.ts). Its `downloadedAt` is set, the transfer is `delivered`
 * once every recipient has it, and the sender gets `transfer.downloaded`, once (the first time;
 * its message id is derived from the event, so a retry never queues it twice).
 */
export async function recipientHasIt(
  env: Env,
  transferId: string,
  terminalId: string,
  now = Date.now(),
  opts: { countRead?: boolean } = {},
): Promise<void> {
  const { first } = await recordReceived(env.DB, transferId, terminalId, now, opts.countRead ?? false);
  if (!first) return;
  const t = await getTransfer(env.DB, transferId);
  if (t) await notifyDownloaded(env, t, terminalId, now);
}
