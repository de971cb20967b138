import { badRequest } from "../errors";

/**
 * Where Web Push requests may go. The endpoint of a push subscription is chosen by the client,
 * and the server then sends requests to it: without a rule, anyone could make the server call
 * its own loopback, a private network, a cloud metadata address or any public host. So an
 * endpoint must be an https URL on one of the push services the mainstream browsers use, or
 * on a host the operator lists in PUSH_ENDPOINT_HOSTS (self-hosted push services, tests).
 *
 * Pure code. Host names are compared after the WHATWG URL parser has normalised them, the same
 * parser `fetch` uses: lower case, IDNs in punycode, IPv4 in any notation (decimal
 * `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`) as dotted decimal, IPv6 compressed in
 * brackets. So a look-alike spelling of an address cannot slip past a list of names.
 */

/** Exact host names of browser push services (RFC 8030 endpoints), with the browsers that use them. */
export const BROWSER_PUSH_HOSTS: readonly string[] = [
  "fcm.googleapis.com", // Chrome, Chromium-based Edge on Android, Opera, Samsung Internet, Brave
  "android.googleapis.com", // Chrome's older GCM endpoints, still held by long-lived subscriptions
  "updates.push.services.mozilla.com", // Firefox
  "web.push.apple.com", // Safari (macOS 13+, iOS 16.4+)
];

/** Push services reached on any subdomain (never the bare suffix): Windows Push Notification Services (Edge). */
export const BROWSER_PUSH_SUFFIXES: readonly string[] = [".notify.windows.com"];

export interface AllowedHost {
  hostname: string;
  /** null: any port */
  port: string | null;
}

/**
 * Parses PUSH_ENDPOINT_HOSTS: comma- or space-separated `host`, `host:port`, `[v6]`,
 * `[v6]:port`, normalised like an endpoint's. Entries that are not a host are ignored.
 */
export function parseAllowedHosts(value: string | undefined): AllowedHost[] {
  const out: AllowedHost[] = [];
  for (const entry of (value ?? "").split(/[\s,]+/)) {
    if (!entry || /[/?#@\\]/.test(entry)) continue;
    let url: URL;
    try {
      url = new URL(`https://${entry}`);
    } catch {
      continue;
    }
    const explicitPort = /:\d+$/.test(entry);
    out.push({ hostname: url.hostname, port: explicitPort ? url.port || "443" : null });
  }
  return out;
}

export type EndpointCheck = { ok: true } | { ok: false; reason: string };

export function checkPushEndpoint(endpoint: string, allowed: readonly AllowedHost[]): EndpointCheck {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { ok: false, reason: "not a URL" };
  }
  if (url.protocol !== "https:") return { ok: false, reason: "not https" };
  if (url.username !== "" || url.password !== "") return { ok: false, reason: "credentials in the URL" };
  const host = url.hostname;
  const port = url.port || "443";
  if (allowed.some((a) => a.hostname === host && (a.port === null || a.port === port))) return { ok: true };
  // browser push services: by name, on the https port; an IP address never matches a name
  if (port !== "443") return { ok: false, reason: "not the https port" };
  if (BROWSER_PUSH_HOSTS.includes(host)) return { ok: true };
  if (BROWSER_PUSH_SUFFIXES.some((s) => host.endsWith(s) && host.length > s.length && /^[a-z0-9-]+$/.test(host.slice(0, -s.length).split(".").at(-1)!))) {
    return { ok: true };
  }
  return { ok: false, reason: "not a browser push service" };
}

/** For the route: a 400 push_endpoint_not_allowed unless the endpoint may be pushed to. */
export function assertPushEndpoint(env: Pick<Env, "PUSH_ENDPOINT_HOSTS">, endpoint: string): void {
  const check = checkPushEndpoint(endpoint, parseAllowedHosts(env.PUSH_ENDPOINT_HOSTS));
  if (!check.ok) {
    throw badRequest(
      "push_endpoint_not_allowed",
      `endpoint must be on a browser push service (${[...BROWSER_PUSH_HOSTS, ...BROWSER_PUSH_SUFFIXES.map((s) => `*${s}`)].join(", ")}) or a host this server allows: ${check.reason}.`,
      { reason: check.reason },
    );
  }
}
