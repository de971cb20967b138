import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { jsonSafe, shown } from "./sanitize";

/**
 * Where output goes. Results go to stdout: sentences for people, or with `--json` exactly one
 * JSON document (one per line for `listen`). Everything else (progress, notes, prompts,
 * warnings) goes to stderr, so `pushdrop send … --json | jq .id` just works.
 *
 * Every line goes through `shown` (cli/sanitize.ts) on its way out, and every JSON document
 * through `jsonSafe`: whatever a command builds from what another party wrote, no control
 * or bidi character of theirs reaches the terminal. (Commands also pass names through
 * `shown` themselves, so that a newline in a name cannot start a line of its own.)
 */
export class Ui {
  /** lines written through a live progress display go above its bars */
  logSink: ((line: string) => void) | null = null;

  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
    private readonly env = process.env,
  ) {}

  /** stderr is a terminal that can redraw bars in place */
  get drawable(): boolean {
    return !this.quiet && Boolean(process.stderr.isTTY) && this.env.TERM !== "dumb";
  }

  /** stdout is a terminal (QR codes, colors of results) */
  get stdoutTty(): boolean {
    return Boolean(process.stdout.isTTY) && this.env.TERM !== "dumb";
  }

  /** stdin and stderr are a terminal: a person is there to answer a question */
  get interactive(): boolean {
    return Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY);
  }

  /** A result line for people (nothing in --json mode). */
  print(line = ""): void {
    if (!this.json) process.stdout.write(`${shown(line, { multiline: true })}\n`);
  }

  /** The --json result: one document on stdout. */
  emit(doc: unknown): void {
    if (this.json) process.stdout.write(`${jsonSafe(JSON.stringify(doc, null, 2))}\n`);
  }

  /** One event of a stream (listen --json): one JSON object per line. */
  emitLine(doc: unknown): void {
    if (this.json) process.stdout.write(`${jsonSafe(JSON.stringify(doc))}\n`);
  }

  /** Progress and notes on stderr (silenced by --quiet). */
  info(text: string): void {
    if (this.quiet) return;
    const line = shown(text, { multiline: true });
    if (this.logSink) this.logSink(line);
    else process.stderr.write(`${line}\n`);
  }

  /** Warnings and errors on stderr, always. */
  warn(text: string): void {
    const line = shown(text, { multiline: true });
    if (this.logSink) this.logSink(line);
    else process.stderr.write(`${line}\n`);
  }

  private keys: { onData: (d: Buffer) => void; take: () => void; giveBack: () => void } | null = null;

  /**
   * For `listen` on a terminal: Ctrl-C is read as a key (raw mode) and handled as the SIGINT
   * it would have been, instead of the terminal signalling the whole foreground process group.
   * Started by `npx`, that group also holds npm and the `sh -c` it runs pushdrop in; a shell
   * that got the SIGINT kills itself with it once pushdrop has exited, and npm then ends with
   * 130, however pushdrop ended. Read as a key, only pushdrop hears it, so `npx pushdrop listen`
   * ends with 0 like `pushdrop listen`. Ctrl-Z still suspends (the group, as the terminal
   * would); Ctrl-\ still quits. Returns the function that gives the terminal back.
   *
   * Only while pushdrop is in the terminal's foreground: a background job that set the mode or
   * read the keys would be stopped by the terminal (SIGTTOU, SIGTTIN), so `pushdrop listen &`
   * leaves the terminal alone, and a job sent to the background (Ctrl-Z, `bg`) gives it back
   * and takes it again when it is brought to the foreground. Where that cannot be known (no
   * `/proc`), nothing changes: Ctrl-C is the terminal's signal, as before.
   */
  keysInsteadOfSignals(onCtrlC: () => void): () => void {
    const stdin = process.stdin;
    if (!stdin.isTTY || typeof stdin.setRawMode !== "function" || this.keys) return () => undefined;
    let held = false;
    const take = () => {
      if (held || !inForeground()) return;
      held = true;
      stdin.setRawMode(true);
      stdin.on("data", onData);
      stdin.resume();
    };
    const giveBack = () => {
      if (!held) return;
      held = false;
      stdin.off("data", onData);
      stdin.pause();
      if (inForeground()) stdin.setRawMode(false); // (a background job may not; its shell resets the terminal)
    };
    const onData = (d: Buffer) => {
      for (const b of d) {
        if (b === 0x03) onCtrlC();
        else if (b === 0x1a || b === 0x1c) {
          giveBack(); // (while suspended; taken again on SIGCONT once back in the foreground)
          process.kill(0, b === 0x1a ? "SIGTSTP" : "SIGQUIT"); // the whole group, as the terminal does
        }
      }
    };
    const onCont = () => {
      if (this.keys?.onData !== onData) return;
      if (inForeground()) take();
      else giveBack();
    };
    this.keys = { onData, take, giveBack };
    take();
    process.on("SIGCONT", onCont);
    return () => {
      if (this.keys?.onData !== onData) return;
      this.keys = null;
      process.off("SIGCONT", onCont);
      giveBack();
    };
  }

  /** Asks a yes/no question on stderr; Enter alone means `dflt`. */
  async confirm(question: string, dflt: boolean): Promise<boolean> {
    // readline reads the keys (and Ctrl-C) itself while it asks; ours resume after
    const keys = this.keys;
    keys?.giveBack();
    try {
      return await this.ask(question, dflt);
    } finally {
      if (keys && this.keys === keys) keys.take();
    }
  }

  private async ask(question: string, dflt: boolean): Promise<boolean> {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      const answer = await new Promise<string | null>((resolve) => {
        rl.question(`${question} ${dflt ? "[Y/n]" : "[y/N]"} `, resolve);
        rl.once("close", () => resolve(null)); // stdin ended: no answer is not a yes
        // readline takes Ctrl-C for itself while it reads: a no, and passed on as anywhere else
        rl.once("SIGINT", () => {
          resolve(null);
          rl.close();
          process.stderr.write("\n");
          process.emit("SIGINT", "SIGINT");
        });
      });
      if (answer === null) return false;
      const a = answer.trim().toLowerCase();
      return a === "" ? dflt : a === "y" || a === "yes";
    } finally {
      rl.close();
    }
  }
}

/**
 * Whether this process is in its terminal's foreground process group: on Linux, /proc/self/stat
 * holds both (its pgrp and the terminal's tpgid: the 3rd and 6th fields after the command name,
 * which is in parentheses). Elsewhere: unknown, so false.
 */
function inForeground(): boolean {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state ppid pgrp session tty_nr tpgid …
    return f[2] !== undefined && f[2] === f[5];
  } catch {
    return false;
  }
}
