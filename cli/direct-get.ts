import net from "node:net";
import tls from "node:tls";
import { NetworkError, networkReason, type PushdropClient } from "../client";
import type { DownloadRequestOptions } from "../client/api";
import { nodeDownload, READ_PATIENCE_MS, type BodyReader, type Incoming } from "./http";

/**
 * A download's GET read from the socket straight into the caller's buffers (the hash's shared
 * slots, cli/download.ts), for `get`'s large packages. node:http hands over each 64 KiB the
 * socket gives as a new Buffer through its parser and a stream: about 1.5 CPU-s per GiB here,
 * of which half is garbage collection, on a machine whose two cores the hash and the server
 * already share. Node's `onread` option reads into a buffer we give instead: nothing is
 * allocated per read and nothing is copied after the kernel's copy.
 *
 * Only the common answer is read this way: `HTTP/1.1 200` or `206`, a `Content-Length`, no
 * `Transfer-Encoding` or `Content-Encoding`, a head that parses strictly and fits in 64 KiB.
 * Anything else (a redirect, an error, a chunked body, a proxy's oddity) drops this connection
 * and asks again through node:http (`nodeDownload`), which answers it as before: a GET of a
 * range, so asking twice changes nothing. `https:` runs over node:tls with its usual checks
 * (the system's and NODE_EXTRA_CA_CERTS' authorities, the host name).
 */

/** The longest head read directly (node:http's own limit is 16 KiB). */
const HEAD_MAX = 64 * 1024;
/** Where bytes land while no read waits: SPILL at a time, never less than MIN_ROOM free (a TLS record is up to 16 KiB). */
const SPILL = 64 * 1024;
const MIN_ROOM = 16 * 1024;

type Connect = (onread: net.OnReadOpts, signal?: AbortSignal) => net.Socket;

/** For tests: the TLS options a connection adds (a test's own authority). */
export interface DirectOptions {
  tls?: tls.ConnectionOptions;
}

export function directDownloadWith(options: DirectOptions = {}) {
  return async (client: PushdropClient, pathOrUrl: string, opts: DownloadRequestOptions = {}): Promise<Incoming> => {
    const { url, headers } = client.downloadRequest(pathOrUrl, opts);
    const u = new URL(url);
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
    const plain = u.protocol === "http:";
    // (a header node:http would refuse, or a URL it knows better: node:http says what is wrong)
    if ((!plain && u.protocol !== "https:") || lines.some((l) => /[\r\n\0]/.test(l)) || u.username || u.password) {
      return nodeDownload(client, pathOrUrl, opts);
    }
    const port = Number(u.port) || (plain ? 80 : 443);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    const connect: Connect = (onread, signal) =>
      plain
        ? net.connect({ host, port, onread, signal, noDelay: true })
        : // (node:tls takes `onread` as node:net does; its types do not say so)
          tls.connect({ host, port, onread, signal, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"], ...options.tls } as tls.ConnectionOptions);
    const request = [`GET ${u.pathname}${u.search} HTTP/1.1`, `host: ${u.host}`, ...lines, "connection: close", "", ""].join("\r\n");
    let got: Head | null;
    try {
      got = await answer(connect, request, opts.signal);
    } catch (e) {
      if (e instanceof Error && e.name === "AbortError") throw e;
      throw new NetworkError(`Could not reach ${client.server} (${networkReason(e)}).`, e);
    }
    if (got === null) return nodeDownload(client, pathOrUrl, opts); // not the common answer: node:http reads it
    return { status: got.status, headers: got.headers, body: got.body };
  };
}

/** The CLI's: the system's TLS authorities. */
export const directDownload = directDownloadWith();

interface Head {
  status: number;
  headers: Headers;
  body: BodyReader;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The head's status and headers, or null when it is not the common answer read directly. */
export function parseHead(text: string): { status: number; headers: Headers; length: number } | null {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.[01] ([1-5]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/.exec(lines[0]!);
  if (!m) return null;
  const status = Number(m[1]);
  if (status !== 200 && status !== 206) return null;
  const headers = new Headers();
  const lengths = new Set<string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!TOKEN.test(name) || /[\0-\x08\x0a-\x1f\x7f]/.test(value)) return null;
    const lower = name.toLowerCase();
    if (lower === "content-length") lengths.add(value);
    if (lower === "transfer-encoding") return null;
    if (lower === "content-encoding" && value.toLowerCase() !== "identity") return null;
    try {
      headers.append(name, value);
    } catch {
      return null;
    }
  }
  if (lengths.size !== 1) return null;
  const value = [...lengths][0]!;
  if (!/^\d{1,15}$/.test(value)) return null;
  return { status, headers, length: Number(value) };
}

/**
 * Connects, sends the request and reads the answer's head (into a buffer of its own): resolves
 * with the head and the body (the body's bytes that came with the head waiting in it), or null
 * (the connection dropped) when the answer is not one to read directly.
 *
 * The `buffer` given to Node must never be empty (node:tls would deliver 0 bytes into it for
 * ever) and never hold bytes not yet given: node:tls goes on delivering what it has decrypted
 * after a callback said to pause, into whatever `buffer` gave last.
 */
function answer(connect: Connect, request: string, signal?: AbortSignal): Promise<Head | null> {
  return new Promise<Head | null>((resolve, reject) => {
    const head = Buffer.allocUnsafe(HEAD_MAX);
    const scratch = Buffer.allocUnsafe(MIN_ROOM); // (where bytes nobody wants land: after a refused head, or after the body's end)
    let headBytes = 0; // read into `head` while the head comes
    let dropped = false;
    let body: DirectBody | null = null;
    let view: Buffer = head; // where the next read lands (what `buffer` gave last)
    const drop = () => {
      dropped = true;
      socket.destroy();
      resolve(null); // node:http asks again, and says what it makes of it
      return false;
    };
    const socket = connect(
      {
        buffer: () => (view = body ? body.nextView() : dropped ? scratch : head.subarray(headBytes)),
        callback: (n) => {
          if (body) return body.got(view, n);
          if (dropped) return false;
          const from = Math.max(0, headBytes - 3); // (what came before was searched already)
          headBytes += n;
          const end = head.subarray(0, headBytes).indexOf("\r\n\r\n", from);
          if (end < 0) return headBytes < HEAD_MAX || drop(); // (a head of 64 KiB or more: not the common answer)
          const parsed = parseHead(head.toString("latin1", 0, end));
          if (!parsed) return drop();
          body = new DirectBody(socket, head.subarray(end + 4, headBytes), parsed.length, scratch);
          resolve({ status: parsed.status, headers: parsed.headers, body });
          return false; // (until the first read)
        },
      },
      signal,
    );
    socket.on("error", (e) => (body ? body.fail(e) : reject(e)));
    socket.on("close", () => {
      if (body) body.closed();
      else reject(Object.assign(new Error("the server closed the connection before it answered"), { code: "ECONNRESET" }));
    });
    socket.on("end", () => undefined); // (the close that follows says it)
    socket.write(request);
  });
}

/**
 * Where bytes land that no read is waiting for: room that holds nothing not yet given. A new
 * buffer when too little is left of this one (a pending piece keeps the old one alive); from its
 * start again once everything in it was given and the socket reads elsewhere.
 */
class Spill {
  private buf = Buffer.allocUnsafe(SPILL);
  private used = 0;

  /** room for a read: at least MIN_ROOM bytes */
  room(): Buffer {
    if (SPILL - this.used < MIN_ROOM) {
      this.buf = Buffer.allocUnsafe(SPILL);
      this.used = 0;
    }
    return this.buf.subarray(this.used);
  }

  /** `n` bytes landed at the start of `view`: taken, if it was room of ours */
  took(view: Buffer, n: number): void {
    if (view.buffer === this.buf.buffer) this.used = view.byteOffset - this.buf.byteOffset + n;
  }

  /** nothing in it is pending, and the socket no longer reads into it */
  reset(): void {
    this.used = 0;
  }
}

/**
 * The body of a direct answer: `length` bytes. While a read waits, the socket reads into the
 * read's own buffer (`buffer` is asked after each delivery, for the next one); otherwise into
 * the spill, and pauses. Node cannot swap the buffer of a paused socket, so what comes first
 * after a pause lands in the buffer that was in place: the spill, or (a read given early on a
 * slow line) the unused end of that read's buffer, which nothing else touches until its bytes
 * are copied where they belong (a slot comes back to a read only after later bytes moved the
 * socket off it). Pieces that land elsewhere than the waiting read's buffer are pending, in
 * order, and copied into the next reads. The connection is dropped once the body is complete.
 */
class DirectBody implements BodyReader {
  /** bytes of the body not yet come */
  private left: number;
  /** bytes of the body that came but are not given yet, in order */
  private pending: Buffer[] = [];
  private readonly spill = new Spill();
  /** the read under way: its buffer, and how much of it is filled */
  private into: Uint8Array | null = null;
  private n = 0;
  private timer: NodeJS.Timeout | null = null;
  private done: ((n: number) => void) | null = null;
  private failed: ((e: unknown) => void) | null = null;
  private failure: unknown = null;
  private paused = true;

  constructor(
    private readonly socket: net.Socket,
    /** the body's bytes that came with the head */
    first: Buffer,
    length: number,
    /** where what comes after the body's end (node:tls may still deliver some), or after a failure, lands */
    private readonly scratch: Buffer,
  ) {
    const take = Math.min(first.length, length); // (bytes past the body are not the body's)
    if (take > 0) this.pending.push(first.subarray(0, take));
    this.left = length - take;
    if (this.left === 0) socket.destroy();
  }

  read(into: Uint8Array): Promise<number> {
    if (this.into) return Promise.reject(new Error("one read at a time"));
    const n = this.drain(into, 0);
    if (n === into.length || this.ended()) return Promise.resolve(n);
    if (this.failure) return Promise.reject(this.failure);
    this.into = into;
    this.n = n;
    return new Promise<number>((resolve, reject) => {
      this.done = resolve;
      this.failed = reject;
      if (n > 0) this.arm();
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
    });
  }

  destroy(): void {
    this.socket.destroy();
    this.fail(Object.assign(new Error("the download was ended"), { name: "AbortError" }));
  }

  /** the buffer for the next delivery: the rest of the waiting read's (no more than the body has left), else the spill; never empty */
  nextView(): Buffer {
    if (this.left === 0 || this.failure) return this.scratch;
    const into = this.into;
    if (!into) return this.spill.room();
    if (this.pending.length === 0) this.spill.reset();
    return Buffer.from(into.buffer, into.byteOffset + this.n, Math.min(into.length - this.n, this.left));
  }

  /** `n` bytes landed at the start of `view`; the socket reads on (true) while a read waits, else pauses */
  got(view: Buffer, n: number): boolean {
    if (this.failure) return false;
    const into = this.into;
    const take = Math.min(n, this.left); // (a read's view is never longer than what is left; the spill and scratch may be)
    this.left -= take;
    if (into && view.buffer === into.buffer && view.byteOffset === into.byteOffset + this.n) this.n += take;
    else if (take > 0) {
      this.spill.took(view, take);
      this.pending.push(view.subarray(0, take));
      if (into) this.n = this.drain(into, this.n);
    }
    if (this.left === 0) this.socket.destroy(); // (complete: the connection is done)
    if (into) {
      if (this.n === into.length || this.ended()) this.settle(this.n);
      else if (this.n > 0) this.arm();
    }
    if (this.into) return true;
    this.paused = true;
    return false;
  }

  /** the connection broke: a read under way gives what it has, else rejects; every read after it rejects */
  fail(e: unknown): void {
    this.failure ??= e;
    const failed = this.failed;
    if (this.into && this.n > 0) this.settle(this.n);
    else if (failed) {
      this.clear();
      failed(this.failure);
    }
  }

  /** the socket closed: the body is complete, or broke off */
  closed(): void {
    if (this.left > 0) this.fail(Object.assign(new Error(`the connection closed ${this.left} bytes before the body's end`), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
  }

  private ended(): boolean {
    return this.left === 0 && this.pending.length === 0;
  }

  /** copies pending pieces into `into` from `n` on, in order; returns the new count */
  private drain(into: Uint8Array, n: number): number {
    while (n < into.length && this.pending.length > 0) {
      const c = this.pending[0]!;
      const k = Math.min(c.length, into.length - n);
      // (a piece in the unused end of this same buffer: `set` copies as if through a copy)
      into.set(k === c.length ? c : c.subarray(0, k), n);
      n += k;
      if (k === c.length) this.pending.shift();
      else this.pending[0] = c.subarray(k);
    }
    return n;
  }

  /** a read with some bytes gives them after READ_PATIENCE_MS even if its buffer is not full (a slow line) */
  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      if (this.into && this.n > 0) this.settle(this.n);
    }, READ_PATIENCE_MS);
  }

  private settle(n: number): void {
    const done = this.done;
    this.clear();
    done?.(n);
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.into = null;
    this.done = null;
    this.failed = null;
  }
}
