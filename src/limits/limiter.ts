import { DurableObject } from "cloudflare:workers";

/**
 * A token bucket in a Durable Object: one object per key ("terminal:578418129",
 * "address:203.0.113.7", "register:…"), so every request of that key, from anywhere, meets
 * the same count, and the count survives restarts (SQLite storage). A bucket holds up to
 * `capacity` tokens and refills `capacity` per `periodMs`; a request takes one.
 *
 * Why not the Workers rate-limiting binding: it works under `wrangler dev` 4.86 too, but its
 * limit and period are fixed in wrangler.toml (period 10 or 60 s only, so no hourly limits),
 * not `[vars]`; it says nothing about when to retry (no Retry-After); and in production its
 * counts are per Cloudflare location and eventually consistent.
 */

export interface Taken {
  ok: boolean;
  /** when a refused request may try again (0 when ok) */
  retryAfterMs: number;
  /** tokens left after this request */
  remaining: number;
}

/** The bucket arithmetic, pure: `tokens` held at `at`, refilled to `now`, minus one if there is one. */
export function takeToken(
  state: { tokens: number; at: number } | null,
  now: number,
  capacity: number,
  periodMs: number,
): { state: { tokens: number; at: number }; taken: Taken } {
  const rate = capacity / periodMs; // tokens per ms
  const tokens = state === null ? capacity : Math.min(capacity, state.tokens + Math.max(0, now - state.at) * rate);
  if (tokens >= 1) {
    return { state: { tokens: tokens - 1, at: now }, taken: { ok: true, retryAfterMs: 0, remaining: Math.floor(tokens - 1) } };
  }
  return { state: { tokens, at: now }, taken: { ok: false, retryAfterMs: Math.ceil((1 - tokens) / rate), remaining: 0 } };
}

/**
 * An idle object that can hibernate leaves memory after 10 s without a request (Cloudflare's
 * "Lifecycle of a Durable Object"), and comes back with only what it wrote.
 */
const IDLE_EVICTION_MS = 10_000;

/**
 * The bucket lives in memory while the object does. A write holds the object's answer until it
 * is durable (the output gate: 2–12 ms here, on every request of every key, when every take
 * was written), so a take is written only when it matters:
 *  - while the bucket is less than half full (so every refusal, and every take of a flood);
 *  - otherwise every `writeEvery`-th take, so that a client that waits out the eviction (a
 *    burst, 10 s of silence, a burst…) gains at most that many requests per 10 s: at most half
 *    its limit again, and nothing for a bucket whose period is long (registrations per hour:
 *    every take is written).
 * After a restart the object goes on from the last write, refilled from its time.
 */
export function writeEvery(capacity: number, periodMs: number): number {
  return Math.max(1, Math.floor((capacity * IDLE_EVICTION_MS) / periodMs / 2));
}

export class RateLimiter extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private bucket: { tokens: number; at: number } | null;
  private alarmSet = false;
  /** takes since the last write */
  private unwritten = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.migrate();
    this.bucket = this.sql.exec<{ tokens: number; at: number }>("SELECT tokens, at FROM bucket WHERE id = 1").toArray()[0] ?? null;
    this.alarmSet = this.bucket !== null;
  }

  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS bucket (id INTEGER PRIMARY KEY CHECK (id = 1), tokens REAL NOT NULL, at INTEGER NOT NULL, period INTEGER NOT NULL)");
  }

  async take(capacity: number, periodMs: number): Promise<Taken> {
    const now = Date.now();
    const { state, taken } = takeToken(this.bucket, now, capacity, periodMs);
    this.bucket = state;
    if (state.tokens < capacity / 2 || ++this.unwritten >= writeEvery(capacity, periodMs)) {
      this.unwritten = 0;
      this.sql.exec("INSERT OR REPLACE INTO bucket (id, tokens, at, period) VALUES (1, ?, ?, ?)", state.tokens, state.at, periodMs);
      // once the bucket is full again, nothing is worth keeping: the alarm forgets it
      if (!this.alarmSet) {
        this.alarmSet = true;
        await this.ctx.storage.setAlarm(now + periodMs);
      }
    }
    return taken;
  }

  override async alarm(): Promise<void> {
    const row = this.sql.exec<{ at: number; period: number }>("SELECT at, period FROM bucket WHERE id = 1").toArray()[0];
    if (!row) return;
    const full = row.at + row.period;
    if (full > Date.now()) return this.ctx.storage.setAlarm(full);
    await this.ctx.storage.deleteAll();
    this.migrate();
    this.alarmSet = false;
  }
}
