import { MAX_SUBSCRIPTIONS } from "../config";
import type { PushSubscriptionJSON } from "../contract";
import type { StoredSubscription } from "./webpush";

/** A terminal's push subscriptions (phone, laptop, …), in its Durable Object's `subscriptions` table. */
export class Subscriptions {
  constructor(private readonly sql: SqlStorage) {}

  /**
   * Stores (or replaces the keys of) a subscription, made with a token of generation `gen`; a
   * terminal keeps its newest MAX_SUBSCRIPTIONS.
   */
  put(sub: PushSubscriptionJSON, now: number, gen: number | null = null): void {
    this.sql.exec(
      `INSERT INTO subscriptions (endpoint, p256dh, auth, created_at, gen) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at, gen = excluded.gen`,
      sub.endpoint,
      sub.keys.p256dh,
      sub.keys.auth,
      now,
      gen,
    );
    this.sql.exec(
      `DELETE FROM subscriptions WHERE endpoint NOT IN
         (SELECT endpoint FROM subscriptions ORDER BY created_at DESC, rowid DESC LIMIT ?)`,
      MAX_SUBSCRIPTIONS,
    );
  }

  /** Removes one subscription (by endpoint) or, without an endpoint, all of them; returns how many. */
  delete(endpoint?: string): number {
    const cur = endpoint ? this.sql.exec("DELETE FROM subscriptions WHERE endpoint = ?", endpoint) : this.sql.exec("DELETE FROM subscriptions");
    return cur.rowsWritten;
  }

  /** A subscription, with the token generation it was made with (1 when not recorded). */
  get(endpoint: string): (StoredSubscription & { gen: number }) | null {
    return (
      this.sql
        .exec<StoredSubscription & { gen: number } & Record<string, SqlStorageValue>>(
          "SELECT endpoint, p256dh, auth, COALESCE(gen, 1) AS gen FROM subscriptions WHERE endpoint = ?",
          endpoint,
        )
        .toArray()[0] ?? null
    );
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM subscriptions").one().n;
  }
}
