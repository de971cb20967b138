/**
 * A download's progress (the prefix of the package a recipient has been served from byte 0)
 * is recorded when its response ends (see downloadProgress). A process that dies
 * mid-response never gets there, and a client that then resumes with `Range: bytes=N-`
 * would start past the recorded prefix: its download would never count. So once a response
 * has sent CHECKPOINT_BYTES, its progress is also recorded on the way, *ahead* of the bytes:
 * before a piece goes out beyond what is recorded, the record is durably extended past it.
 * How far ahead grows with what the response has sent (as far again as it has sent, at
 * least CHECKPOINT_BYTES, at most MAX_AHEAD_BYTES), so a 1 GiB download costs 7 writes, not
 * 64: each is a D1 statement on the byte path (one per 16 MiB piece cost a fifth of a
 * package download's speed here). Whatever a client received, the record covers it, and a
 * resume after a crash starts inside the prefix; a response cut short has been credited at
 * most twice what it sent (at most MAX_AHEAD_BYTES more).
 *
 * Never ahead to the last byte (completing is for the end of the response), and never within
 * a response's first CHECKPOINT_BYTES: a small read (a zip reader's peek) or a download cut
 * off early records nothing before it ends, so reading the end of a package still never
 * counts as a download.
 */
export const CHECKPOINT_BYTES = 16 * 1024 * 1024;
export const MAX_AHEAD_BYTES = 256 * 1024 * 1024;

/**
 * For a response of `length` bytes: a function to await before each piece goes out, given the
 * bytes sent before it and its length. It calls `record(upTo)` (bytes of this response) when
 * the piece would go beyond what is recorded; a failed record is logged and the bytes go on.
 */
export function recordAhead(
  record: (upTo: number) => Promise<void>,
  length: number,
  step = CHECKPOINT_BYTES,
  maxAhead = MAX_AHEAD_BYTES,
): (sentBefore: number, pieceLength: number) => Promise<void> {
  let recorded = 0;
  return async (sentBefore, pieceLength) => {
    const after = sentBefore + pieceLength;
    if (sentBefore < step || after <= recorded) return;
    const ahead = Math.min(Math.max(sentBefore, step), Math.max(step, maxAhead));
    const upTo = Math.min(Math.max(after, sentBefore + ahead), length - 1);
    if (upTo <= recorded) return;
    recorded = upTo;
    try {
      await record(upTo);
    } catch (e) {
      console.warn(JSON.stringify({ event: "progress_checkpoint_failed", error: String(e) }));
    }
  };
}
