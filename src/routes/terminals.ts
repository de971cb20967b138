import { Hono, type Context } from "hono";
import { formatTerminalId, normalizeTerminalId } from "../auth/ids";
import { registerTerminal } from "../auth/register";
import { requireTerminal } from "../auth/terminal";
import { CreateTerminalRequest, iso, PushSubscriptionJSON, type CreatedTerminal, type TerminalInfo } from "../contract";
import { ApiError, forbidden, notFound } from "../errors";
import { terminalStub } from "../notify";
import { canonicalKeys } from "../notify/webpush";
import { presentTransfer } from "../present";
import { getTerminal, type TerminalRow } from "../store/terminals";
import { getTransferRecord, inbox } from "../store/transfers";
import { jsonBody, requestOrigin, validate } from "./http";
import { z } from "zod";

/** `/v1/terminals`: register a device, look one up, its inbox, push subscriptions, live socket. */
export const terminals = new Hono<{ Bindings: Env }>();

async function known(db: D1Database, raw: string): Promise<TerminalRow> {
  const id = normalizeTerminalId(raw);
  const row = id ? await getTerminal(db, id) : null;
  if (!row) throw notFound("terminal_not_found", `No terminal has the id ${raw.slice(0, 32)}.`);
  return row;
}

/** The caller must hold the token of the terminal named in the path. */
async function owner(c: Context<{ Bindings: Env }>, allowQuery = false) {
  const caller = await requireTerminal(c.env.DB, c.req.raw, allowQuery);
  const id = normalizeTerminalId(c.req.param("id") ?? "");
  if (caller.id !== id) throw forbidden("This token belongs to another terminal.");
  return caller;
}

terminals.post("/", async (c) => {
  const req = await jsonBody(c, CreateTerminalRequest, true);
  const { row, token } = await registerTerminal(c.env.DB, req.name);
  const body: CreatedTerminal = {
    id: row.id,
    name: row.name,
    token,
    display: formatTerminalId(row.id),
    createdAt: iso(row.created_at),
  };
  c.header("Location", `/v1/terminals/${row.id}`);
  c.header("Cache-Control", "no-store");
  return c.json(body, 201);
});

terminals.get("/:id", async (c) => {
  const row = await known(c.env.DB, c.req.param("id"));
  const push = await terminalStub(c.env, row.id).hasPush();
  const body: TerminalInfo = { id: row.id, name: row.name, push };
  return c.json(body);
});

terminals.put("/:id/push-subscription", async (c) => {
  const caller = await owner(c);
  const sub = await jsonBody(c, PushSubscriptionJSON);
  const keys = await canonicalKeys(sub.keys);
  await terminalStub(c.env, caller.id).putSubscription(caller.id, { ...sub, keys });
  return c.body(null, 204);
});

const DeleteSubscription = z.object({ endpoint: z.string().max(2048).optional() });

terminals.delete("/:id/push-subscription", async (c) => {
  const caller = await owner(c);
  const fromQuery = c.req.query("endpoint");
  const { endpoint } = fromQuery !== undefined
    ? validate(DeleteSubscription, { endpoint: fromQuery })
    : await jsonBody(c, DeleteSubscription, true);
  await terminalStub(c.env, caller.id).deleteSubscription(endpoint);
  return c.body(null, 204);
});

terminals.get("/:id/inbox", async (c) => {
  const caller = await owner(c);
  const now = Date.now();
  const ids = await inbox(c.env.DB, caller.id, now);
  const records = await Promise.all(ids.map((id) => getTransferRecord(c.env.DB, id)));
  const transfers = await Promise.all(
    records.filter((r) => r !== null).map((r) => presentTransfer(c.env, r, { terminalId: caller.id, now, origin: requestOrigin(c) })),
  );
  c.header("Cache-Control", "no-store");
  return c.json({ transfers });
});

terminals.get("/:id/socket", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "This is a WebSocket endpoint: connect with Upgrade: websocket.", {
      Upgrade: "websocket",
    });
  }
  const caller = await owner(c, true);
  const headers = new Headers(c.req.raw.headers);
  headers.set("x-pushdrop-terminal", caller.id);
  return terminalStub(c.env, caller.id).fetch(new Request(c.req.raw.url, { headers }));
});
