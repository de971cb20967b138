import type { Ui } from "./ui";

/**
 * Says, while an upload or a download waits to try again, that it does and why: "server not
 * reachable, retrying (3/5) in 4 s…", instead of a bar that stands still for half a minute
 * before the command gives up. Parts go up three at a time, so three failures of one outage
 * make one line (a line per retry number); once bytes go through again, one line says so.
 */
export class RetryNotes {
  private shown = 0;
  private troubled = false;

  constructor(
    private readonly ui: Ui,
    /** tries in all (the first and the retries) */
    private readonly tries: number,
  ) {}

  /**
   * A try failed and the next one comes in `delayMs` (`attempt`: how many have failed);
   * `status`: the server's answer, or null when none came (the server could not be reached,
   * or the connection broke).
   */
  retrying(attempt: number, delayMs: number, status: number | null): void {
    this.troubled = true;
    if (attempt <= this.shown) return; // another part of the same outage
    this.shown = attempt;
    const why = status === null ? "server not reachable" : status === 429 ? "server busy (429)" : `server error (HTTP ${status})`;
    // (a server that answered may have said when to come back, which the client honours instead)
    const when = status === null ? ` in ${Math.max(1, Math.round(delayMs / 1000))} s` : "";
    this.ui.warn(`${why}, retrying (${attempt}/${this.tries - 1})${when}…`);
  }

  /** Bytes went through: after trouble, say so once. */
  through(): void {
    if (!this.troubled) return;
    this.troubled = false;
    this.shown = 0;
    this.ui.warn("server reachable again, going on");
  }
}
