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

export function headObject(bucket: R2Bucket, key: string): Promise<R2Object | null> {
  return bucket.head(key);
}

/** Deletes any number of keys, 1,000 per call. */
export async function deleteObjects(bucket: R2Bucket, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_BATCH) await bucket.delete(keys.slice(i, i + DELETE_BATCH));
}

export function createUpload(bucket: R2Bucket, key: string, type: string): Promise<R2MultipartUpload> {
  return bucket.createMultipartUpload(key, { httpMetadata: { contentType: type } });
}

export function resumeUpload(bucket: R2Bucket, key: string, uploadId: string): R2MultipartUpload {
  return bucket.resumeMultipartUpload(key, uploadId);
}

/** Aborts a multipart upload; one that is already gone (completed, aborted) is no error. */
export async function abortUpload(bucket: R2Bucket, key: string, uploadId: string): Promise<void> {
  await bucket.resumeMultipartUpload(key, uploadId).abort().catch(() => {});
}
