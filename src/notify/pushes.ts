/**
 * The pushes a terminal owes (its Durable Object's `pushes` table): one row per message and
 * subscription that needs (or needed) a Web Push, with its state (pending, sent, gone,
 * failed, superseded), attempts and when it is next due. Only SQL lives here; the sending is
 * pusher.ts.
 */

export interface PushRow {
  message_id: string;
  endpoint: string;
  attempts: number;
  next_at: number;
}

export interface PushLogRow {
  message_id: string;
  endpoint: string;
  state: string;
  attempts: number;
  last_status: number | null;
}

export class Pushes {
  constructor(private readonly sql: SqlStorage) {}

  /**
   * A push of the message to every subscription, due now; returns how many rows that made
   * due. A push a socket took over (superseded) is due again: that socket went away without
   * acknowledging the message. One that was sent, failed for good or whose subscription is
   * gone stays as it is.
   */
  schedule(messageId: string, now: number): number {
    return this.sql.exec(
      `INSERT INTO pushes (message_id, endpoint, state, next_at)
       SELECT ?, endpoint, 'pending', ? FROM subscriptions WHERE true
       ON CONFLICT (message_id, endpoint) DO UPDATE SET state = 'pending', next_at = excluded.next_at
       WHERE pushes.state = 'superseded'`,
      messageId,
      now,
    ).rowsWritten;
  }

  /** A live socket takes over: every push still waiting to be (re)tried is superseded. */
  supersedeAll(): void {
    this.sql.exec("UPDATE pushes SET state = 'superseded' WHERE state = 'pending'");
  }

  /** The message was acknowledged: its pushes still waiting are moot. */
  supersedeMessage(messageId: string): void {
    this.sql.exec("UPDATE pushes SET state = 'superseded' WHERE message_id = ? AND state = 'pending'", messageId);
  }

  supersede(row: PushRow): void {
    this.sql.exec("UPDATE pushes SET state = 'superseded' WHERE message_id = ? AND endpoint = ? AND state = 'pending'", row.message_id, row.endpoint);
  }

  /** Pushes waiting for a subscription that no longer exists are gone. */
  dropOrphans(): void {
    this.sql.exec("UPDATE pushes SET state = 'gone' WHERE state = 'pending' AND endpoint NOT IN (SELECT endpoint FROM subscriptions)");
  }

  failAllPending(): void {
    this.sql.exec("UPDATE pushes SET state = 'failed' WHERE state = 'pending'");
  }

  due(now: number): PushRow[] {
    return this.sql
      .exec<PushRow & Record<string, SqlStorageValue>>(
        "SELECT message_id, endpoint, attempts, next_at FROM pushes WHERE state = 'pending' AND next_at <= ? ORDER BY next_at",
        now,
      )
      .toArray();
  }

  stateOf(row: PushRow): string | null {
    return (
      this.sql.exec<{ state: string }>("SELECT state FROM pushes WHERE message_id = ? AND endpoint = ?", row.message_id, row.endpoint).toArray()[0]?.state ??
      null
    );
  }

  sent(row: PushRow, attempts: number, status: number): void {
    this.sql.exec("UPDATE pushes SET state = 'sent', attempts = ?, last_status = ? WHERE message_id = ? AND endpoint = ?", attempts, status, row.message_id, row.endpoint);
  }

  /** The endpoint is dead (404/410): every push waiting for it is gone. */
  gone(row: PushRow, attempts: number, status: number): void {
    this.sql.exec("UPDATE pushes SET state = 'gone', last_status = ? WHERE endpoint = ? AND state = 'pending'", status, row.endpoint);
    this.sql.exec("UPDATE pushes SET attempts = ? WHERE message_id = ? AND endpoint = ?", attempts, row.message_id, row.endpoint);
  }

  /**
   * Another try at `nextAt`, or failed for good. A socket that opened (or an ack that came)
   * while the push service was answering has superseded this push meanwhile: keep that, and
   * record only the attempt.
   */
  retry(row: PushRow, state: "pending" | "failed", attempts: number, status: number, nextAt: number): void {
    this.sql.exec(
      "UPDATE pushes SET state = CASE WHEN state = 'pending' THEN ? ELSE state END, attempts = ?, last_status = ?, next_at = ? WHERE message_id = ? AND endpoint = ?",
      state, attempts, status, nextAt, row.message_id, row.endpoint,
    );
  }

  rejected(row: PushRow, attempts: number, status: number): void {
    this.sql.exec("UPDATE pushes SET state = 'failed', attempts = ?, last_status = ? WHERE message_id = ? AND endpoint = ?", attempts, status, row.message_id, row.endpoint);
  }

  /** Forgets finished pushes of messages the outbox no longer holds. */
  prune(): void {
    this.sql.exec("DELETE FROM pushes WHERE state != 'pending' AND message_id NOT IN (SELECT id FROM outbox)");
  }

  nextDue(): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM pushes WHERE state = 'pending'").one().at;
  }

  log(): PushLogRow[] {
    return this.sql
      .exec<PushLogRow & Record<string, SqlStorageValue>>("SELECT message_id, endpoint, state, attempts, last_status FROM pushes ORDER BY rowid")
      .toArray();
  }

  clear(): void {
    this.sql.exec("DELETE FROM pushes");
  }
}
