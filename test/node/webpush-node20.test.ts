import { createECDH, randomBytes } from "node:crypto";
import { buildPushPayload } from "@block65/webcrypto-web-push";
import ece from "http_ece";
import { importJWK, jwtVerify } from "jose";
import { expect, it } from "vitest";

/**
 * `@block65/webcrypto-web-push` 2.0.0 (the only 2.x) declares `engines.node >= 22`, which makes
 * `npm ci` warn EBADENGINE on the Node 20 the README allows. Its code runs in workerd (the
 * worker, test/worker/push.test.ts), never in Node, and uses only Web Crypto and
 * `uint8array-extras` (`engines.node >= 18`). This runs it on the Node running the tests (20
 * here) and checks what it builds the way a push service and a browser would: the VAPID JWT
 * verified with `jose`, the aes128gcm body decrypted with `http_ece`.
 */

// the test-only VAPID pair of vitest.config.ts
const VAPID = {
  subject: "mailto:ops@pushdrop.test",
  publicKey: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg",
  privateKey: "qUxn_igp8l-sm16DbXISYHSDPnMjxnC94_EW48c4YDc",
};

it(`builds a valid, decryptable Web Push request on Node ${process.versions.node}`, async () => {
  const browser = createECDH("prime256v1");
  browser.generateKeys();
  const auth = randomBytes(16);
  const endpoint = "https://push.example.test/send/abc";
  const data = { type: "transfer.ready", id: "x.ready", note: "grüße 😀" };
  const req = await buildPushPayload(
    { data, options: { ttl: 60, topic: "abc", urgency: "high" } },
    { endpoint, expirationTime: null, keys: { p256dh: browser.getPublicKey().toString("base64url"), auth: auth.toString("base64url") } },
    VAPID,
  );
  expect(req.method.toUpperCase()).toBe("POST");
  expect(req.headers).toMatchObject({ ttl: "60", topic: "abc", urgency: "high", "content-encoding": "aes128gcm" });
  expect(Number(req.headers["content-length"])).toBe(req.body.byteLength);

  // VAPID (RFC 8292): "vapid t=<ES256 JWT>, k=<our public key>", for the push service's origin
  const m = /^vapid t=([^,]+),\s*k=(.+)$/.exec(req.headers.authorization)!;
  expect(m[2]).toBe(VAPID.publicKey);
  const raw = Buffer.from(VAPID.publicKey, "base64url");
  const key = await importJWK({ kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33).toString("base64url") }, "ES256");
  const { payload } = await jwtVerify(m[1]!, key, { algorithms: ["ES256"], audience: "https://push.example.test" });
  expect(payload.sub).toBe(VAPID.subject);
  expect(payload.exp! * 1000).toBeGreaterThan(Date.now());

  // RFC 8291: the browser's keys decrypt it to the very JSON
  const text = ece.decrypt(Buffer.from(req.body), { version: "aes128gcm", privateKey: browser, authSecret: auth }).toString("utf8");
  expect(JSON.parse(text)).toEqual(data);
});
