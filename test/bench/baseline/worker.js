// The baseline for `npm run bench`: the least a Worker can do with R2 for the same job, with
// no pushdrop code in the way. PUT stores the request body as it is (`put(key, request.body)`),
// GET returns the object's body as it is (`new Response(obj.body)`), and /read reads an
// object once inside the worker (a BYOB reader, 1 MiB at a time: what any packager must at
// least do) and says how long that took. GET /joined/{key}?parts=N&length=L returns the
// objects {key}.1 … {key}.N piped natively, one after the other, into one FixedLengthStream
// (four fetched ahead): the least it costs to serve parts as one body on this runtime.
export default {
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    const key = url.pathname.split("/").pop();
    if (req.method === "PUT") {
      const obj = await env.BUCKET.put(key, req.body);
      return Response.json({ size: obj.size });
    }
    if (req.method === "DELETE") {
      await env.BUCKET.delete(key);
      return new Response("ok");
    }
    if (req.method === "POST" && url.pathname.startsWith("/read/")) {
      const t0 = performance.now();
      const obj = await env.BUCKET.get(key);
      const reader = obj.body.getReader({ mode: "byob" });
      let buf = new ArrayBuffer(1024 * 1024);
      let total = 0;
      for (;;) {
        const { done, value } = await reader.readAtLeast(buf.byteLength, new Uint8Array(buf));
        total += value?.byteLength ?? 0;
        if (done || !value) break;
        buf = value.buffer;
      }
      // (workerd's clock advances on I/O only, which a read is: good enough for seconds)
      return Response.json({ bytes: total, ms: performance.now() - t0 });
    }
    if (url.pathname.startsWith("/joined/")) {
      const parts = Number(url.searchParams.get("parts"));
      const length = Number(url.searchParams.get("length"));
      const out = new FixedLengthStream(length);
      const gets = [];
      const get = (i) => (gets[i] ??= env.BUCKET.get(`${key}.${i + 1}`));
      const piped = (async () => {
        for (let i = 0; i < parts; i++) {
          for (let k = i + 1; k < Math.min(parts, i + 5); k++) get(k);
          const obj = await get(i);
          await obj.body.pipeTo(out.writable, { preventClose: true });
        }
        await out.writable.close();
      })().catch((e) => out.writable.abort(e).catch(() => {}));
      ctx.waitUntil(piped);
      return new Response(out.readable, { headers: { "content-length": String(length) } });
    }
    const obj = await env.BUCKET.get(key);
    return obj ? new Response(obj.body) : new Response("none", { status: 404 });
  },
};
