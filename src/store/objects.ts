/**
 * R2: every call the service makes to its bucket goes through here, so that the byte paths
 * (request → R2 on upload, R2 → response on download, R2 → packager) are in one place.
 * Keys come from ./keys; nothing else builds them.
 */

/** R2 deletes at most 1,000 keys per call. */
const DELETE_BATCH = 1000;

export function putObject(bucket: R2Bucket, key: string, body: ReadableStream | ArrayBufferView | null, type?: string): Promise<R2Object | null> {
  return bucket.put(key, body, type ? { httpMetadata: { contentType: type } } : undefined);
}

export function getObject(bucket: R2Bucket, key: string, range?: { offset: number; length: number }): Promise<R2ObjectBody | null> {
  return bucket.get(key, range ? { range } : undefined);
}

/**
 * Objects read one after the other (a package's part objects, a file's): R2 answers a get in
 * about a millisecond and a part takes far longer to read, so each get is started while the
 * READ_AHEAD objects before it are still being read. The first gets start at once, so that
 * they overlap whatever the caller awaits before its first next() (a download's frame). A null
 * key reads as a missing object.
 */
export const READ_AHEAD = 4;

export interface ObjectsInOrder {
  /** The next object (null: it is missing); starts the gets of the few after it. */
  next(): Promise<R2ObjectBody | null>;
  /** how many were taken with next() */
  readonly taken: number;
  /** Cancels the bodies fetched ahead and never taken (a read that stops, or never starts). */
  cancelRest(): void;
}

export function objectsInOrder(
  bucket: R2Bucket,
  objects: ReadonlyArray<{ key: string | null; range?: { offset: number; length: number } }>,
  ahead = READ_AHEAD,
): ObjectsInOrder {
  const gets: Array<Promise<R2ObjectBody | null>> = [];
  let taken = 0;
  /** starts the gets of the next object and of the `ahead` after it */
  const fill = () => {
    for (let k = gets.length; k < Math.min(objects.length, taken + 1 + ahead); k++) {
      const { key, range } = objects[k]!;
      const get = key ? getObject(bucket, key, range) : Promise.resolve(null);
      get.catch(() => {}); // (rejects to whoever takes it; one never taken must not go unhandled)
      gets.push(get);
    }
  };
  fill();
  return {
    next() {
      fill();
      if (taken >= objects.length) return Promise.reject(new Error("no object left to read"));
      return gets[taken++]!;
    },
    get taken() {
      return taken;
    },
    cancelRest() {
      for (const get of gets.slice(taken)) get.then((o) => o?.body.cancel()).catch(() => {});
    },
  };
}

/**
 * The bytes of a few small objects, one after the other (at most `max` bytes in all; null when
 * one is missing or they hold more): for a push that carries a sealed transfer's seal.age.
 */
export async function readSmall(bucket: R2Bucket, keys: readonly string[], max: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const key of keys) {
    const obj = await bucket.get(key);
    if (!obj) return null;
    if (total + obj.size > max) {
      await obj.body.cancel();
      return null;
    }
    const b = new Uint8Array(await obj.arrayBuffer());
    chunks.push(b);
    total += b.byteLength;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export function headObject(bucket: R2Bucket, key: string): Promise<R2Object | null> {
  return bucket.head(key);
}

/** Deletes any number of keys, 1,000 per call. */
export async function deleteObjects(bucket: R2Bucket, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_BATCH) await bucket.delete(keys.slice(i, i + DELETE_BATCH));
}

/** Every key under a prefix (R2 lists 1,000 at a time). */
export async function listKeys(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list({ prefix, cursor });
    keys.push(...page.objects.map((o) => o.key));
    if (!page.truncated) return keys;
    cursor = page.cursor;
  }
}

/** Deletes every object under a prefix. */
export async function deletePrefix(bucket: R2Bucket, prefix: string): Promise<void> {
  await deleteObjects(bucket, await listKeys(bucket, prefix));
}

/** A body with more or fewer bytes than it must have. */
export class BodyLengthError extends Error {
  constructor(readonly kind: "over" | "short") {
    super(kind === "over" ? "the body is longer than expected" : "the body ended before its expected length");
  }
}

/**
 * Stores exactly `length` bytes of a request body, natively: no JavaScript touches the
 * bytes. A body whose declared length is `length` goes to R2 as it is (the HTTP layer
 * holds it to that length); any other is piped through a FixedLengthStream, which fails on
 * too many or too few bytes. Resolves only when exactly `length` bytes were stored.
 *
 * On failure the key may still hold something: R2 keeps the first `length` bytes of an
 * overrun whose extra bytes came late (measured with wrangler 4.86). So `key` must be a key
 * no one reads until the caller has recorded it: see partKey.
 */
export async function putExactly(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  length: number,
  declared: number | null,
  type: string,
): Promise<R2Object> {
  const meta = { httpMetadata: { contentType: type } };
  if (declared === length) {
    try {
      return (await bucket.put(key, body, meta))!;
    } catch (e) {
      // a body of unknown length (a stream built in JavaScript, as in tests): pipe it below
      if (body.locked || !/known length/.test(String(e))) throw e;
    }
  }
  const fixed = new FixedLengthStream(length);
  const piped = body.pipeTo(fixed.writable).catch(() => {});
  try {
    return (await bucket.put(key, fixed.readable, meta))!;
  } catch (e) {
    const text = String(e);
    if (/too many bytes/.test(text)) throw new BodyLengthError("over");
    if (/did not see all expected bytes/.test(text)) throw new BodyLengthError("short");
    throw e;
  } finally {
    await piped;
  }
}
