import { PushdropClient } from "../client";
import { identity, loadConfig, resolveServer, type Config, type Identity } from "./config";
import { Ui } from "./ui";

/** What every command gets: where to print, which server, the user's config, Ctrl-C. */
export interface Ctx {
  ui: Ui;
  server: string;
  config: Config;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

export interface GlobalOptions {
  server?: string;
  json?: boolean;
  quiet?: boolean;
}

export function makeCtx(opts: GlobalOptions, signal: AbortSignal, env = process.env): Ctx {
  const config = loadConfig(env);
  return { ui: new Ui(Boolean(opts.json), Boolean(opts.quiet), env), server: resolveServer(opts.server, config, env), config, signal, env };
}

/** A client that acts as this computer's terminal on the chosen server. */
export function signedIn(ctx: Ctx): { client: PushdropClient; me: Identity } {
  const me = identity(ctx.server, ctx.config, ctx.env);
  return { client: new PushdropClient({ server: ctx.server, token: me.token }), me };
}
