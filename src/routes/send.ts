import { Hono } from "hono";
import { requireTerminal } from "../auth/terminal";
import { CreateTransferRequest } from "../contract";
import { ApiError, badRequest, tooLarge } from "../errors";
import { MAX_SEND_BYTES } from "../config";
import { presentTransfer } from "../present";
import { sendOneShot } from "../receive/send";
import { contentLength, requestOrigin, validate } from "./http";

/**
 * `PUT /v1/send/{terminalId}/{filename}`: create, upload and complete a one-file transfer
 * in one request, for `curl -T file https://…/v1/send/123456789/`. Several recipients:
 * `{terminalId}` may be a comma-separated list. Optional query: `message`, `expiresIn`,
 * `maxDownloads`. The file's type is its Content-Type, or guessed from its name.
 */
export const send = new Hono<{ Bindings: Env }>();

const FORM_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data)/i;

// (with strict: false, ".../send/123456789/" arrives here as "/:to")
send.put("/:to", () => {
  throw badRequest("filename_required", "Name the file: PUT /v1/send/{terminalId}/{filename} (curl -T adds it to a URL ending in /).");
});

send.put("/:to/:filename{.+}", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const size = contentLength(c);
  if (size === null) {
    throw new ApiError(411, "length_required", "Send Content-Length with the file (curl -T does).");
  }
  if (size > MAX_SEND_BYTES) {
    throw tooLarge("body_too_large", `One request carries at most ${MAX_SEND_BYTES} bytes; use POST /v1/transfers with parts.`);
  }
  const type = c.req.header("content-type");
  const num = (v: string | undefined) => (v === undefined ? undefined : /^\d{1,12}$/.test(v) ? Number(v) : v);
  const req = validate(CreateTransferRequest, {
    to: c.req.param("to").split(","),
    files: [{ name: c.req.param("filename"), size, type: type && !FORM_TYPES.test(type) ? type : undefined }],
    message: c.req.query("message"),
    expiresIn: num(c.req.query("expiresIn")),
    maxDownloads: num(c.req.query("maxDownloads")),
  });
  const now = Date.now();
  const rec = await sendOneShot(c.env, caller, req, c.req.raw.body, size, now, (p) => c.executionCtx.waitUntil(p));
  c.header("Location", `/v1/transfers/${rec.transfer.id}`);
  return c.json(await presentTransfer(c.env, rec, { terminalId: caller.id, now, origin: requestOrigin(c), gen: caller.token_gen }), 201);
});
