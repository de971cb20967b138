import { Hono, type Context } from "hono";
import { verifyDownload } from "../auth/signing";
import { requireTerminal } from "../auth/terminal";
import { CreateTransferRequest, TransferId } from "../contract";
import { serveFile, servePackage, type Downloader } from "../deliver/download";
import { badRequest, forbidden, gone, notFound } from "../errors";
import { cancelTransfer } from "../expire";
import { presentFile, presentTransfer, baseUrl } from "../present";
import { createTransfer } from "../receive/create";
import { receivePart, receiveWholeFile } from "../receive/upload";
import { getTransferRecord, type TransferRecord } from "../store/transfers";
import type { TerminalRow } from "../store/terminals";
import { contentLength, intParam, jsonBody, requestOrigin } from "./http";
import { MAX_PARTS } from "../config";

/** `/v1/transfers`: create, upload files, read, download, cancel. */
export const transfers = new Hono<{ Bindings: Env }>();
type C = Context<{ Bindings: Env }>;

async function load(c: C): Promise<TransferRecord> {
  const id = c.req.param("id") ?? "";
  const rec = TransferId.safeParse(id).success ? await getTransferRecord(c.env.DB, id) : null;
  if (!rec) throw notFound("transfer_not_found", "No transfer has this id.");
  return rec;
}

const isRecipient = (rec: TransferRecord, id: string) => rec.recipients.some((r) => r.terminal_id === id);

/** Sender or recipient, by bearer token (checked before the transfer is looked up). */
function party(caller: TerminalRow, rec: TransferRecord): TerminalRow {
  if (caller.id !== rec.transfer.sender_id && !isRecipient(rec, caller.id)) {
    throw forbidden("Only the sender and the recipients can see this transfer.");
  }
  return caller;
}

function sender(caller: TerminalRow, rec: TransferRecord): TerminalRow {
  if (caller.id !== rec.transfer.sender_id) throw forbidden("Only the sender can change this transfer.");
  return caller;
}

/** A recipient's signed link, a recipient's token, or the sender's token (not counted as a download). */
async function downloader(c: C, rec: TransferRecord): Promise<Downloader> {
  const q = c.req.query();
  if (q.sig !== undefined || q.exp !== undefined || q.r !== undefined) {
    const check = await verifyDownload(c.env.SIGNING_KEY, rec.transfer.id, q, Math.floor(Date.now() / 1000));
    if (!check.ok) {
      if (check.reason === "expired") {
        throw gone("link_expired", "This download link has expired; get a fresh one from GET /v1/transfers/{id}.");
      }
      throw forbidden("This download link is not valid for this transfer.", "invalid_link");
    }
    if (!isRecipient(rec, check.grant.recipient)) throw forbidden("This download link is not valid for this transfer.", "invalid_link");
    return { terminalId: check.grant.recipient, counts: true };
  }
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  if (isRecipient(rec, caller.id)) return { terminalId: caller.id, counts: true };
  if (caller.id === rec.transfer.sender_id) return { terminalId: caller.id, counts: false };
  throw forbidden("Only the recipients (and the sender) can download this transfer.");
}

function fileIndex(c: C, rec: TransferRecord) {
  const idx = intParam(c.req.param("index"));
  const file = idx === null ? undefined : rec.files[idx];
  if (!file) throw notFound("file_not_found", `This transfer has files 0 to ${rec.files.length - 1}.`);
  return file;
}

transfers.post("/", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const req = await jsonBody(c, CreateTransferRequest);
  const now = Date.now();
  const rec = await createTransfer(c.env, caller, req, requestOrigin(c), now);
  c.header("Location", `/v1/transfers/${rec.transfer.id}`);
  return c.json(await presentTransfer(c.env, rec, { terminalId: caller.id, now, origin: requestOrigin(c) }), 201);
});

transfers.get("/:id", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const rec = await load(c);
  party(caller, rec);
  c.header("Cache-Control", "no-store");
  return c.json(await presentTransfer(c.env, rec, { terminalId: caller.id, now: Date.now(), origin: requestOrigin(c) }));
});

transfers.put("/:id/files/:index", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const rec = await load(c);
  sender(caller, rec);
  const file = fileIndex(c, rec);
  const partParam = c.req.query("part");
  const now = Date.now();
  const body = c.req.raw.body;
  const declared = contentLength(c);
  if (partParam === undefined) {
    await receiveWholeFile(c.env, { transfer: rec.transfer, file }, body, declared, now);
  } else {
    const part = intParam(partParam, MAX_PARTS);
    if (part === null || part < 1) throw badRequest("invalid_part", `part must be a number from 1 to ${MAX_PARTS}.`);
    await receivePart(c.env, { transfer: rec.transfer, file }, part, body, declared, now);
  }
  const after = (await getTransferRecord(c.env.DB, rec.transfer.id))!;
  const row = after.files[file.idx]!;
  return c.json({ file: presentFile(baseUrl(c.env, after.transfer, requestOrigin(c)), after.transfer, row, after.parts, null), status: after.transfer.status });
});

transfers.get("/:id/package", async (c) => {
  const rec = await load(c);
  const who = await downloader(c, rec);
  return servePackage(c.env, c.req.raw, rec.transfer, who, (p) => c.executionCtx.waitUntil(p));
});

transfers.get("/:id/files/:index", async (c) => {
  const rec = await load(c);
  await downloader(c, rec);
  const idx = intParam(c.req.param("index"));
  const file = idx === null ? null : (rec.files[idx] ?? null);
  return serveFile(c.env, c.req.raw, rec.transfer, file, (p) => c.executionCtx.waitUntil(p));
});

transfers.delete("/:id", async (c) => {
  const caller = await requireTerminal(c.env.DB, c.req.raw);
  const rec = await load(c);
  sender(caller, rec);
  await cancelTransfer(c.env, rec);
  return c.body(null, 204);
});
