/**
 * A download's progress (the prefix of the package a recipient has been served from byte 0)
 * is recorded when its response ends (see downloadProgress). A process that dies
 * mid-response never gets there, and a client that then resumes with `Range: bytes=N-`
 * would start past the recorded prefix: its download would never count. So once a response
 * has sent CHECKPOINT_BYTES, its progress is also recorded on the way, *ahead* of the bytes:
 * before the chunk that crosses each CHECKPOINT_BYTES step is passed on, the prefix is
 * durably extended to the next step. Whatever a client received, the record covers it, and a
 * resume after a crash starts inside the prefix.
 *
 * Never ahead to the last byte (completing is for the end of the response), and never within
 * a response's first CHECKPOINT_BYTES: a small read (a zip reader's peek) records nothing
 * before it ends, so reading the end of a package still never counts as a download.
 */
export const CHECKPOINT_BYTES = 16 * 1024 * 1024;

/**
 * For a response of `length` bytes: a function to await before passing on each chunk, given
 * the bytes sent before it and its length. It calls `record(upTo)` (bytes of this response)
 * when the chunk crosses a step; a failed record is logged and the bytes go on.
 */
export function recordAhead(
  record: (upTo: number) => Promise<void>,
  length: number,
  step = CHECKPOINT_BYTES,
): (sentBefore: number, chunkLength: number) => Promise<void> {
  let next = step;
  return async (sentBefore, chunkLength) => {
    const after = sentBefore + chunkLength;
    if (after < next || after >= length) return;
    next = (Math.floor(after / step) + 1) * step;
    try {
      await record(Math.min(next, length - 1));
    } catch (e) {
      console.warn(JSON.stringify({ event: "progress_checkpoint_failed", error: String(e) }));
    }
  };
}
