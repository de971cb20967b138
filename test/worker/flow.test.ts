import { describe, expect, it } from "vitest";
import { unzipSync } from "fflate";
import { api, bytes, createTransfer, eventually, json, register, sha256 } from "./helpers";

describe("a one-file transfer end to end (in workerd)", () => {
  it("uploads, packages through the queue, and downloads byte-identical", async () => {
    const alice = await register("Alice");
    const bob = await register("Bob");
    const data = bytes(100_000, 7);
    const created = await createTransfer(alice, { to: [bob.id], files: [{ name: "a.bin", size: data.byteLength }] });
    expect(created.status).toBe(201);
    const t = await json(created);
    expect(t.status).toBe("uploading");
    const put = await api(`/v1/transfers/${t.id}/files/0`, { method: "PUT", headers: alice.auth, body: data });
    expect(put.status).toBe(200);
    const ready = await eventually(async () => {
      const r = await json(await api(`/v1/transfers/${t.id}`, { headers: bob.auth }));
      return r.status === "ready" ? r : undefined;
    }, 15_000, "ready");
    expect(ready.files[0].sha256).toBe(await sha256(data));
    const pkg = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    expect(pkg.status).toBe(200);
    const zip = new Uint8Array(await pkg.arrayBuffer());
    expect(zip.byteLength).toBe(ready.package.size);
    const entries = unzipSync(zip);
    expect(Object.keys(entries)).toEqual(["a.bin", "manifest.json"]);
    expect(await sha256(entries["a.bin"]!)).toBe(await sha256(data));
  });
});
