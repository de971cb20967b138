// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: declared here.
// Locally `npm start` writes them to .dev.vars; in production: `wrangler secret put NAME`.
declare namespace Cloudflare {
  interface Env {
    /** HMAC key for signed download links (any long random string). */
    SIGNING_KEY: string;
    /** VAPID key pair: public = base64url raw 65-byte P-256 point, private = base64url `d`. */
    VAPID_PUBLIC_KEY?: string;
    VAPID_PRIVATE_KEY?: string;
  }
}
