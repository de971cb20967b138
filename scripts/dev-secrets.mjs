// Creates the local dev secrets in .dev.vars (git-ignored) when they are missing:
// SIGNING_KEY (HMAC for download links) and a VAPID key pair for Web Push.
// Existing values are kept, so links and push subscriptions survive restarts.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { generateKeyPairSync, randomBytes } from "node:crypto";

export function vapidKeyPair() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pub = publicKey.export({ format: "jwk" });
  const priv = privateKey.export({ format: "jwk" });
  const raw = Buffer.concat([Buffer.from([4]), Buffer.from(pub.x, "base64url"), Buffer.from(pub.y, "base64url")]);
  return { publicKey: raw.toString("base64url"), privateKey: priv.d };
}

export function ensureDevVars(file) {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const vars = new Map();
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (m) vars.set(m[1], m[2]);
  }
  const added = [];
  if (!vars.get("SIGNING_KEY")) {
    vars.set("SIGNING_KEY", randomBytes(32).toString("base64url"));
    added.push("SIGNING_KEY");
  }
  if (!vars.get("VAPID_PUBLIC_KEY") || !vars.get("VAPID_PRIVATE_KEY")) {
    const k = vapidKeyPair();
    vars.set("VAPID_PUBLIC_KEY", k.publicKey);
    vars.set("VAPID_PRIVATE_KEY", k.privateKey);
    added.push("VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY");
  }
  if (added.length > 0) {
    const out = ["# Local dev secrets, made by `npm start`. Never commit this file.", ...[...vars].map(([k, v]) => `${k}="${v}"`)];
    writeFileSync(file, out.join("\n") + "\n", { mode: 0o600 });
  }
  return { added, vars };
}
