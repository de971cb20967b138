import { ACKED_RETENTION_MS } from "../config";
import type { ServerMessage } from "../contract";
import { checkPushEndpoint, parseAllowedHosts } from "./endpoints";
import { renderMessage } from "./links";
import type { Meta } from "./meta";
import type { Outbox } from "./outbox";
import type { PushRow, Pushes } from "./pushes";
import { recordNotified } from "./receipts";
import type { Sockets } from "./sockets";
import type { Subscriptions } from "./subscriptions";
import { MAX_PUSH_PLAINTEXT, sealMayFit, trimForPush } from "./trim";
import { SEAL_NAME, type Transfer } from "../contract";
import { filePartKeys } from "../store/delivery";
import { readSmall } from "../store/objects";
import type { VapidKeys } from "@block65/webcrypto-web-push";
import { MAX_PUSH_ATTEMPTS, retryWait, sendPush, vapidKeys } from "./webpush";

/**
 * Web Push for one terminal, driven by its Durable Object's alarm: due pushes are sent when
 * no socket is live, retried with backoff (or what Retry-After asks), given up after
 * MAX_PUSH_ATTEMPTS; a live socket takes over.
 */

const PRUNE_EVERY_MS = 24 * 3600 * 1000;

/** The push Topic: one per transfer (a newer message replaces an older one), one per receipt. */
export function pushTopic(msg: ServerMessage): string | undefined {
  if (msg.type === "transfer.downloaded") return `${msg.transferId}${msg.by}`.slice(0, 32);
  if (msg.type === "transfer.ready") return msg.transfer.id;
  if (msg.type === "transfer.opened") return `${msg.transfer.id}o${msg.by}`.slice(0, 32);
  if (msg.type === "terminal.key_changed") return undefined; // never pushed (see Terminal.enqueue)
  return msg.transferId;
}

/**
 * A push's TTL: the seconds its message still matters (a transfer.ready: the transfer's
 * remaining life; receipts and end messages: their retention), at most the 28 days push
 * services keep a message. 0 (deliver now or never) in the last second.
 */
export function pushTtl(expiresAt: number | null, now: number): number {
  const MAX = 28 * 24 * 3600;
  return expiresAt === null ? MAX : Math.min(MAX, Math.max(0, Math.floor((expiresAt - now) / 1000)));
}

/**
 * A sealed transfer's `seal.age` in base64, for its `transfer.ready` push (v1.2), or null: not
 * sealed, too big to ever fit a push (then nothing is read), or gone. It is a few KiB at most,
 * read whole from its part object (store/objects.ts). The service worker opens it with the
 * device's key and never fetches for a push.
 */
export async function sealForPush(env: Env, t: Transfer, limit = MAX_PUSH_PLAINTEXT): Promise<string | null> {
  const seal = t.sealed ? t.files.at(-1) : undefined;
  if (!seal || seal.name !== SEAL_NAME || !sealMayFit(seal.size, limit)) return null;
  const parts = await filePartKeys(env.DB, t.id, seal.index);
  const bytes = await readSmall(env.BUCKET, parts.map((p) => p.key), seal.size);
  if (!bytes || bytes.byteLength !== seal.size) return null;
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export interface PushParts {
  ctx: DurableObjectState;
  env: Env;
  meta: Meta;
  outbox: Outbox;
  subscriptions: Subscriptions;
  pushes: Pushes;
  sockets: Sockets;
}

export class Pusher {
  constructor(private readonly p: PushParts) {}

  /** A push of the message to every subscription, due now (see Pushes.schedule); arms the alarm. */
  async schedule(messageId: string, now: number): Promise<void> {
    if (this.p.pushes.schedule(messageId, now) > 0) await this.armAlarm(now);
  }

  private async armAlarm(at: number): Promise<void> {
    const current = await this.p.ctx.storage.getAlarm();
    if (current === null || current > at) await this.p.ctx.storage.setAlarm(at);
  }

  /** The alarm: send what is due (or let a live socket take over), prune, and arm the next one. */
  async alarm(now: number): Promise<void> {
    const { pushes, outbox, sockets } = this.p;
    if (sockets.live(now).length > 0) pushes.supersedeAll();
    else await this.sendDue(now);
    outbox.prune(now, ACKED_RETENTION_MS);
    pushes.prune();
    const next = pushes.nextDue();
    if (next !== null) await this.p.ctx.storage.setAlarm(Math.max(next, Date.now()));
    else if (outbox.size() > 0) await this.p.ctx.storage.setAlarm(now + PRUNE_EVERY_MS);
  }

  /**
   * Sends the pushes that are due. Each subscription's pushes go in order, the subscriptions
   * side by side: a push service that is slow or never answers (PUSH_TIMEOUT_MS) holds up
   * only its own subscription. Before each send the push is looked at again: a socket that
   * opened or an ack that came while an earlier push was under way takes over.
   */
  private async sendDue(now: number): Promise<void> {
    const vapid = vapidKeys(this.p.env);
    const due = this.p.pushes.due(now);
    if (due.length === 0) return;
    if (!vapid) {
      console.error("Web Push is not configured (VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY missing)");
      this.p.pushes.failAllPending();
      return;
    }
    const byEndpoint = new Map<string, PushRow[]>();
    for (const row of due) byEndpoint.set(row.endpoint, [...(byEndpoint.get(row.endpoint) ?? []), row]);
    // each sealed transfer's seal.age is read once for this round, whatever the subscriptions
    const seals = new Map<string, Promise<string | null>>();
    const sealOf = (t: Transfer) => {
      let p = seals.get(t.id);
      if (!p) {
        p = sealForPush(this.p.env, t).catch((e) => {
          console.warn(JSON.stringify({ event: "push_seal_unread", transfer: t.id, error: String(e) }));
          return null; // pushed without it
        });
        seals.set(t.id, p);
      }
      return p;
    };
    await Promise.all(
      [...byEndpoint.values()].map(async (rows) => {
        for (const row of rows) await this.sendOne(row, vapid, sealOf);
      }),
    );
  }

  private async sendOne(row: PushRow, vapid: VapidKeys, sealOf: (t: Transfer) => Promise<string | null>): Promise<void> {
    const { env, meta, outbox, subscriptions, pushes, sockets } = this.p;
    const now = Date.now();
    if (sockets.live(now).length > 0) {
      pushes.supersedeAll();
      return;
    }
    // acked, taken over by a socket, or its endpoint answered 404/410 to an earlier push
    if (pushes.stateOf(row) !== "pending") return;
    const msg = outbox.get(row.message_id);
    const sub = subscriptions.get(row.endpoint);
    if (!msg || msg.acked_at !== null || !sub || (msg.expires_at !== null && msg.expires_at <= now)) {
      pushes.supersede(row);
      return;
    }
    const message = JSON.parse(msg.body) as ServerMessage;
    // its links are made now: signed for the current token, at the origin the terminal last used;
    // a subscription made with a token since rotated away (a thief's, maybe) is told, but gets no
    // links, and no seal.age (with a stolen identity, it would say what came, or be the message)
    const current = sub.gen >= meta.minGen;
    const outgoing = (await renderMessage(env, message, meta.terminalId, meta.tokenGen, current))(meta.origin);
    const seal = current && outgoing.type === "transfer.ready" ? await sealOf(outgoing.transfer) : null;
    // stored before the rule, or the operator's list changed since: never sent there
    const outcome = !checkPushEndpoint(sub.endpoint, parseAllowedHosts(env.PUSH_ENDPOINT_HOSTS)).ok
      ? ({ kind: "gone", status: 0 } as const)
      : await sendPush(
          sub,
          JSON.stringify(trimForPush(outgoing, MAX_PUSH_PLAINTEXT, seal)),
          { ttl: pushTtl(msg.expires_at, now), urgency: message.type === "transfer.ready" ? "high" : "normal", topic: pushTopic(message) },
          vapid,
          now,
        );
    const attempts = row.attempts + 1;
    const terminalId = meta.terminalId;
    console.log(
      JSON.stringify({ event: "push", terminal: terminalId, message: row.message_id, endpoint: new URL(row.endpoint).origin, attempt: attempts, outcome: outcome.kind, status: outcome.status, ...(outcome.kind === "rejected" ? { detail: outcome.detail } : {}) }),
    );
    switch (outcome.kind) {
      case "sent":
        pushes.sent(row, attempts, outcome.status);
        if (terminalId) await recordNotified(env, terminalId, [message], "push");
        break;
      case "gone":
        subscriptions.delete(row.endpoint);
        pushes.gone(row, attempts, outcome.status);
        break;
      case "retry":
        // Retry-After is what the push service asks for (shorter or longer than our
        // backoff); without it, exponential backoff
        pushes.retry(row, attempts >= MAX_PUSH_ATTEMPTS ? "failed" : "pending", attempts, outcome.status, Date.now() + retryWait(outcome.retryAfterMs, attempts));
        break;
      case "rejected":
        pushes.rejected(row, attempts, outcome.status);
        break;
    }
  }
}
