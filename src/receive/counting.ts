/**
 * A pass-through stream that counts bytes and fails as soon as more than `expected`
 * arrive (an overrun, answered 413) or when the body ends short (answered 400). It sits
 * in front of a FixedLengthStream so that R2 gets a stream of known length; whatever the
 * client claims in Content-Length, the bytes themselves are counted.
 */

export class BodyOverrunError extends Error {
  constructor(readonly expected: number) {
    super(`the body is longer than the ${expected} bytes expected`);
  }
}

export class BodyShortError extends Error {
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(`the body ended after ${received} of ${expected} bytes`);
  }
}

export interface Counted {
  readable: ReadableStream<Uint8Array>;
  /** bytes seen so far */
  count(): number;
  /** why the stream failed, when the count was the reason */
  failure(): BodyOverrunError | BodyShortError | null;
}

export function countedBody(body: ReadableStream<Uint8Array>, expected: number): Counted {
  let seen = 0;
  let failure: BodyOverrunError | BodyShortError | null = null;
  // The latest chunk is held back until the next one (or the end) arrives: R2 stops reading
  // and stores the object as soon as it has `expected` bytes, so the last of them must not
  // reach it before the body is known to end there. An overrun then leaves R2 short of bytes
  // and nothing is stored, instead of storing the first `expected` bytes of a longer body.
  let held: Uint8Array | null = null;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (chunk.byteLength === 0) return;
      seen += chunk.byteLength;
      if (seen > expected) {
        controller.error((failure = new BodyOverrunError(expected)));
        return;
      }
      if (held) controller.enqueue(held);
      held = chunk;
    },
    flush(controller) {
      if (seen < expected) {
        controller.error((failure = new BodyShortError(expected, seen)));
        return;
      }
      if (held) controller.enqueue(held);
      held = null;
    },
  });
  const fixed = new FixedLengthStream(expected);
  // Errors propagate down the chain; the R2 call reading `fixed.readable` then rejects.
  body.pipeThrough(counter).pipeTo(fixed.writable).catch(() => {});
  return { readable: fixed.readable, count: () => seen, failure: () => failure };
}
