const TAKES_TRANSFER_ID = new Set(["get", "status", "cancel", "resume"]);
const TAKES_VALUE = new Set(["--server", "-d", "--dir", "-f", "--file"]);

/**
 * A transfer id is 22 base64url characters and may begin with "-" (`-tj_UvwNIwqlO2h-drZJtA`),
 * which any option parser reads as an option. Where a command takes a transfer id, such a
 * token is moved behind "--", so `pushdrop get "$id"` works whatever the id.
 */
export function protectTransferIds(argv: readonly string[]): string[] {
  if (argv.includes("--")) return [...argv];
  const cmd = argv.findIndex((a, i) => !a.startsWith("-") && !TAKES_VALUE.has(argv[i - 1] ?? ""));
  if (cmd < 0 || !TAKES_TRANSFER_ID.has(argv[cmd]!)) return [...argv];
  const ids: string[] = [];
  const rest = argv.filter((a, i) => {
    const isId = i > cmd && /^-[A-Za-z0-9_-]{21}$/.test(a) && !TAKES_VALUE.has(argv[i - 1]!);
    if (isId) ids.push(a);
    return !isId;
  });
  return ids.length ? [...rest, "--", ...ids] : rest;
}
