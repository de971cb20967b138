// The baseline for `npm run bench`: the least a Worker can do with R2 for the same job,
// with no pushdrop code in the way. Uploads go in as 16 MiB multipart parts (as pushdrop's
// do), "package" copies the object into 8 MiB multipart parts (pushdrop's packaging minus
// the ZIP framing and hashing), and GET streams an object back.
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const key = url.pathname.split("/").pop();
    if (req.method === "POST" && url.pathname.startsWith("/start/")) {
      return new Response((await env.BUCKET.createMultipartUpload(key)).uploadId);
    }
    if (req.method === "PUT") {
      const up = env.BUCKET.resumeMultipartUpload(key, url.searchParams.get("upload"));
      return Response.json(await up.uploadPart(Number(url.searchParams.get("part")), req.body));
    }
    if (req.method === "POST" && url.pathname.startsWith("/complete/")) {
      await env.BUCKET.resumeMultipartUpload(key, url.searchParams.get("upload")).complete(await req.json());
      return new Response("ok");
    }
    if (req.method === "POST" && url.pathname.startsWith("/copy/")) {
      const obj = await env.BUCKET.get(key);
      const up = await env.BUCKET.createMultipartUpload(`${key}.copy`);
      const PART = 8 * 1024 * 1024;
      const parts = [];
      let buf = new Uint8Array(PART);
      let filled = 0;
      const reader = obj.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let off = 0; off < value.byteLength; ) {
          const take = Math.min(PART - filled, value.byteLength - off);
          buf.set(value.subarray(off, off + take), filled);
          filled += take;
          off += take;
          if (filled === PART) {
            parts.push(await up.uploadPart(parts.length + 1, buf));
            buf = new Uint8Array(PART);
            filled = 0;
          }
        }
      }
      if (filled > 0) parts.push(await up.uploadPart(parts.length + 1, buf.subarray(0, filled)));
      await up.complete(parts);
      return new Response(String(parts.length));
    }
    if (req.method === "DELETE") {
      await env.BUCKET.delete([key, `${key}.copy`]);
      return new Response("ok");
    }
    const obj = await env.BUCKET.get(key);
    return obj ? new Response(obj.body, { headers: { "content-length": String(obj.size) } }) : new Response("none", { status: 404 });
  },
};
