/**
 * Upload arithmetic. A file of `size` bytes with part size `p` goes up in one PUT when
 * size ≤ p, else in ⌈size / p⌉ parts of exactly p bytes, the last one holding the rest.
 * Each part is one R2 object (src/store/keys.ts partKey); the count is at most MAX_PARTS.
 */

import { LARGE_PART_SIZE, PART_SIZE } from "../config";

/** The part size a file of `size` bytes gets: LARGE_PART_SIZE past three of them, else PART_SIZE. */
export const partSizeFor = (size: number) => (size > 3 * LARGE_PART_SIZE ? LARGE_PART_SIZE : PART_SIZE);

export const isMultipart = (size: number, partSize: number) => size > partSize;

/** Number of parts; an empty file is one empty part. */
export const partCount = (size: number, partSize: number) => Math.max(1, Math.ceil(size / partSize));

/** Bytes expected in part n (1-based) of a file. */
export function partLength(size: number, partSize: number, n: number): number {
  const count = partCount(size, partSize);
  if (n < 1 || n > count) throw new RangeError(`part ${n} is not in 1..${count}`);
  return n < count ? partSize : size - (count - 1) * partSize;
}

/** Bytes received so far from the parts that have arrived (each counted once). */
export const receivedBytes = (parts: readonly { size: number }[]) => parts.reduce((sum, p) => sum + p.size, 0);
