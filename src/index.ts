import { app } from "./app";
import { releaseRefused } from "./auth/withdraw";
import { sweep } from "./expire";
import { handleBatch } from "./package/consumer";
import type { Job } from "./package/jobs";

/** The Worker's three entry points, and the Durable Object classes. Nothing else lives here. */
export { Terminal } from "./notify/terminal";
export { RateLimiter } from "./limits/limiter";
export { PackageHasher } from "./package/hasher";

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<Job>, env: Env): Promise<void> {
    await handleBatch(batch, env);
  },
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    // expiry first; then what blocks and `accept: "known"` left for the sweep to release
    ctx.waitUntil(sweep(env).then(() => releaseRefused(env)));
  },
} satisfies ExportedHandler<Env, Job>;
