/** Messages on the jobs queue. */
export type Job = { kind: "package"; transferId: string };

/** Runs a promise after the response, within the request (ExecutionContext.waitUntil). */
export type Defer = (p: Promise<unknown>) => void;

export async function enqueuePackaging(env: Env, transferId: string): Promise<void> {
  const job: Job = { kind: "package", transferId };
  await env.JOBS.send(job, { contentType: "json" });
}
