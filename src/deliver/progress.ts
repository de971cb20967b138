/**
 * A download's progress (for each file, how far its bytes have been served to a recipient from
 * the file's byte 0: where a resume may start, ./download.ts recordServed) is recorded when its
 * response ends. A process that dies mid-response never gets there, and a client that then
 * resumes with `Range: bytes=N-` would start past the recorded prefix: its download would never
 * count. So once a response has sent CHECKPOINT_BYTES, its progress is also recorded on the
 * way, *ahead* of the bytes: before a piece goes out beyond what is recorded, the record is
 * durably extended past it. How far ahead grows with what the response has sent (as far again
 * as it has sent, at least CHECKPOINT_BYTES, at most MAX_AHEAD_BYTES), so a 1 GiB download
 * costs 7 writes, not 64: each is a D1 transaction on the byte path (one per 16 MiB piece cost
 * a fifth of a package download's speed here). Whatever a client received, the record covers
 * it, and a resume after a crash starts inside the prefix; a response cut short has been
 * credited at most twice what it sent in whole pieces plus two pieces (at most one piece plus
 * MAX_AHEAD_BYTES past what it sent). Each record is started a piece before it is needed, so
 * the bytes rarely wait for one (recordAhead).
 *
 * A record ahead only says where a resume may start: it never makes a file *had* (only bytes
 * sent in whole pieces, and those before a joined resume, do), never reaches the response's
 * last byte, and is never made within a response's first CHECKPOINT_BYTES: a small read (a zip
 * reader's peek) or a download cut off early records nothing before it ends.
 */
export const CHECKPOINT_BYTES = 16 * 1024 * 1024;
export const MAX_AHEAD_BYTES = 256 * 1024 * 1024;

/**
 * For a response of `length` bytes: a function to await before each piece goes out, given the
 * bytes sent before it and its length. Before a piece would go beyond what is durably
 * recorded, it waits for a record (`record(upTo)`, bytes of this response) that covers it.
 * That record was usually started a piece earlier: once a piece is covered and less than
 * `step` of recorded bytes lie beyond it, the next record (computed as if the piece had gone
 * out) is started, not awaited, so it runs while the piece is piped and the bytes do not stop
 * for it (on Cloudflare a D1 write is a round trip of tens of milliseconds). A response cut
 * short in a piece of length p that began after s bytes is thus credited at most
 * s + p + min(max(s + p, step), maxAhead). A failed record is logged and the bytes go on.
 */
export function recordAhead(
  record: (upTo: number) => Promise<void>,
  length: number,
  step = CHECKPOINT_BYTES,
  maxAhead = MAX_AHEAD_BYTES,
): (sentBefore: number, pieceLength: number) => Promise<void> {
  /** how far the latest record started reaches, and that record (it never rejects) */
  let recorded = 0;
  let latest: Promise<void> = Promise.resolve();
  const start = (sent: number, atLeast: number) => {
    const ahead = Math.min(Math.max(sent, step), Math.max(step, maxAhead));
    const upTo = Math.min(Math.max(atLeast, sent + ahead), length - 1);
    if (upTo <= recorded) return;
    recorded = upTo;
    latest = record(upTo).catch((e) => {
      console.warn(JSON.stringify({ event: "progress_checkpoint_failed", error: String(e) }));
    });
  };
  return async (sentBefore, pieceLength) => {
    const after = sentBefore + pieceLength;
    if (sentBefore < step) return;
    if (after > recorded) start(sentBefore, after);
    // records only grow and each covers all before it: the latest one covers this piece
    const covering = latest;
    if (recorded - after < step) start(after, after);
    await covering;
  };
}
