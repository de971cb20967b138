import type { ServerMessage } from "../contract";

/**
 * The outbox of one terminal, in its Durable Object's SQLite storage (schema: ./schema.ts). A message stays
 * until the terminal acknowledges it; enqueueing is idempotent by message id (a message
 * id already seen, even acknowledged, is not queued again), which makes at-least-once
 * producers (the queue consumer, the cron) safe.
 */

export interface OutboxRow {
  seq: number;
  id: string;
  type: string;
  transfer_id: string | null;
  body: string;
  created_at: number;
  expires_at: number | null;
  acked_at: number | null;
  push_attempts: number;
  push_next_at: number | null;
  push_state: string | null; // null: not needed yet; 'pending' | 'sent' | 'failed' | 'none'
}

export class Outbox {
  constructor(private readonly sql: SqlStorage) {}

  /** Queues a message; false when one with that id was queued before. */
  add(msg: ServerMessage, transferId: string | null, now: number, expiresAt: number | null): boolean {
    // (an explicit look-up: `rowsWritten` also counts the conflict of an ignored INSERT OR IGNORE;
    // the object is single-threaded, so nothing can slip in between)
    if (this.sql.exec("SELECT 1 FROM outbox WHERE id = ?", msg.id).toArray().length > 0) return false;
    this.sql.exec(
      `INSERT INTO outbox (id, type, transfer_id, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
      msg.id,
      msg.type,
      transferId,
      JSON.stringify(msg),
      now,
      expiresAt,
    );
    return true;
  }

  /** Unacknowledged messages, oldest first, leaving out those whose transfer has expired. */
  pending(now: number): OutboxRow[] {
    return this.sql
      .exec<OutboxRow & Record<string, SqlStorageValue>>(
        "SELECT * FROM outbox WHERE acked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq",
        now,
      )
      .toArray();
  }

  get(id: string): OutboxRow | null {
    return (
      this.sql.exec<OutboxRow & Record<string, SqlStorageValue>>("SELECT * FROM outbox WHERE id = ?", id).toArray()[0] ??
      null
    );
  }

  /** Marks a message acknowledged; false when there was no such unacknowledged message. */
  ack(id: string, now: number): boolean {
    const cur = this.sql.exec(
      "UPDATE outbox SET acked_at = ?, body = '{}', push_state = CASE WHEN push_state = 'pending' THEN 'none' ELSE push_state END WHERE id = ? AND acked_at IS NULL",
      now,
      id,
    );
    return cur.rowsWritten > 0;
  }

  /** Undoes an ack whose consequence could not be recorded: the message is pending again. */
  reopen(row: OutboxRow): void {
    this.sql.exec("UPDATE outbox SET acked_at = NULL, body = ? WHERE id = ?", row.body, row.id);
  }

  /** A ready message is moot once its transfer has ended: retire it unacknowledged. */
  retireForTransfer(transferId: string, type: string, now: number): void {
    this.sql.exec(
      "UPDATE outbox SET acked_at = ?, body = '{}', push_state = 'none' WHERE transfer_id = ? AND type = ? AND acked_at IS NULL",
      now,
      transferId,
      type,
    );
  }

  /**
   * `terminal.key_changed` of terminal `terminalId` with id `id` (`<terminal>.key.<generation>`)
   * is about to be queued: an announcement of an older generation not yet acknowledged is
   * retired (the newer key supersedes it). False when this outbox has seen a newer one: this
   * one is stale and is not queued.
   */
  supersedeKey(terminalId: string, id: string, now: number): boolean {
    const prefix = `${terminalId}.key.`;
    if (!id.startsWith(prefix)) return true;
    const gen = Number(id.slice(prefix.length));
    const ofKey = "type = 'terminal.key_changed' AND substr(id, 1, ?1) = ?2 AND CAST(substr(id, ?1 + 1) AS INTEGER)";
    const newer = this.sql.exec(`SELECT 1 FROM outbox WHERE ${ofKey} > ?3 LIMIT 1`, prefix.length, prefix, gen).toArray().length > 0;
    if (newer) return false;
    this.sql.exec(
      `UPDATE outbox SET acked_at = ?4, body = '{}', push_state = 'none' WHERE ${ofKey} < ?3 AND acked_at IS NULL`,
      prefix.length,
      prefix,
      gen,
      now,
    );
    return true;
  }

  /** Drops acknowledged rows past their retention, and expired unacknowledged ones. */
  prune(now: number, ackedRetentionMs: number): void {
    this.sql.exec(
      "DELETE FROM outbox WHERE (acked_at IS NOT NULL AND acked_at < ?) OR (expires_at IS NOT NULL AND expires_at < ?)",
      now - ackedRetentionMs,
      now - ackedRetentionMs,
    );
  }

  /** Every row, acknowledged or not. */
  size(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  clear(): void {
    this.sql.exec("DELETE FROM outbox");
  }

  countPending(now: number): number {
    return this.sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM outbox WHERE acked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        now,
      )
      .one().n;
  }
}
