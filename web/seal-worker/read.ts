/**
 * A File's bytes as a stream, with `count` told the length of each chunk. A File is a snapshot:
 * one changed or removed since it was chosen fails to read, which Chromium says as a TypeError
 * ("network error"); here it is a NotReadableError, so the page can tell the person the file
 * changed (web/seal/seal-file.ts changedWhileSealing) rather than show a network error.
 */
export function readFile(file: File, count: (bytes: number) => void): ReadableStream<Uint8Array> {
  const reader = file.stream().getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new DOMException(`${file.name} could not be read: it changed or was removed after it was chosen (${(e as Error)?.message ?? e})`, "NotReadableError");
      }
      if (r.done) return c.close();
      count(r.value.length);
      c.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
