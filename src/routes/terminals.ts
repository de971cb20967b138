import { Hono, type Context } from "hono";
import { addEntry, removeEntry, settingsOf, updateSettings } from "../auth/acceptance";
import { formatTerminalId, normalizeTerminalId } from "../contract";
import { publishKey } from "../auth/key";
import { deleteTerminal, rotateToken } from "../auth/manage";
import { registerTerminal } from "../auth/register";
import { limitRegistrations } from "../limits/rate";
import { requireTerminal } from "../auth/terminal";
import {
  CreateTerminalRequest,
  iso,
  PushSubscriptionJSON,
  SetKeyRequest,
  UpdateSettingsRequest,
  type CreatedTerminal,
  type RotatedToken,
  type TerminalInfo,
} from "../contract";
import { ApiError, forbidden, notFound } from "../errors";
import { terminalStub } from "../notify/producers";
import { assertPushEndpoint } from "../notify/endpoints";
import { originOfRequest } from "../notify/links";
import { canonicalKeys } from "../notify/webpush";
import { presentTransfer, shownTerminalName } from "../present";
import { getTerminal, type TerminalRow } from "../store/terminals";
import { inboxRecords } from "../store/transfers";
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
  await limitRegistrations(c.env, c.req.raw);
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

async function terminalInfo(env: Env, row: TerminalRow): Promise<TerminalInfo> {
  const push = await terminalStub(env, row.id).hasPush();
  return { id: row.id, name: shownTerminalName(row.id, row.name), push, key: row.age_key };
}

terminals.get("/:id", async (c) => {
  return c.json(await terminalInfo(c.env, await known(c.env.DB, c.req.param("id"))));
});

/** v1.2: publish or replace the terminal's age key (sealed transfers). */
terminals.put("/:id/key", async (c) => {
  const caller = await owner(c);
  const { key } = await jsonBody(c, SetKeyRequest);
  c.header("Cache-Control", "no-store");
  return c.json(await terminalInfo(c.env, await publishKey(c.env, caller, key)));
});

terminals.put("/:id/push-subscription", async (c) => {
  const caller = await owner(c);
  const sub = await jsonBody(c, PushSubscriptionJSON);
  assertPushEndpoint(c.env, sub.endpoint);
  const keys = await canonicalKeys(sub.keys);
  await terminalStub(c.env, caller.id).putSubscription(caller.id, { ...sub, keys }, originOfRequest(c.req.raw), caller.token_gen);
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
  const records = await inboxRecords(c.env.DB, caller.id, now);
  const transfers = await Promise.all(records.map((r) => presentTransfer(c.env, r, { terminalId: caller.id, now, origin: requestOrigin(c), gen: caller.token_gen })));
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
  headers.set("x-pushdrop-token-gen", String(caller.token_gen));
  return terminalStub(c.env, caller.id).fetch(new Request(c.req.raw.url, { headers }));
});

// ---- managing a terminal (contract v1.1) --------------------------------------------------

terminals.post("/:id/token", async (c) => {
  const caller = await owner(c);
  const body: RotatedToken = { token: await rotateToken(c.env, caller) };
  c.header("Cache-Control", "no-store");
  return c.json(body);
});

terminals.delete("/:id", async (c) => {
  await deleteTerminal(c.env, await owner(c));
  return c.body(null, 204);
});

terminals.get("/:id/settings", async (c) => {
  const caller = await owner(c);
  c.header("Cache-Control", "no-store");
  return c.json(await settingsOf(c.env.DB, caller));
});

terminals.patch("/:id/settings", async (c) => {
  const caller = await owner(c);
  const change = await jsonBody(c, UpdateSettingsRequest);
  c.header("Cache-Control", "no-store");
  return c.json(await updateSettings(c.env, caller, change));
});

/** `{otherId}` in a contacts or blocked path: a terminal id as typed, else 404. */
function otherId(c: Context): string {
  const raw = c.req.param("otherId") ?? "";
  const id = normalizeTerminalId(raw);
  if (!id) throw notFound("terminal_not_found", `No terminal has the id ${raw.slice(0, 32)}.`);
  return id;
}

for (const list of ["contacts", "blocked"] as const) {
  terminals.put(`/:id/${list}/:otherId`, async (c) => {
    const caller = await owner(c);
    await addEntry(c.env, list, caller, otherId(c));
    return c.body(null, 204);
  });
  terminals.delete(`/:id/${list}/:otherId`, async (c) => {
    const caller = await owner(c);
    await removeEntry(c.env, list, caller, otherId(c));
    return c.body(null, 204);
  });
}
