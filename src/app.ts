import { Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { ApiError, errorBody } from "./errors";
import { rateLimits } from "./limits/rate";
import { push } from "./routes/push";
import { send } from "./routes/send";
import { terminals } from "./routes/terminals";
import { transfers } from "./routes/transfers";

/**
 * The HTTP API: one sub-app per resource under /v1, one error handler that turns every
 * failure into the contract's JSON shape, CORS for browser clients (bearer tokens, no
 * cookies, so any origin may call and no credentials are allowed), and a JSON 404/405 for
 * everything else. The web app's static assets get their headers (CSP…) from public/_headers.
 */
// strict: false: "/v1/transfers/" is "/v1/transfers"
export const app = new Hono<{ Bindings: Env }>({ strict: false });

app.use(
  "/v1/*",
  cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Range", "If-None-Match", "If-Range", "Idempotency-Key"],
    exposeHeaders: ["Content-Length", "Content-Range", "Content-Disposition", "ETag", "Location", "Retry-After", "Accept-Ranges"],
    maxAge: 86400,
  }),
);

app.use("*", async (c, next) => {
  await next();
  // the contract's JSON type names its charset (Hono's c.json leaves it out)
  if (c.res.headers.get("content-type") === "application/json") c.res.headers.set("Content-Type", "application/json; charset=utf-8");
});

/** API answers are data, never a page: nothing in them runs, loads or gets framed. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

app.use("/v1/*", async (c, next) => {
  await next();
  c.res.headers.set("X-Content-Type-Options", "nosniff");
  c.res.headers.set("Referrer-Policy", "no-referrer");
  // downloads set their own (sandboxed) policy
  if (!c.res.headers.has("Content-Security-Policy")) c.res.headers.set("Content-Security-Policy", API_CSP);
});

// after the header middlewares, so that a 429 has their headers (CORS, charset, nosniff…)
app.use("/v1/*", rateLimits);

app.route("/v1/terminals", terminals);
app.route("/v1/transfers", transfers);
app.route("/v1/send", send);
app.route("/v1/push", push);

/** Paths of the API and the methods each takes, for 405 answers. */
const ROUTES: Array<[RegExp, string[]]> = [
  [/^\/v1\/terminals\/?$/, ["POST"]],
  [/^\/v1\/terminals\/[^/]+$/, ["GET", "DELETE"]],
  [/^\/v1\/terminals\/[^/]+\/token$/, ["POST"]],
  [/^\/v1\/terminals\/[^/]+\/settings$/, ["GET", "PATCH"]],
  [/^\/v1\/terminals\/[^/]+\/(contacts|blocked)\/[^/]+$/, ["PUT", "DELETE"]],
  [/^\/v1\/terminals\/[^/]+\/push-subscription$/, ["PUT", "DELETE"]],
  [/^\/v1\/terminals\/[^/]+\/inbox$/, ["GET"]],
  [/^\/v1\/terminals\/[^/]+\/socket$/, ["GET"]],
  [/^\/v1\/push\/vapid-public-key$/, ["GET"]],
  [/^\/v1\/transfers\/?$/, ["POST"]],
  [/^\/v1\/transfers\/[^/]+$/, ["GET", "DELETE"]],
  [/^\/v1\/transfers\/[^/]+\/files\/[^/]+$/, ["GET", "PUT"]],
  [/^\/v1\/transfers\/[^/]+\/package$/, ["GET"]],
  [/^\/v1\/transfers\/[^/]+\/opened$/, ["POST"]],
  [/^\/v1\/send\/[^/]+\/.+$/, ["PUT"]],
];

app.notFound((c) => {
  const path = new URL(c.req.url).pathname.replace(/(.)\/+$/, "$1");
  const route = ROUTES.find(([re]) => re.test(path));
  if (route) {
    c.header("Allow", route[1].join(", "));
    return c.json(errorBody("method_not_allowed", `${c.req.method} is not allowed here; use ${route[1].join(" or ")}.`), 405);
  }
  return c.json(errorBody("not_found", `Nothing at ${c.req.method} ${path.slice(0, 200)}.`), 404);
});

app.onError((err, c) => {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    return c.json(errorBody(status === 413 ? "body_too_large" : "bad_request", err.message || "Bad request."), status);
  }
  const id = crypto.randomUUID();
  console.error(JSON.stringify({ event: "internal_error", id, method: c.req.method, path: new URL(c.req.url).pathname, error: String(err), stack: err instanceof Error ? err.stack : undefined }));
  return c.json(errorBody("internal_error", `Something went wrong on our side (incident ${id}).`), 500);
});
