/**
 * What a Terminal Durable Object knows about itself (its `meta` table): the terminal id it
 * serves, the oldest token generation whose sockets it still takes (raised by a token
 * rotation), whether the terminal was deleted, and the origin the terminal itself last used
 * (the links of its pushed messages point there when PUBLIC_URL is not set).
 */
export class Meta {
  constructor(private readonly sql: SqlStorage) {}

  private get(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  private set(key: string, value: string): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  get terminalId(): string | null {
    return this.get("terminal_id");
  }

  /** Notes the terminal id on first contact (an object is addressed by it, but cannot read its own name). */
  remember(terminalId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('terminal_id', ?)", terminalId);
  }

  get minGen(): number {
    return Number(this.get("min_gen") ?? 0);
  }

  raiseMinGen(gen: number): void {
    if (gen > this.minGen) this.set("min_gen", String(gen));
  }

  /**
   * The generation of the terminal's current token, as far as links go: a rotation raises
   * minGen here before D1 takes the new token, so this is never older than D1's (links it
   * signs are never revoked at birth); a terminal never rotated is at generation 1.
   */
  get tokenGen(): number {
    return Math.max(1, this.minGen);
  }

  /** The terminal reached us at `origin` with a token of generation `gen` (its socket, its push subscription). */
  noteOrigin(origin: string, gen: number): void {
    if (gen < this.minGen) return;
    this.set("origin", JSON.stringify({ origin, gen }));
  }

  /**
   * The origin the terminal last used, or null: none recorded, or recorded by a token since
   * rotated away (whoever held the old token does not choose where the new holder's links go).
   */
  get origin(): string | null {
    const raw = this.get("origin");
    if (raw === null) return null;
    const { origin, gen } = JSON.parse(raw) as { origin: string; gen: number };
    return gen >= this.minGen ? origin : null;
  }

  get deleted(): boolean {
    return this.get("deleted") !== null;
  }

  markDeleted(): void {
    this.set("deleted", "1");
  }
}
