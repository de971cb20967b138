import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { PushdropClient, uploadFiles, type PutFn } from "../../client";
import type { Transfer } from "../../src/contract";

/**
 * client/upload.ts with `ready` (a file still being written while it uploads: the CLI's sealing
 * spool, cli/sealing.ts): each part waits for its bytes, and stops when the upload is aborted.
 * No server: the parts' answers are made up by `put`.
 */

const PARTS = 12;
const PART = 10;
const transfer = {
  id: "T",
  status: "uploading",
  files: [{ index: 0, name: "1.age", size: PARTS * PART, partSize: PART, parts: PARTS, received: 0, partsReceived: [], uploadUrl: "/v1/transfers/T/files/0" }],
} as unknown as Transfer;
const client = new PushdropClient({ server: "http://127.0.0.1:9" });
const blobs = [new Blob([new Uint8Array(PARTS * PART)])];

describe("uploadFiles with ready()", () => {
  it("asks for each part's bytes before sending it, and leaves no abort listener behind (12 parts once made Node print MaxListenersExceededWarning)", async () => {
    const asked: number[] = [];
    const listeners: number[] = [];
    const put: PutFn = async (url, _body, _headers, o) => {
      listeners.push(getEventListeners(o.signal!, "abort").length);
      const n = Number(/part=(\d+)/.exec(url)![1]);
      return Response.json({ file: { ...transfer.files[0], received: n * PART, partsReceived: [] }, status: "uploading" });
    };
    const r = await uploadFiles(client, transfer, blobs, {
      concurrency: 1,
      put,
      ready: async (index, end) => {
        expect(index).toBe(0);
        asked.push(end);
      },
    });
    expect(r.partsSent).toBe(PARTS);
    expect(asked).toEqual(Array.from({ length: PARTS }, (_, k) => (k + 1) * PART));
    // nothing of the wait for a part's bytes is still listening once the part goes
    expect(listeners).toEqual(new Array(PARTS).fill(0));
  });

  it("a part still waiting for its bytes stops when the upload is aborted, and sends nothing", async () => {
    const outer = new AbortController();
    let puts = 0;
    const put: PutFn = async () => {
      puts++;
      throw new Error("not reached");
    };
    const up = uploadFiles(client, transfer, blobs, { put, signal: outer.signal, ready: () => new Promise<void>(() => undefined) });
    outer.abort(new Error("stopped by the user"));
    await expect(up).rejects.toThrow("stopped by the user");
    expect(puts).toBe(0);
  });
});
