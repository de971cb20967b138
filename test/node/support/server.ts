import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { processTree, waitGone } from "./procs.ts";
import { PushdropClient } from "../../../client";

/**
 * End-to-end harness: runs the real `npm start` (wrangler dev: workerd with local R2, D1,
 * Queues, Durable Objects) on a free port with its own state directory, and talks to it
 * over HTTP and WebSocket like any client.
 */

export const ROOT = path.resolve(import.meta.dirname, "..", "..", "..");

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Server {
  base: string;
  port: number;
  state: string;
  /** the `npm start` process (leader of its process group) */
  pid: number;
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL of every process `npm start` started, all at once (a crash); resolves once all are gone */
  crash(): Promise<void>;
}

export interface StartOptions {
  /** reuse a state directory (to restart with the same R2/D1/DO state) */
  state?: string;
  port?: number;
  env?: Record<string, string>;
}

/**
 * Starts `npm start`; tried again (up to three times) when it dies of "Address already in use":
 * npm start picks a free port for wrangler's inspector and wrangler binds it a moment later,
 * so another process could still take it in between.
 */
export async function startServer(opts: StartOptions = {}): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(opts);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof Error) || !e.message.includes("Address already in use")) throw e;
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
    }
  }
}

async function startServerOnce(opts: StartOptions): Promise<Server> {
  const port = opts.port ?? (await freePort());
  const state = opts.state ?? mkdtempSync(path.join(tmpdir(), "pushdrop-e2e-"));
  let out = "";
  const child: ChildProcess = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), PUSHDROP_STATE: state, PUSHDROP_SWEEP_SECONDS: "2", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const base = `http://127.0.0.1:${port}`;
  let exited = false;
  child.on("exit", () => (exited = true));

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (exited) return;
    try {
      process.kill(-child.pid!, signal);
    } catch {}
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!exited) {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }
  };

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) {
      if (!opts.state) rmSync(state, { recursive: true, force: true }); // made for this try only
      throw new Error(`npm start exited early:\n${out}`);
    }
    try {
      const res = await fetch(`${base}/v1/push/vapid-public-key`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`npm start did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const crash = async () => {
    const pids = processTree(child.pid!);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    const left = await waitGone(pids, 10_000);
    if (left.length > 0) throw new Error(`still running after SIGKILL: ${left.join(", ")}`);
  };
  return { base, port, state, pid: child.pid!, logs: () => out, stop, crash };
}

export function removeState(state: string) {
  rmSync(state, { recursive: true, force: true });
}

export interface Terminal {
  id: string;
  token: string;
  name: string;
  auth: { authorization: string };
}

export async function register(base: string, name?: string): Promise<Terminal> {
  const t = await new PushdropClient({ server: base }).register(name);
  return { ...t, auth: { authorization: `Bearer ${t.token}` } };
}

/** A client of the API acting as terminal `t`. */
export const clientOf = (base: string, t: Terminal) => new PushdropClient({ server: base, token: t.token });

/** A terminal's live channel, collecting every message it receives. */
export class LiveSocket {
  readonly messages: any[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const text = data.toString();
      try {
        this.messages.push(JSON.parse(text));
      } catch {
        this.messages.push(text);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(base: string, t: Terminal): Promise<LiveSocket> {
    const url = `${base.replace(/^http/, "ws")}/v1/terminals/${t.id}/socket?token=${encodeURIComponent(t.token)}`;
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new LiveSocket(ws)));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`socket refused: ${res.statusCode}`)));
    });
  }

  /** The first message (from index `from`) that matches, waiting up to `ms`. */
  async next(match: (m: any) => boolean, ms = 20_000, from = 0): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${ms} ms; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  ack(id: string) {
    this.ws.send(JSON.stringify({ type: "ack", id }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", () => resolve());
      this.ws.close();
    });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
