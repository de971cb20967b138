import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PushdropClient } from "../../client/api";
import { ApiError } from "../../client/errors";
import { uploadFiles } from "../../client/upload";
import { api, BASE, bytes, createTransfer, getTransfer, json, register, waitForStatus } from "./helpers";

/**
 * The shared client's upload (client/upload.ts) against the real worker: a part whose answer
 * was lost is sent again; when it was the last part the server needed, the resend is refused
 * 409 not_uploading, and the upload is done all the same (the server shows every part).
 */

const serve = (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(input, init));

describe("uploadFiles and a resent last part", () => {
  it("the answer to the last part is lost: its resend gets 409 not_uploading, and the upload is done", async () => {
    const [anna, bob] = [await register("Anna"), await register("Bob")];
    const data = [bytes(3000, 1), bytes(500, 2)];
    const t = await json(await createTransfer(anna, { to: [bob.id], files: [{ name: "a.bin", size: 3000 }, { name: "b.bin", size: 500 }] }));
    const client = new PushdropClient({ server: BASE, token: anna.token, fetch: serve });
    const answers: number[] = [];
    let lose = 2; // the second PUT (the last part the server needs) goes through, its answer does not
    const result = await uploadFiles(client, t, data.map((d) => new Blob([d])), {
      concurrency: 1,
      backoffMs: () => 1,
      put: async (url, body, headers, o) => {
        const res = await serve(url, { method: "PUT", headers, body, signal: o.signal });
        answers.push(res.status);
        if (--lose === 0) {
          await res.arrayBuffer();
          throw new TypeError("fetch failed");
        }
        return res;
      },
    });
    expect(answers).toEqual([200, 200, 409]);
    expect(["packaging", "ready"]).toContain(result.status);
    const ready = await waitForStatus(anna, t.id);
    expect(ready.files.map((f: any) => f.received)).toEqual([3000, 500]);
  });

  it("409 not_uploading of a transfer that is not whole (cancelled) is still an error", async () => {
    const [anna, bob] = [await register("Anna"), await register("Bob")];
    const t = await json(await createTransfer(anna, { to: [bob.id], files: [{ name: "a.bin", size: 3000 }] }));
    expect((await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: anna.auth })).status).toBe(204);
    const client = new PushdropClient({ server: BASE, token: anna.token, fetch: serve });
    const err = await uploadFiles(client, t, [new Blob([bytes(3000, 3)])], { backoffMs: () => 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("not_uploading");
    expect((await getTransfer(anna, t.id)).status).toBe("cancelled");
  });
});
