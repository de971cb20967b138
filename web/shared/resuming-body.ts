/**
 * A download's body that outlives a dropped connection. A sealed file is decrypted as it
 * streams (the service worker's save, the page's), and age cannot start again mid-file: without
 * this, a phone that lost its signal for a moment had to download and decrypt the whole file
 * again. When the network fails mid-body, or the body ends short of `size`, it asks for the rest
 * (`again(got, etag)`: `Range: bytes=<got>-`, `If-Range` with the first answer's ETag; api.md: a
 * download resumed with a range is not counted again) and goes on with the same decrypter, after
 * waiting RESUME_WAITS_MS[n] before the n-th try in a row that brought no byte (a 5xx or 429
 * answer is tried again too). Any other answer than a 206 from exactly that byte (or, before the
 * first byte, a 200) ends it with that answer as the error; too many tries, with the error that
 * stopped it.
 */

/** Waits before each try in a row (about 100 s in all): a phone in a tunnel, a Wi-Fi handover. */
export const RESUME_WAITS_MS: readonly number[] = [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000, 15_000, 15_000];

/** The rest of the body from byte `from` (a 206 is expected), with the ETag of the first answer when it had one. */
export type Again = (from: number, etag: string | null) => Promise<Response>;

const busy = (status: number) => status >= 500 || status === 429;

/** The headers that ask for the rest from byte `from` (If-Range: only if it is still that version). */
export function rangeFrom(from: number, etag: string | null): Record<string, string> {
  return { range: `bytes=${from}-`, ...(etag ? { "if-range": etag } : {}) };
}

export function resumingBody(first: Response, size: number, again: Again, waits: readonly number[] = RESUME_WAITS_MS): ReadableStream<Uint8Array> {
  if (!first.body) throw new Error("the answer has no body");
  const etag = first.headers.get("etag");
  let reader = first.body.getReader();
  let got = 0;
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let stop: unknown = null; // what ended the current answer, kept to be thrown if no try helps
      for (let tries = 0; ; ) {
        if (stop === null) {
          try {
            const r = await reader.read();
            if (!r.done) {
              got += r.value.length;
              c.enqueue(r.value);
              return;
            }
            if (got >= size) return c.close(); // more than `size` is the reader's to refuse (age, the seal's check)
            stop = new Error(`the download ended after ${got} of ${size} bytes`);
          } catch (e) {
            if (got >= size) return c.close(); // cut after the last byte: nothing is missing
            stop = e;
          }
        }
        if (cancelled || tries >= waits.length) throw stop;
        await new Promise((r) => setTimeout(r, waits[tries++]));
        if (cancelled) throw stop;
        let res: Response;
        try {
          res = await again(got, etag);
        } catch (e) {
          // an answer said as an error (the app's client throws ApiError for 4xx/5xx): the server's word ends it
          const status = (e as { status?: unknown } | null)?.status;
          if (typeof status === "number" && !busy(status)) throw e;
          continue; // the network is still down, or the server busy: wait, then try again
        }
        const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
        // the rest from the byte it got to; or, before any byte came, the whole body (a request
        // from byte 0 may carry no Range at all, and be answered 200)
        if (res.body && ((res.status === 206 && Number(start) === got) || (got === 0 && res.status === 200))) {
          reader = res.body.getReader();
          stop = null;
          continue;
        }
        await res.body?.cancel().catch(() => {});
        // busy (5xx, 429): wait, then try again; anything else (gone, revoked, a limit, another
        // version, a 200 where bytes are missing) is no hiccup: said as the server's answer
        if (!busy(res.status)) throw Object.assign(new Error(`The server answered ${res.status} when the rest of the download was asked for.`), { code: `http_${res.status}`, status: res.status });
      }
    },
    cancel(reason) {
      cancelled = true;
      return reader.cancel(reason).catch(() => {});
    },
  });
}
