import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resumingBody } from "../../web/shared/resuming-body";

/**
 * web/shared/resuming-body.ts, what a sealed file's save in the browser reads its ciphertext
 * through (the service worker's streamed save, the page's): over a real HTTP server on
 * 127.0.0.1 that cuts connections, refuses them, answers 503 or ignores the range, as a phone's
 * network and a server may. Node's fetch is the WHATWG one the browser has.
 */

const body = randomBytes(3 * 1024 * 1024 + 4321);
const ETAG = '"v1"';
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Plan {
  /** per request, in order: cut after this many bytes, "503", "whole" (a 200 ignoring the range), "gone" (410), or "ok" */
  steps: Array<number | "503" | "whole" | "gone" | "ok">;
}
let plan: Plan = { steps: [] };
const seen: Array<{ range?: string; ifRange?: string }> = [];
let server: http.Server;
let url: string;
let down = false; // connections refused (the server's socket closed at once)

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ range: req.headers.range, ifRange: req.headers["if-range"] as string | undefined });
    if (down) return req.socket.destroy();
    const step = plan.steps.shift() ?? "ok";
    if (step === "503") return res.writeHead(503).end();
    if (step === "gone") return res.writeHead(410).end();
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const from = step === "whole" || !m ? 0 : Number(m[1]);
    const rest = body.subarray(from);
    res.writeHead(m && step !== "whole" ? 206 : 200, {
      "content-length": String(rest.length),
      etag: ETAG,
      ...(m && step !== "whole" ? { "content-range": `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
    });
    if (typeof step === "number") {
      res.write(rest.subarray(0, step), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.end(rest);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/file`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const WAITS = [10, 20, 40, 80];
const again = (from: number, etag: string | null) => fetch(url, { headers: { range: `bytes=${from}-`, ...(etag ? { "if-range": etag } : {}) } });
async function read(steps: Plan["steps"], waits = WAITS): Promise<Uint8Array> {
  plan = { steps };
  seen.length = 0;
  const stream = resumingBody(await fetch(url), body.length, again, waits);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe("resumingBody: a download's body that outlives a dropped connection", () => {
  it("a connection cut twice mid-body: the rest is asked for from the byte it got to, with the ETag; the bytes come out whole", async () => {
    const got = await read([700_000, 1_000_000, "ok"]);
    expect(got.length).toBe(body.length);
    expect(sha(got)).toBe(sha(body));
    expect(seen.length).toBe(3);
    expect(seen[0]).toEqual({ range: undefined, ifRange: undefined });
    // each resume starts where the bytes stopped (at least the cut's bytes arrived), with If-Range
    const starts = seen.slice(1).map((s) => Number(/^bytes=(\d+)-$/.exec(s.range!)![1]));
    expect(starts[0]).toBe(700_000);
    expect(starts[1]).toBe(1_700_000);
    expect(seen.slice(1).every((s) => s.ifRange === ETAG)).toBe(true);
  });

  it("the network down for a few tries, a 503 meanwhile: it waits and goes on", async () => {
    plan = { steps: [500_000, "503", "ok"] };
    seen.length = 0;
    const stream = resumingBody(await fetch(url), body.length, async (from, etag) => {
      // the first two tries find no network (refused connections), then a 503, then the rest
      if (seen.length < 3) {
        down = true;
        try {
          return await again(from, etag);
        } finally {
          down = false;
        }
      }
      return again(from, etag);
    }, WAITS);
    const got = new Uint8Array(await new Response(stream).arrayBuffer());
    expect(sha(got)).toBe(sha(body));
    expect(seen.length).toBe(5); // the first answer, two refused, the 503, the rest
  });

  it("a server that answers the resume with the whole file (200), or 410: that answer ends it, nothing is made up", async () => {
    await expect(read([400_000, "whole"])).rejects.toMatchObject({ status: 200 });
    expect(seen.length).toBe(2);
    await expect(read([400_000, "gone"])).rejects.toMatchObject({ status: 410, code: "http_410" });
    expect(seen.length).toBe(2);
  });

  it("cut before its first byte: a whole answer (200) to the next try is taken as it is", async () => {
    plan = { steps: [0, "whole"] };
    seen.length = 0;
    const stream = resumingBody(await fetch(url), body.length, () => fetch(url), WAITS); // (no Range: nothing to skip)
    const got = new Uint8Array(await new Response(stream).arrayBuffer());
    expect(sha(got)).toBe(sha(body));
    expect(seen.length).toBe(2);
  });

  it("a resume the caller's client answers by throwing (the app's ApiError): 410 ends it at once, 503 is tried again", async () => {
    const thrown = (status: number) => Object.assign(new Error(`status ${status}`), { name: "ApiError", status });
    for (const [status, tries] of [[410, 1], [503, 3]] as const) {
      plan = { steps: [200_000] };
      let asked = 0;
      const stream = resumingBody(await fetch(url), body.length, async () => {
        asked++;
        throw thrown(status);
      }, [5, 5, 5]);
      const failed = new Response(stream).arrayBuffer();
      // the server's word when it said one (410); the cut that stopped it when tries ran out
      if (status === 410) await expect(failed).rejects.toMatchObject({ name: "ApiError", status: 410 });
      else await expect(failed).rejects.toThrow();
      expect(asked, `status ${status}`).toBe(tries);
    }
  });

  it("gives up after its tries in a row that brought no byte", async () => {
    await expect(read([300_000, "503", "503", "503", "503", "503", "503"], [5, 5, 5])).rejects.toThrow();
    expect(seen.length).toBe(4); // the first answer and three tries
  });

  it("a whole body is read as it is (one request), and a cancel stops it", async () => {
    const got = await read(["ok"]);
    expect(sha(got)).toBe(sha(body));
    expect(seen.length).toBe(1);
    plan = { steps: ["ok"] };
    const stream = resumingBody(await fetch(url), body.length, again, WAITS);
    const reader = stream.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel("stopped");
    expect((await reader.read()).done).toBe(true);
  });
});
