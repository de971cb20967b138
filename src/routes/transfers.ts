import { Hono, type Context } from "hono";
import { assertParty, assertRecipient, assertSender, downloaderOf } from "../auth/access";
import { requireTerminal } from "../auth/terminal";
import { CreateTransferRequest, IDEMPOTENCY_HEADER, IdempotencyKey, TransferId } from "../contract";
import { serveFile, servePackage } from "../deliver/download";
import { transferOpened } from "../deliver/opened";
import { badRequest, notFound } from "../errors";
import { cancelTransfer } from "../expire";
import { presentFile, presentTransfer, baseUrl } from "../present";
import { createTransferOnce } from "../receive/idempotency";
import { receivePart, receiveWholeFile } from "../receive/upload";
import { getTransferRecord, getUploadRecord, type TransferRecord } from "../store/transfers";
import { MAX_PARTS } from "../config";
import { contentLength, intParam, jsonBody, optionalHeader, requestOrigin } from "./http";

/** `/v1/transfers`: create, upload files, read, download, mark opened, cancel. */
export const transfers = new Hono<{ Bindings: Env }>();
type C = Context<{ Bindings: Env }>;

async function load(c: C): Promise<TransferRecord> {
  const id = c.req.param("id") ?? "";
  const rec = TransferId.safeParse(id).success ? await getTransferRecord(c.env.DB, id) : null;
  if (!rec) throw notFound("transfer_not_found", "No transfer has this id.");
  return rec;
}

const noSuchFile = (count: number) =>
  notFound("file_not_found", count === 0 ? "This transfer is a message without files." : `This transfer has files 0 to ${count - 1}.`);

transfers.post("/", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const req = await jsonBody(c, CreateTransferRequest);
  const key = optionalHeader(c, IDEMPOTENCY_HEADER, IdempotencyKey);
  const now = Date.now();
  const { rec, created } = await createTransferOnce(c.env, caller, req, key, now);
  c.header("Location", `/v1/transfers/${rec.transfer.id}`);
  return c.json(await presentTransfer(c.env, rec, { terminalId: caller.id, now, origin: requestOrigin(c), gen: caller.token_gen }), created ? 201 : 200);
});

transfers.get("/:id", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const rec = await load(c);
  assertParty(caller, rec);
  c.header("Cache-Control", "no-store");
  return c.json(await presentTransfer(c.env, rec, { terminalId: caller.id, now: Date.now(), origin: requestOrigin(c), gen: caller.token_gen }));
});

transfers.put("/:id/files/:index", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  // (only the one file: a PUT costs the same in a transfer of 1 file or of 1000)
  const id = c.req.param("id");
  const idx = intParam(c.req.param("index")) ?? -1;
  const up = TransferId.safeParse(id).success ? await getUploadRecord(c.env.DB, id, idx) : null;
  if (!up) throw notFound("transfer_not_found", "No transfer has this id.");
  assertSender(caller, { transfer: up.transfer, files: [], parts: [], recipients: [] });
  const file = up.file;
  if (!file) throw noSuchFile(up.fileCount);
  const partParam = c.req.query("part");
  const now = Date.now();
  const body = c.req.raw.body;
  const declared = contentLength(c);
  const defer = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  let received;
  if (partParam === undefined) {
    received = await receiveWholeFile(c.env, { transfer: up.transfer, file }, body, declared, now, defer);
  } else {
    const part = intParam(partParam, MAX_PARTS);
    if (part === null || part < 1) throw badRequest("invalid_part", `part must be a number from 1 to ${MAX_PARTS}.`);
    received = await receivePart(c.env, { transfer: up.transfer, file }, part, body, declared, now, defer);
  }
  // as the upload left it (read back in its own transaction), or read now when it recorded nothing
  const after = received ?? (await getUploadRecord(c.env.DB, id, file.idx))!;
  return c.json({ file: presentFile(baseUrl(c.env, requestOrigin(c)), after.transfer, after.file!, after.parts, null), status: after.transfer.status });
});

transfers.get("/:id/package", async (c) => {
  const rec = await load(c);
  if (rec.files.length === 0) throw notFound("no_package", "This transfer is a message without files: it has no package.");
  const who = await downloaderOf(c.env, c.req.raw, rec, c.req.query());
  return servePackage(c.env, c.req.raw, rec, who, (p) => c.executionCtx.waitUntil(p));
});

transfers.get("/:id/files/:index", async (c) => {
  const rec = await load(c);
  const who = await downloaderOf(c.env, c.req.raw, rec, c.req.query());
  const idx = intParam(c.req.param("index"));
  const file = idx === null ? null : (rec.files[idx] ?? null);
  if (!file) throw noSuchFile(rec.files.length);
  return serveFile(c.env, c.req.raw, rec, file, who, (p) => c.executionCtx.waitUntil(p));
});

transfers.post("/:id/opened", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const rec = await load(c);
  assertRecipient(caller, rec);
  await transferOpened(c.env, rec, caller.id);
  return c.body(null, 204);
});

transfers.delete("/:id", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const rec = await load(c);
  assertSender(caller, rec);
  await cancelTransfer(c.env, rec);
  return c.body(null, 204);
});
