import { Hono } from "hono";
import { ApiError } from "../errors";

/** `/v1/push`: what a browser needs to subscribe (PushManager.subscribe({applicationServerKey})). */
export const push = new Hono<{ Bindings: Env }>();

push.get("/vapid-public-key", (c) => {
  const key = c.env.VAPID_PUBLIC_KEY;
  if (!key) throw new ApiError(503, "push_not_configured", "Web Push is not configured on this server (no VAPID key).");
  c.header("Cache-Control", "public, max-age=3600");
  return c.json({ key });
});
