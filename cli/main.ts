import { Command, CommanderError, Option } from "commander";
import { DEFAULT_SERVER } from "./config";
import { makeCtx, type Ctx, type GlobalOptions } from "./context";
import { protectTransferIds } from "./argv";
import { NetworkError, PushdropClient } from "../client";
import { CliError, EXIT, EXIT_HELP, reportError } from "./exit";
import { jsonSafe, shown } from "./sanitize";
import { register, whoami } from "./commands/account";
import { keyAccept, keyExport, keyRotate, keyVerify } from "./commands/key";
import { listen } from "./commands/listen";
import { resume, send } from "./commands/send";
import { cancel, get, inbox, status } from "./commands/transfers";

/**
 * The `pushdrop` command. Arguments are parsed by commander (subcommands, per-command
 * `--help`, typo suggestions, errors for unknown options), so each command here is only
 * what it does. Every command takes --server, --json and --quiet; see EXIT for exit codes.
 */

declare const PUSHDROP_VERSION: string;
const VERSION = typeof PUSHDROP_VERSION === "string" ? PUSHDROP_VERSION : "dev";

const stop = new AbortController();

function program(): Command {
  const p = new Command("pushdrop")
    .description("Send files to any device by its 9-digit terminal id.")
    .version(VERSION, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help (also: pushdrop <command> --help)")
    .option("--server <url>", `the pushdrop server (default: $PUSHDROP_SERVER, else the one you registered with, else ${DEFAULT_SERVER})`)
    .option("--json", "print one JSON document on stdout (listen: one object per line); progress goes to stderr")
    .option("-q, --quiet", "no progress or notes on stderr (results and errors still print)")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText(
      "after",
      `
Examples:
  pushdrop register --name laptop          become a terminal; prints your 9-digit id
  pushdrop send photos/ notes.txt --to 772586192 --message "from the trip"
  pushdrop send --to 772586192 --message "https://example.com"   (a message alone)
  pushdrop listen --auto --dir ~/Downloads keep receiving into a folder
  pushdrop get <transfer id>               download one transfer into the current folder

Environment:
  PUSHDROP_SERVER          server URL (instead of --server)
  PUSHDROP_ID, PUSHDROP_TOKEN   act as this terminal instead of the stored one (CI, servers)
  XDG_CONFIG_HOME          config (id, token) in $XDG_CONFIG_HOME/pushdrop, else ~/.config/pushdrop
  PUSHDROP_IDENTITY        this terminal's age identity (AGE-SECRET-KEY-1…) instead of the stored one (CI)
  XDG_STATE_HOME           unfinished sends in $XDG_STATE_HOME/pushdrop, else ~/.local/state/pushdrop

${EXIT_HELP}`,
    );

  p.command("register")
    .description("register this computer as a terminal and store its id and token")
    .option("--name <name>", "a name recipients see (default: this computer's host name)")
    .option("--force", "register a new terminal even if this computer already has one on that server")
    .action(action((ctx, o: { name?: string; force?: boolean }) => register(ctx, o)));

  p.command("whoami")
    .description("print this terminal's id and share link (with a QR code on a terminal); never the token")
    .action(action((ctx) => whoami(ctx)));

  const key = p.command("key").description("this terminal's key for sealed transfers, and checking others' keys");
  key
    .command("export")
    .description("print this terminal's private key (AGE-SECRET-KEY-1…) on stdout, for `age -d -i`")
    .action(action((ctx) => keyExport(ctx)));
  key
    .command("rotate")
    .description("make and publish a new key (older ones are kept until what was sealed to them has expired)")
    .action(action((ctx) => keyRotate(ctx)));
  key
    .command("verify")
    .description("check the 60-digit safety number you and <id> compared; marks the contact verified (no number: print it)")
    .argument("<id>", "the other terminal")
    // (variadic: the number pasted as it is shown, 12 groups of 5, unquoted, is one number)
    .argument("[number...]", "the safety number (60 digits; spaces allowed, quoted or not), or its 30-digit fingerprint")
    .action(action((ctx, id: string, n: string[]) => keyVerify(ctx, id, n.length ? n.join(" ") : undefined)));
  key
    .command("accept")
    .description("seal to the key <id> publishes now, in place of the one pinned (a contact you verified: key verify <id> <number> instead)")
    .argument("<id>", "the other terminal")
    .action(action((ctx, id: string) => keyAccept(ctx, id)));

  p.command("send")
    .description("send files, folders (with their paths kept) or a message to one or more terminals")
    .argument("[paths...]", "files and folders to send (none: send --message alone)")
    // not variadic: `--to 772586192 report.pdf` must not read the file as a second id
    .option("-t, --to <ids>", "recipient terminal ids, comma-separated or --to repeated (spaces and dashes allowed)", (v: string, all: string[]) => [...all, v], [] as string[])
    .option("-m, --message <text>", "a message to go with the files, or alone (up to 10,000 characters)")
    .option("--expires <duration>", "how long it stays downloadable: 90m, 2h, 1d, up to 7d (default: 1d)")
    .option("--max-downloads <n>", "complete downloads allowed before it is gone")
    .option("--wait", "wait until every recipient has downloaded it (exit 6 if it ends first)")
    .option("--plain", "send in the clear, not sealed (needed for recipients without a key; by default it is sealed, and a recipient without a key stops the send)")
    .addOption(new Option("--parallel <n>", "parts uploaded at once").default("3").hideHelp())
    .addHelpText(
      "after",
      `
Sealed by default: when every recipient publishes a key, files, names and message are
encrypted (age) so that only the recipients can read them; the server sees sizes only. A
recipient without a key stops the send (exit 2) unless --plain (then all goes in the clear). A
recipient's key is pinned on first use; if it changes, nothing is sent until you check the
safety number (pushdrop key verify <id> <number>) or send --plain.
An interrupted send resumes: run the same command again (same files, unchanged) and only
the parts the server does not have yet are sent; or use \`pushdrop resume <transfer id>\`.
Prints the transfer id on stdout.

Examples:
  pushdrop send report.pdf --to 772586192
  pushdrop send ~/photos --to "772 586 192,578 418 129" --expires 2h --wait
  id=$(pushdrop send build.tar.gz --to 772586192 --quiet)`,
    )
    .action(action((ctx, paths: string[], o: Parameters<typeof send>[2]) => send(ctx, paths, o)));

  p.command("resume")
    .description("finish an interrupted send (the files must be unchanged)")
    .argument("<transferId>")
    .option("--wait", "then wait until every recipient has downloaded it")
    .action(action((ctx, id: string, o: { wait?: boolean }) => resume(ctx, id, o)));

  p.command("listen")
    .description("stay connected and show (with --auto: download) each incoming transfer")
    .option("-d, --dir <folder>", "where --auto (or a yes) saves files", ".")
    .option("-a, --auto", "download every transfer, check its checksums, unpack it into --dir")
    .option("--once", "stop after the first transfer")
    .addHelpText(
      "after",
      `
Without --auto, asks before each download on a terminal, and only prints off one (the
transfer stays in your inbox). Text messages are printed. Files never land outside --dir:
a name in a package that would leave it is an error, not a file. Ctrl-C stops (exit 0).
With --json: one JSON object per line and event.`,
    )
    .action(action((ctx, o: { dir?: string; auto?: boolean; once?: boolean }) => listen(ctx, o)));

  p.command("inbox")
    .description("list transfers sent to this terminal that can still be downloaded")
    .action(action((ctx) => inbox(ctx)));

  p.command("get")
    .description("download a transfer into a folder (an interrupted download resumes)")
    .argument("<transferId>")
    .option("-f, --file <n>", "only this file (its index, or its name); it counts toward the receipt once every file was fetched")
    .option("-d, --dir <folder>", "where to save", ".")
    .action(action((ctx, id: string, o: { file?: string; dir?: string }) => get(ctx, id, o)));

  p.command("status")
    .description("show a transfer: status, files, recipients, who has downloaded it")
    .argument("<transferId>")
    .action(action((ctx, id: string) => status(ctx, id)));

  p.command("cancel")
    .description("cancel a transfer you sent: its files are removed, recipients told")
    .argument("<transferId>")
    .action(action((ctx, id: string) => cancel(ctx, id)));

  for (const c of [...p.commands, ...key.commands]) {
    c.exitOverride();
    c.addHelpText("after", "\nExit codes: 0 ok, 1 internal, 2 usage, 3 API error, 4 network, 5 verification, 6 not delivered (--wait), 130 Ctrl-C.");
  }
  return p;
}

/** Runs a command's function with the context built from the global options. */
function action<A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const ctx = makeCtx(cmd.optsWithGlobals<GlobalOptions>(), stop.signal);
    await fn(ctx, ...(args.slice(0, -1) as A)); // commander passes (...arguments, options, command)
  };
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  // `pushdrop inbox | head -1`: a reader that stops early is not an error
  for (const s of [process.stdout, process.stderr]) {
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
      throw e;
    });
  }
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(EXIT.interrupted);
    stop.abort(Object.assign(new Error("Stopped."), { name: "AbortError" }));
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  try {
    await program().parseAsync(protectTransferIds(argv), { from: "user" });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.ok;
      // commander has printed its message (and a suggestion) on stderr already
      if (json) process.stdout.write(`${jsonSafe(JSON.stringify({ error: { code: "usage", kind: "usage", message: e.message.replace(/^error: /, "") } }, null, 2))}\n`);
      return EXIT.usage;
    }
    const r = reportError(await unreachable(e));
    if (process.env.PUSHDROP_DEBUG && e instanceof Error) process.stderr.write(`${shown(e.stack ?? "", { multiline: true })}\n`);
    // the message may quote the server, a name from a package: through the one gate (cli/sanitize.ts)
    process.stderr.write(`pushdrop: ${shown(r.message, { multiline: true })}\n`);
    if (json) process.stdout.write(`${jsonSafe(JSON.stringify(r.json, null, 2))}\n`);
    // listen ends on Ctrl-C by design; anything else cut short says so
    return r.exitCode;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

/**
 * "No terminal on <server> yet" is the wrong thing to say when nothing answers at <server>
 * (a mistyped --server, a server that is down): then that is the error (exit 4), with a word
 * on registering once it is up. Any answer at all (even an error) keeps the original.
 */
async function unreachable(e: unknown): Promise<unknown> {
  const d = e instanceof CliError ? (e.details as { reason?: string; server?: string } | undefined) : undefined;
  if (d?.reason !== "not_registered" || !d.server) return e;
  const server = d.server;
  try {
    await new PushdropClient({ server }).raw("/v1/push/vapid-public-key", { auth: false, signal: AbortSignal.timeout(10_000) });
  } catch (x) {
    if (x instanceof NetworkError) return new NetworkError(`${x.message.replace(/\.$/, "")}: is the address right, and is the server running? (Once it answers: \`pushdrop register${server === DEFAULT_SERVER ? "" : ` --server ${server}`}\`.)`, x);
    if (x instanceof Error && (x.name === "TimeoutError" || x.name === "AbortError")) return new NetworkError(`${server} did not answer within 10 s: is the address right, and is the server running?`, x);
  }
  return e;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // idle keep-alive connections must not hold the process open
  setTimeout(() => process.exit(code), 300).unref();
});
