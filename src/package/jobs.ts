/**
 * Messages on the jobs queue: packaging a transfer, and announcing a terminal's new key
 * (`terminal.key_changed`, generation `gen`) to the terminals that hold it as a contact, a
 * page of them at a time (`after`: the last holder the page before reached).
 */
export type Job = { kind: "package"; transferId: string } | { kind: "key_changed"; terminalId: string; gen: number; after?: string };

/** Runs a promise after the response, within the request (ExecutionContext.waitUntil). */
export type Defer = (p: Promise<unknown>) => void;

export async function enqueuePackaging(env: Env, transferId: string): Promise<void> {
  const job: Job = { kind: "package", transferId };
  await env.JOBS.send(job, { contentType: "json" });
}

export async function enqueueKeyAnnouncement(env: Env, terminalId: string, gen: number, after?: string): Promise<void> {
  const job: Job = after === undefined ? { kind: "key_changed", terminalId, gen } : { kind: "key_changed", terminalId, gen, after };
  await env.JOBS.send(job, { contentType: "json" });
}
