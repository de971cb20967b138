/**
 * What a Terminal Durable Object knows about itself (its `meta` table): the terminal id it
 * serves, the oldest token generation whose sockets it still takes (raised by a token
 * rotation), and whether the terminal was deleted.
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

  get deleted(): boolean {
    return this.get("deleted") !== null;
  }

  markDeleted(): void {
    this.set("deleted", "1");
  }
}
