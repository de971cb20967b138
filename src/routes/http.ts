import type { Context } from "hono";
import { z } from "zod";
import { ApiError, badRequest } from "../errors";

/** Small request helpers shared by the route files. */

export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** Reads a JSON body (≤ 4 MiB) and validates it; every failure is a 4xx with the contract's shape. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S, optional = false): Promise<z.output<S>> {
  const type = c.req.header("content-type");
  if (type && !/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "Send JSON with Content-Type: application/json.");
  }
  const text = await readCapped(c.req.raw, MAX_JSON_BYTES);
  let value: unknown;
  if (text.trim() === "") {
    if (!optional) throw badRequest("invalid_json", "The request needs a JSON body.");
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch {
      throw badRequest("invalid_json", "The body is not valid JSON.");
    }
  }
  return validate(schema, value);
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
    const first = issues[0]!;
    throw badRequest("invalid_request", first.path ? `${first.path}: ${first.message}` : first.message, { issues });
  }
  return result.data;
}

/** An optional request header validated by `schema`: null when absent; else as validate() answers, the header's name as the issue's path. */
export function optionalHeader<S extends z.ZodType>(c: Context, name: string, schema: S): z.output<S> | null {
  const value = c.req.header(name);
  return value === undefined ? null : (validate(z.object({ [name]: schema }), { [name]: value }) as Record<string, z.output<S>>)[name]!;
}

async function readCapped(request: Request, max: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared && Number(declared) > max) throw new ApiError(413, "body_too_large", `JSON bodies are at most ${max} bytes.`);
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new ApiError(413, "body_too_large", `JSON bodies are at most ${max} bytes.`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const ch of chunks) {
    all.set(ch, o);
    o += ch.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
  } catch {
    throw badRequest("invalid_json", "The body is not UTF-8 text.");
  }
}

/** A non-negative integer from a path segment or query value, or null. */
export function intParam(value: string | undefined | null, max = Number.MAX_SAFE_INTEGER): number | null {
  if (value === undefined || value === null || !/^\d{1,16}$/.test(value)) return null;
  const n = Number(value);
  return n <= max ? n : null;
}

export function contentLength(c: Context): number | null {
  const v = c.req.header("content-length");
  if (v === undefined) return null;
  if (!/^\d{1,16}$/.test(v.trim())) throw badRequest("invalid_content_length", "Content-Length must be a number of bytes.");
  return Number(v.trim());
}

/** Origin links are built on: where the client reached us. */
export const requestOrigin = (c: Context) => new URL(c.req.url).origin;
