import type {
  CreatedTerminal,
  CreateTransferRequest,
  File as WireFile,
  PushSubscriptionJSON,
  TerminalInfo,
  Transfer,
  TransferStatus,
} from "../src/contract";
import { IDEMPOTENCY_HEADER } from "../src/contract/limits";
import { ApiError, NetworkError, networkReason } from "./errors";

/**
 * The one typed client of pushdrop's public API (shared/api.md, docs/api.md), used by the web
 * app, the CLI, the end-to-end tests and the bench. It runs wherever `fetch` does (browsers,
 * Node 20+, workers) and imports only the contract's types and zod-free helpers, so the web
 * app's bundle stays small. Errors are `ApiError` (the server's JSON error) or `NetworkError`.
 */

/** The body of `POST /v1/transfers` as a client writes it (ids may have spaces). */
export type NewTransfer = Omit<CreateTransferRequest, "to"> & { to: string[] };

export interface ClientOptions {
  /** e.g. "http://127.0.0.1:8787" (no trailing /v1) */
  server: string;
  /** the terminal's bearer token, when it has one */
  token?: string;
  /** a fetch to use instead of the global one */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: RequestInit["body"];
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** send the bearer token (default: when the client has one) */
  auth?: boolean;
}

export class PushdropClient {
  readonly server: string;
  token: string | undefined;
  private readonly fetchFn: typeof fetch;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, "");
    this.token = opts.token;
    const f = opts.fetch ?? globalThis.fetch;
    this.fetchFn = (input, init) => f(input, init); // keep `this` of the global fetch out of it
  }

  /** An absolute URL on this server for an API path ("/v1/…") or a URL the server gave. */
  url(pathOrUrl: string): string {
    return /^https?:\/\//i.test(pathOrUrl) ? pathOrUrl : `${this.server}${pathOrUrl}`;
  }

  /** Sends a request and returns the raw Response when it is 2xx/3xx; else throws ApiError. */
  async raw(pathOrUrl: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if ((opts.auth ?? true) && this.token) headers.authorization = `Bearer ${this.token}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.url(pathOrUrl), { method: opts.method ?? "GET", headers, body, signal: opts.signal });
    } catch (e) {
      if (e instanceof Error && e.name === "AbortError") throw e;
      throw new NetworkError(`Could not reach ${this.server} (${networkReason(e)}).`, e);
    }
    if (res.status >= 400) throw await ApiError.from(res);
    return res;
  }

  /** Sends a request and parses its JSON answer (undefined for 204). */
  async call<T>(pathOrUrl: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(pathOrUrl, opts);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.status, "bad_response", `The server's answer is not JSON: ${text.slice(0, 120)}`);
    }
  }

  // ---- terminals ------------------------------------------------------------------------

  /** Registers a new terminal; the answer holds its token, shown only this once. */
  register(name?: string): Promise<CreatedTerminal> {
    return this.call("/v1/terminals", { method: "POST", json: name ? { name } : {}, auth: false });
  }

  /** Looks a terminal up by id (no token needed): its name, and whether it takes Web Push. */
  lookup(terminalId: string): Promise<TerminalInfo> {
    return this.call(`/v1/terminals/${encodeURIComponent(compactId(terminalId))}`, { auth: false });
  }

  async inbox(terminalId: string): Promise<Transfer[]> {
    return (await this.call<{ transfers: Transfer[] }>(`/v1/terminals/${terminalId}/inbox`)).transfers;
  }

  /** Forgets this terminal on the server (v1.1): its id answers 404 from then on. */
  deleteTerminal(terminalId: string): Promise<void> {
    return this.call(`/v1/terminals/${terminalId}`, { method: "DELETE" });
  }

  /** A new token for this terminal (v1.1); the old one stops working at once. Updates this client. */
  async rotateToken(terminalId: string): Promise<string> {
    const { token } = await this.call<{ token: string }>(`/v1/terminals/${terminalId}/token`, { method: "POST" });
    this.token = token;
    return token;
  }

  /**
   * Publishes this terminal's age recipient (`age1…`, v1.2 sealed transfers; client/seal makes
   * the key pair). Answers the terminal as everyone now sees it.
   */
  publishKey(terminalId: string, key: string): Promise<TerminalInfo> {
    return this.call(`/v1/terminals/${terminalId}/key`, { method: "PUT", json: { key } });
  }

  async vapidPublicKey(): Promise<string> {
    return (await this.call<{ key: string }>("/v1/push/vapid-public-key", { auth: false })).key;
  }

  putPushSubscription(terminalId: string, sub: PushSubscriptionJSON): Promise<void> {
    return this.call(`/v1/terminals/${terminalId}/push-subscription`, { method: "PUT", json: sub });
  }

  deletePushSubscription(terminalId: string, endpoint?: string): Promise<void> {
    const q = endpoint ? `?endpoint=${encodeURIComponent(endpoint)}` : "";
    return this.call(`/v1/terminals/${terminalId}/push-subscription${q}`, { method: "DELETE" });
  }

  // ---- transfers --------------------------------------------------------------------------

  /**
   * `idempotencyKey` (v1.2): a key the caller chose for this send and reuses when it sends the
   * same request again after a lost answer; the server answers the transfer it already made.
   */
  createTransfer(req: NewTransfer, opts: { idempotencyKey?: string } = {}): Promise<Transfer> {
    const headers: Record<string, string> = opts.idempotencyKey ? { [IDEMPOTENCY_HEADER]: opts.idempotencyKey } : {};
    return this.call("/v1/transfers", { method: "POST", json: req, headers });
  }

  /** A message without files (v1.1): a note, a link, a code to paste. */
  sendMessage(to: string[], message: string, extra: Pick<NewTransfer, "expiresIn" | "maxDownloads"> = {}): Promise<Transfer> {
    return this.createTransfer({ to, files: [], message, ...extra });
  }

  transfer(transferId: string): Promise<Transfer> {
    return this.call(`/v1/transfers/${encodeURIComponent(transferId)}`);
  }

  /**
   * Says that this terminal, a recipient, opened (looked at) a transfer (v1.2): its
   * `recipients[].openedAt` is set and the sender gets `transfer.opened`, the first time only.
   */
  opened(transferId: string): Promise<void> {
    return this.call(`/v1/transfers/${encodeURIComponent(transferId)}/opened`, { method: "POST" });
  }

  cancel(transferId: string): Promise<void> {
    return this.call(`/v1/transfers/${encodeURIComponent(transferId)}`, { method: "DELETE" });
  }

  /**
   * PUT one file's bytes (`part` null: the whole file) or one part of it. `put` sends the body;
   * give one that reports upload progress (XMLHttpRequest in a browser, a counted stream in
   * Node); by default it is `fetch`, which reports nothing until the answer.
   */
  async putPart(
    file: Pick<WireFile, "uploadUrl">,
    part: number | null,
    body: Blob,
    opts: { signal?: AbortSignal; onProgress?: (sent: number) => void; put?: PutFn } = {},
  ): Promise<{ file: WireFile; status: TransferStatus }> {
    const url = this.url(part === null ? file.uploadUrl : `${file.uploadUrl}?part=${part}`);
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = opts.put
        ? await opts.put(url, body, headers, { signal: opts.signal, onProgress: opts.onProgress })
        : await this.fetchFn(url, { method: "PUT", headers, body, signal: opts.signal });
    } catch (e) {
      if (e instanceof Error && e.name === "AbortError") throw e;
      throw new NetworkError(`The upload to ${this.server} broke off (${networkReason(e)}).`, e);
    }
    if (res.status >= 400) throw await ApiError.from(res);
    opts.onProgress?.(body.size);
    return (await res.json()) as { file: WireFile; status: TransferStatus };
  }

  /**
   * GET a package or one file (an API path or a signed `downloadUrl`), from byte `offset` on.
   * With `ifRange` (the ETag of what is on disk), a changed resource comes back whole (200)
   * instead of a mismatched range. Returns the 200/206 Response with its body unread.
   */
  download(pathOrUrl: string, opts: DownloadRequestOptions = {}): Promise<Response> {
    const { headers, auth } = this.downloadHeaders(pathOrUrl, opts);
    return this.raw(pathOrUrl, { headers, signal: opts.signal, auth });
  }

  /**
   * The request `download` sends: its absolute URL and headers (Range, If-Range, and the bearer
   * token unless the URL is a signed link), for a client that reads the body its own way (the
   * CLI: node:http, cli/http.ts).
   */
  downloadRequest(pathOrUrl: string, opts: DownloadRequestOptions = {}): { url: string; headers: Record<string, string> } {
    const { headers, auth } = this.downloadHeaders(pathOrUrl, opts);
    if (auth && this.token) headers.authorization = `Bearer ${this.token}`;
    return { url: this.url(pathOrUrl), headers };
  }

  private downloadHeaders(pathOrUrl: string, opts: DownloadRequestOptions): { headers: Record<string, string>; auth: boolean } {
    const headers: Record<string, string> = {};
    if (opts.offset && opts.offset > 0) {
      headers.range = `bytes=${opts.offset}-`;
      if (opts.ifRange) headers["if-range"] = opts.ifRange;
    }
    // a signed link carries its own authority: no token needed (or sent)
    return { headers, auth: !/[?&]sig=/.test(pathOrUrl) };
  }

  packagePath(transferId: string): string {
    return `/v1/transfers/${encodeURIComponent(transferId)}/package`;
  }

  filePath(transferId: string, index: number): string {
    return `/v1/transfers/${encodeURIComponent(transferId)}/files/${index}`;
  }

  /** The live channel's URL (ws: or wss:), with the token in the query as browsers need. */
  socketUrl(terminalId: string): string {
    const u = new URL(`${this.server}/v1/terminals/${terminalId}/socket`);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (this.token) u.searchParams.set("token", this.token);
    return u.toString();
  }
}

/** What `download` asks for: the bytes from `offset` on, `ifRange` the ETag of what is on disk. */
export interface DownloadRequestOptions {
  offset?: number;
  ifRange?: string;
  signal?: AbortSignal;
}

/** Sends a PUT body and reports how much of it went out; returns the server's Response. */
export type PutFn = (
  url: string,
  body: Blob,
  headers: Record<string, string>,
  opts: { signal?: AbortSignal; onProgress?: (sent: number) => void },
) => Promise<Response>;

/** A typed id without its separators ("578 418 129" → "578418129"; the server checks the rest). */
const compactId = (id: string) => id.replace(/[\s.\-]/g, "");
