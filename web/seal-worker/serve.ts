/// <reference lib="webworker" />
import { PROGRESS_EVERY, type EncryptJob, type FromWorker, type HashJob, type ToWorker } from "./protocol";

declare const self: DedicatedWorkerGlobalScope;

/** What a sealing worker's job is given: how to report, and how an abort reaches it. */
export interface Run {
  say(m: FromWorker): void;
  /** counts plaintext bytes read, saying `progress` at most every PROGRESS_EVERY bytes */
  count(n: number): void;
  /** the plaintext bytes counted so far */
  readonly plain: number;
  /** the reader an abort cancels (at once, when the abort came first) */
  watch(reader: ReadableStreamDefaultReader<unknown>): void;
  /** throws AbortError once an abort came (checked after each read) */
  check(): void;
}

/**
 * The message loop both sealing workers run (/seal-encrypt.js, /seal-hash.js): each job of
 * `type` runs `run`; "abort" stops the one under way; a failure is said as `failed` (its name,
 * message and a SealError's code), after `run`'s own clean-up.
 */
export function serve<J extends EncryptJob | HashJob>(type: J["type"], run: (job: J, r: Run) => Promise<FromWorker>): void {
  let aborted = false;
  let stop: (() => void) | null = null;
  const say = (m: FromWorker) => self.postMessage(m);
  self.onmessage = (ev: MessageEvent<ToWorker>) => {
    const m = ev.data;
    if (m.type === "abort") {
      aborted = true;
      stop?.();
    } else if (m.type === type) {
      aborted = false;
      void job(m as J);
    }
  };
  async function job(m: J): Promise<void> {
    let plain = 0;
    let said = 0;
    const r: Run = {
      say,
      count(n) {
        plain += n;
        if (plain - said >= PROGRESS_EVERY) {
          said = plain;
          say({ type: "progress", plain });
        }
      },
      get plain() {
        return plain;
      },
      watch(reader) {
        stop = () => void reader.cancel().catch(() => {});
        if (aborted) stop();
      },
      check() {
        if (aborted) throw new DOMException("sealing was stopped", "AbortError");
      },
    };
    try {
      say(await run(m, r));
    } catch (err) {
      const e = err as { name?: string; message?: string; code?: string };
      say({ type: "failed", name: e?.name ?? "Error", message: e?.message ?? String(err), ...(typeof e?.code === "string" ? { code: e.code } : {}) });
    } finally {
      stop = null;
    }
  }
}
