import { execFileSync } from "node:child_process";
import { createECDH, randomBytes, type ECDH } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import ece from "http_ece";
import { errors as joseErrors, importJWK, jwtVerify } from "jose";

/**
 * A local Web Push service that is not ours, for end-to-end tests: it plays the part of a
 * browser vendor's push service (RFC 8030) and of the browser that decrypts the message.
 *
 * - HTTPS on 127.0.0.1 with a self-signed certificate (subjectAltName=IP:127.0.0.1) made at
 *   start with the `openssl` CLI; pass `certPath` to the server as NODE_EXTRA_CA_CERTS so
 *   workerd trusts it.
 * - `subscribe(name)` makes a subscription the way a browser does: a fresh ECDH P-256 key
 *   pair and a 16-byte auth secret (node:crypto), endpoint `https://127.0.0.1:<port>/push/<name>`.
 * - Each POST /push/<name> is checked independently of the server's code: the VAPID JWT
 *   (RFC 8292) with `jose` (ES256, `aud` = this origin, `exp` in the future and at most 24 h
 *   ahead, `sub` a mailto:/https: contact, `k=` the expected application server key), the
 *   RFC 8030 headers (TTL, Urgency, Topic), and the aes128gcm body (RFC 8188/8291) is
 *   decrypted with `http_ece` using the subscription's keys. Anything wrong is recorded in
 *   `problems` and answered like a strict push service would (400/401/403/413).
 * - Replies can be scripted per endpoint (`script("phone", {status: 503, headers: {"retry-after": "1"}})`);
 *   once the script is used up every push is answered 201 Created.
 */

export interface PushSubscriptionJSON {
  endpoint: string;
  expirationTime: null;
  keys: { p256dh: string; auth: string };
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
}

export interface ReceivedPush {
  name: string;
  /** when it arrived (ms since epoch) */
  at: number;
  headers: {
    ttl: string | null;
    urgency: string | null;
    topic: string | null;
    contentEncoding: string | null;
    contentType: string | null;
    authorization: string | null;
  };
  /** the verified VAPID claims, or null when verification failed */
  vapid: { aud: string; sub: string; exp: number; k: string } | null;
  bodyBytes: number;
  /** the decrypted plaintext, or null */
  text: string | null;
  /** the decrypted plaintext parsed as JSON, or undefined */
  payload: any;
  /** everything a strict push service would object to; empty when the push is well-formed */
  problems: string[];
  /** what this service answered */
  status: number;
}

interface Subscriber {
  ecdh: ECDH;
  auth: Buffer;
  subscription: PushSubscriptionJSON;
}

const MAX_BODY = 4096; // RFC 8030 §7.2: a push service must accept at least 4096 bytes of body; we take no more
const URGENCIES = new Set(["very-low", "low", "normal", "high"]);

export class PushService {
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly scripts = new Map<string, Reply[]>();
  private readonly log: ReceivedPush[] = [];
  private waiters: Array<() => void> = [];
  /** the application server key every push must carry in `k=` (set it from /v1/push/vapid-public-key) */
  expectedKey: string | null = null;

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly origin: string,
    readonly certPath: string,
  ) {}

  static async start(): Promise<PushService> {
    const dir = mkdtempSync(path.join(tmpdir(), "pushdrop-pushsvc-"));
    const keyPath = path.join(dir, "key.pem");
    const certPath = path.join(dir, "cert.pem");
    try {
      execFileSync(
        "openssl",
        [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", keyPath, "-out", certPath, "-days", "2",
          "-subj", "/CN=pushdrop test push service",
          "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === "ENOENT") throw new Error("the push-service tests need the `openssl` CLI (Debian package: openssl)");
      throw new Error(`openssl could not make the test certificate: ${err.stderr?.toString() ?? err.message}`);
    }
    let svc: PushService | undefined;
    const server = createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath) }, (req, res) => {
      svc!.handle(req, res).catch((e) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(e));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as { port: number };
    svc = new PushService(server, dir, `https://127.0.0.1:${port}`, certPath);
    return svc;
  }

  /** A new subscription for `name` (a fresh key pair and auth secret, as a browser makes on subscribe). */
  subscribe(name: string): PushSubscriptionJSON {
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    const auth = randomBytes(16);
    const subscription: PushSubscriptionJSON = {
      endpoint: `${this.origin}/push/${encodeURIComponent(name)}`,
      expirationTime: null,
      keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") },
    };
    this.subscribers.set(name, { ecdh, auth, subscription });
    return subscription;
  }

  /** The answers for the next pushes to `name`, in order; after them, 201. */
  script(name: string, ...replies: Reply[]): void {
    this.scripts.set(name, [...(this.scripts.get(name) ?? []), ...replies]);
  }

  /** Every push received for `name` (or for all endpoints), oldest first. */
  received(name?: string): ReceivedPush[] {
    return this.log.filter((r) => name === undefined || r.name === name);
  }

  /** Pushes to `name` answered with a 2xx: what the browser was actually given. */
  delivered(name: string): ReceivedPush[] {
    return this.received(name).filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Waits until `name` has received at least `count` pushes; returns them. */
  async waitFor(name: string, count = 1, ms = 20_000): Promise<ReceivedPush[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = this.received(name);
      if (got.length >= count) return got;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `push service: ${got.length} of ${count} pushes to "${name}" within ${ms} ms (all: ${JSON.stringify(this.log.map((r) => [r.name, r.status, r.problems]))})`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- the push service ---------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.origin);
    const m = /^\/push\/([^/]+)$/.exec(url.pathname);
    if (!m || req.method !== "POST") {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("no such push resource");
      return;
    }
    const name = decodeURIComponent(m[1]!);
    const { body, total } = await readBody(req, MAX_BODY * 4);
    const h = (k: string) => {
      const v = req.headers[k];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    };
    const rec: ReceivedPush = {
      name,
      at: Date.now(),
      headers: {
        ttl: h("ttl"),
        urgency: h("urgency"),
        topic: h("topic"),
        contentEncoding: h("content-encoding"),
        contentType: h("content-type"),
        authorization: h("authorization"),
      },
      vapid: null,
      bodyBytes: total,
      text: null,
      payload: undefined,
      problems: [],
      status: 0,
    };
    let status = 0;
    const fail = (code: number, problem: string) => {
      rec.problems.push(problem);
      if (status === 0) status = code;
    };

    const sub = this.subscribers.get(name);
    if (!sub) fail(404, `no subscription named ${name}`);

    // RFC 8030 §5.2: TTL is required, a non-negative integer of seconds
    if (rec.headers.ttl === null) fail(400, "TTL header missing");
    else if (!/^\d+$/.test(rec.headers.ttl)) fail(400, `TTL is not a number of seconds: ${rec.headers.ttl}`);
    // §5.3 Urgency, §5.4 Topic: at most 32 characters of the base64url alphabet
    if (rec.headers.urgency !== null && !URGENCIES.has(rec.headers.urgency)) fail(400, `bad Urgency: ${rec.headers.urgency}`);
    if (rec.headers.topic !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(rec.headers.topic)) fail(400, `bad Topic: ${rec.headers.topic}`);

    // RFC 8292: VAPID
    try {
      rec.vapid = await this.verifyVapid(rec.headers.authorization);
    } catch (e) {
      fail(e instanceof KeyMismatch ? 403 : 401, `VAPID: ${(e as Error).message}`);
    }

    // RFC 8291 / 8188: aes128gcm body
    if (total > MAX_BODY) fail(413, `body is ${total} bytes, over ${MAX_BODY}`);
    if (rec.headers.contentEncoding?.toLowerCase() !== "aes128gcm") fail(415, `Content-Encoding is ${rec.headers.contentEncoding}, not aes128gcm`);
    else if (sub) {
      try {
        rec.text = ece.decrypt(body, { version: "aes128gcm", privateKey: sub.ecdh, authSecret: sub.auth }).toString("utf8");
      } catch (e) {
        fail(400, `could not decrypt the aes128gcm body: ${(e as Error).message}`);
      }
      if (rec.text !== null) {
        try {
          rec.payload = JSON.parse(rec.text);
        } catch {
          rec.problems.push("the decrypted payload is not JSON"); // well-formed for a push service, wrong for pushdrop
        }
      }
    }

    let reply: Reply = { status: 201, headers: { location: `/message/${randomBytes(8).toString("hex")}` } };
    if (status !== 0) reply = { status };
    else {
      const scripted = this.scripts.get(name)?.shift();
      if (scripted) reply = scripted;
    }
    rec.status = reply.status;
    this.log.push(rec);
    for (const w of this.waiters.splice(0)) w();
    res.writeHead(reply.status, { "content-type": "text/plain", ...reply.headers });
    res.end(rec.problems.join("\n"));
  }

  private async verifyVapid(header: string | null): Promise<{ aud: string; sub: string; exp: number; k: string }> {
    if (!header) throw new Error("no Authorization header");
    const m = /^vapid\s+(.+)$/i.exec(header.trim());
    if (!m) throw new Error(`Authorization is not the vapid scheme: ${header.slice(0, 40)}`);
    const params = new Map<string, string>();
    for (const part of m[1]!.split(",")) {
      const eq = part.indexOf("=");
      if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
    }
    const t = params.get("t");
    const k = params.get("k");
    if (!t || !k) throw new Error("vapid needs both t= and k=");
    if (!/^[A-Za-z0-9_-]+$/.test(k)) throw new Error("k= is not base64url");
    const raw = Buffer.from(k, "base64url");
    if (raw.byteLength !== 65 || raw[0] !== 4) throw new Error(`k= is not an uncompressed P-256 point (${raw.byteLength} bytes)`);
    if (this.expectedKey !== null && k !== this.expectedKey) throw new KeyMismatch("k= is not the application server key the subscription was made with");
    const key = await importJWK(
      { kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33).toString("base64url") },
      "ES256",
    );
    let payload;
    try {
      ({ payload } = await jwtVerify(t, key, { algorithms: ["ES256"], audience: this.origin, requiredClaims: ["exp", "sub", "aud"] }));
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw new Error(`${e.code}: ${e.message}`);
      throw e;
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp!;
    if (exp > now + 24 * 3600) throw new Error(`exp is ${exp - now} s ahead, over 24 h`);
    const sub = payload.sub!;
    if (!/^(mailto:|https:)/.test(sub)) throw new Error(`sub is not a mailto: or https: contact: ${sub}`);
    return { aud: String(payload.aud), sub, exp, k };
  }
}

class KeyMismatch extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<{ body: Buffer; total: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (c: Buffer) => {
      total += c.byteLength;
      if (total <= max) chunks.push(c);
    });
    req.on("end", () => resolve({ body: Buffer.concat(chunks), total }));
    req.on("error", reject);
  });
}
