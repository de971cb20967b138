import { describe, expect, it } from "vitest";
import { objectsInOrder } from "../../src/store/objects";
import { env } from "./helpers";

/** store/objects.ts: objects read one after the other, each fetched a few ahead of its turn. */
describe("objectsInOrder", () => {
  it("gives the objects in order (a missing key or object as null), a range where asked, and no more", async () => {
    const prefix = `test-order-${crypto.randomUUID()}`;
    for (const i of [0, 1, 2, 5]) await env.BUCKET.put(`${prefix}/${i}`, `object ${i}`);
    const list = [
      { key: `${prefix}/0` },
      { key: `${prefix}/1` },
      { key: `${prefix}/2` },
      { key: null },
      { key: `${prefix}/gone` },
      { key: `${prefix}/5`, range: { offset: 7, length: 1 } },
    ];
    const reads = objectsInOrder(env.BUCKET, list, 2);
    const got: Array<string | null> = [];
    for (let i = 0; i < list.length; i++) {
      const obj = await reads.next();
      got.push(obj ? await obj.text() : null);
    }
    expect(got).toEqual(["object 0", "object 1", "object 2", null, null, "5"]);
    expect(reads.taken).toBe(6);
    await expect(reads.next()).rejects.toThrow(/no object left/);
  });

  it("the first gets start when the reads are made, before any next(): they overlap what the caller awaits first", async () => {
    const prefix = `test-eager-${crypto.randomUUID()}`;
    for (let i = 0; i < 5; i++) await env.BUCKET.put(`${prefix}/${i}`, `object ${i}`);
    const asked: string[] = [];
    const bucket = new Proxy(env.BUCKET, {
      get: (target, name) =>
        name === "get" ? (key: string, opts?: R2GetOptions) => (asked.push(key), target.get(key, opts)) : Reflect.get(target, name).bind(target),
    });
    const reads = objectsInOrder(bucket, [0, 1, 2, 3, 4].map((i) => ({ key: `${prefix}/${i}` })), 2);
    expect(asked).toEqual([0, 1, 2].map((i) => `${prefix}/${i}`));
    expect(await (await reads.next())!.text()).toBe("object 0");
    expect(asked).toHaveLength(3);
    expect(await (await reads.next())!.text()).toBe("object 1");
    expect(asked).toEqual([0, 1, 2, 3].map((i) => `${prefix}/${i}`));
    reads.cancelRest();
  });

  it("a read that stops early can drop what was fetched ahead; a get that fails rejects for the one who takes it, and one never taken rejects nowhere", async () => {
    const prefix = `test-stop-${crypto.randomUUID()}`;
    for (let i = 0; i < 4; i++) await env.BUCKET.put(`${prefix}/${i}`, new Uint8Array(100_000));
    const reads = objectsInOrder(env.BUCKET, [0, 1, 2, 3].map((i) => ({ key: `${prefix}/${i}` })), 3);
    expect((await reads.next())!.size).toBe(100_000);
    reads.cancelRest();
    expect(reads.taken).toBe(1);
    const bad = objectsInOrder(env.BUCKET, [{ key: `${prefix}/0`, range: { offset: 200_000, length: 5 } }]);
    await expect(bad.next()).rejects.toThrow();
    // fetched ahead (as the second of two), failing, never taken: no unhandled rejection fails this test
    const ahead = objectsInOrder(env.BUCKET, [{ key: `${prefix}/1` }, { key: `${prefix}/2`, range: { offset: 200_000, length: 5 } }]);
    expect((await ahead.next())!.size).toBe(100_000);
    ahead.cancelRest();
    await new Promise((r) => setTimeout(r, 50));
  });
});
