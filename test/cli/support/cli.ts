import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { expect } from "vitest";
import { removeState, ROOT, startServer, type Server } from "../../node/support/server.ts";

/**
 * Running the real `pushdrop` (bin/pushdrop.mjs → dist/cli/pushdrop.mjs) as a child process,
 * each user with a HOME, XDG_CONFIG_HOME and XDG_STATE_HOME of its own; and a proxy that
 * counts every request between a CLI and the server (and can cut one off).
 */

export const BIN = path.join(ROOT, "bin", "pushdrop.mjs");

export interface User {
  name: string;
  home: string;
  env: Record<string, string>;
  id?: string;
}

export function makeUser(root: string, name: string, server: string): User {
  const home = path.join(root, name);
  mkdirSync(home, { recursive: true });
  const env = {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
    PUSHDROP_SERVER: server,
  };
  return { name, home, env };
}

/** What a test file of the real command runs against (filled in as it starts, so a failure half way still stops what started). */
export interface Stage {
  server?: Server;
  root?: string;
  users: User[];
}

/**
 * The CLI built, `npm start` running, a fresh folder (`prefix`…), and for each name a user
 * registered there (`register --json`; its id set), each output shown to `registered`.
 */
export async function setUpStage(
  stage: Stage,
  prefix: string,
  names: string[],
  registered?: (u: User, out: Record<string, any>) => void | Promise<void>,
): Promise<void> {
  execFileSync(process.execPath, [path.join(ROOT, "scripts", "build-cli.mjs")], { stdio: "inherit" });
  stage.server = await startServer();
  stage.root = mkdtempSync(path.join(tmpdir(), prefix));
  for (const name of names) {
    const { user, out } = await registerUser(stage.root, name, stage.server.base);
    stage.users.push(user);
    await registered?.(user, out);
  }
}

/** A new user `name` in `root`, registered on `server` with `register --json` (its id set); `out` is what register printed. */
export async function registerUser(root: string, name: string, server: string): Promise<{ user: User; out: Record<string, any> }> {
  const user = makeUser(root, name, server);
  const r = await runCli(user, ["register", "--name", name, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  user.id = out.id;
  return { user, out };
}

/** Stops the server and removes its state and the test's folder. */
export async function tearDownStage(stage: Stage): Promise<void> {
  await stage.server?.stop();
  if (stage.server) removeState(stage.server.state);
  if (stage.root) rmSync(stage.root, { recursive: true, force: true });
}

/** The environment a child gets: this one without anything pushdrop reads, then the user's. */
export function childEnv(user: User, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("PUSHDROP_") || k.startsWith("XDG_")) delete env[k];
  delete env.FORCE_COLOR;
  return { ...env, TERM: "xterm-256color", ...user.env, ...extra };
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<Run>;
}

export function spawnCli(user: User, args: string[], opts: { env?: Record<string, string>; cwd?: string; command?: string[]; detached?: boolean } = {}): Running {
  // `command`: how pushdrop is started (default: node bin/pushdrop.mjs); `detached`: in a process group of its own
  const [cmd, ...pre] = opts.command ?? [process.execPath, BIN];
  const child = spawn(cmd!, [...pre, ...args], { cwd: opts.cwd ?? user.home, env: childEnv(user, opts.env), stdio: ["ignore", "pipe", "pipe"], detached: opts.detached });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const done = new Promise<Run>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout: out, stderr: err })));
  return { child, stdout: () => out, stderr: () => err, done };
}

export function runCli(user: User, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  const r = spawnCli(user, args, opts);
  const timer = setTimeout(() => r.child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  return r.done.finally(() => clearTimeout(timer));
}

/** Waits until `check` is true, polling. */
export async function until(check: () => boolean | Promise<boolean>, ms = 30_000, what: string | (() => string) = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every file below `root` as "relative/path" → sha256. */
export function treeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out[r] = e.isFile() ? createHash("sha256").update(readFileSync(path.join(d, e.name))).digest("hex") : "not a regular file";
    }
  };
  walk(root, "");
  return out;
}

export interface Seen {
  method: string;
  url: string;
  range: string | null;
  status: number | null;
  /** response bytes passed on to the client */
  bytesOut: number;
  done: boolean;
}

/**
 * A counting proxy in front of the server: records each request (method, URL, Range, the
 * server's status, bytes passed back) and lets a test act when an answer arrives
 * (`onResponse`, before it is passed on) or when a response has passed a number of bytes
 * (`cutAfter`: then the response stops there, as if the line went down).
 */
export class CountingProxy {
  readonly seen: Seen[] = [];
  onResponse: ((s: Seen) => void) | null = null;
  cutAfter: { match: (s: Seen) => boolean; bytes: number; then: (s: Seen) => void } | null = null;
  private readonly server: http.Server;
  private readonly target: URL;
  base = "";

  private constructor(target: string) {
    this.target = new URL(target);
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on("upgrade", (req, socket, head) => {
      const up = net.connect(Number(this.target.port), this.target.hostname, () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        up.write(`${lines.join("\r\n")}\r\n\r\n`);
        up.write(head);
        socket.pipe(up).pipe(socket);
      });
      up.on("error", () => socket.destroy());
      socket.on("error", () => up.destroy());
    });
  }

  /** A proxy on `port` (default: a free one), e.g. to bring one back where a stopped one was. */
  static async start(target: string, port = 0): Promise<CountingProxy> {
    const p = new CountingProxy(target);
    await new Promise<void>((r) => p.server.listen(port, "127.0.0.1", () => r()));
    p.base = `http://127.0.0.1:${(p.server.address() as net.AddressInfo).port}`;
    return p;
  }

  /** Requests still open (waiting for or passing their answer). */
  get open(): number {
    return this.seen.filter((s) => !s.done).length;
  }

  /** Those requests, for a message. */
  stillOpen(): string {
    return this.seen.filter((s) => !s.done).map((s) => `${s.method} ${s.url} → ${s.status ?? "no answer yet"}`).join(", ");
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse) {
    const s: Seen = { method: req.method!, url: req.url!, range: (req.headers.range as string | undefined) ?? null, status: null, bytesOut: 0, done: false };
    this.seen.push(s);
    const up = http.request(
      // the Host header stays the proxy's: the server builds its absolute URLs (uploadUrl, downloadUrl) from it
      { host: this.target.hostname, port: this.target.port, path: req.url, method: req.method, headers: req.headers },
      (ur) => {
        s.status = ur.statusCode ?? null;
        this.onResponse?.(s);
        if (res.destroyed) {
          // the client is gone; the server answered all the same (it had the whole body)
          ur.resume();
          ur.on("end", () => (s.done = true));
          ur.on("error", () => (s.done = true));
          return;
        }
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        const cut = this.cutAfter && this.cutAfter.match(s) ? this.cutAfter : null;
        const count = new Transform({
          transform: (chunk: Buffer, _e, cb) => {
            s.bytesOut += chunk.length;
            if (cut && s.bytesOut >= cut.bytes) {
              this.cutAfter = null;
              cb(null, chunk);
              cut.then(s);
              setImmediate(() => {
                ur.destroy();
                res.destroy();
                s.done = true;
              });
              return;
            }
            cb(null, chunk);
          },
        });
        ur.pipe(count).pipe(res);
        res.on("close", () => {
          s.done = true;
          ur.destroy();
        });
      },
    );
    up.on("error", () => {
      s.done = true;
      res.destroy();
    });
    req.pipe(up);
    // the client went away before its request was whole: the server must see it cut short too
    req.on("close", () => {
      if (!req.complete) up.destroy();
    });
    res.on("close", () => {
      // gone before the answer: a body cut short is cut short for the server too; a whole one
      // is left to finish, so that `open` counts it until the server has answered
      if (s.status === null && !req.complete) {
        s.done = true;
        up.destroy();
      }
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
