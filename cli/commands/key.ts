import { formatTerminalId, normalizeTerminalId } from "../../client";
import { acceptKey, decideTrust, formatDigits, isRecipient, safetyNumber, verifySafetyNumber } from "../../client/seal";
import { signedIn, type Ctx } from "../context";
import { integrityError, usageError } from "../exit";
import { ensureKeys, newStoredKey, pinOf, publishedKey, savePin, shownFingerprint } from "../keys";

/** `pushdrop key export|rotate|verify|accept` (issue 23). */

export async function keyExport(ctx: Ctx): Promise<void> {
  const { client, me } = signedIn(ctx);
  const { keys } = await ensureKeys(ctx, client, me);
  if (!keys) throw usageError("This computer holds no key for this terminal.");
  // the identities are the result: stdout only (so `pushdrop key export > id.txt` works), never in
  // a note; every one kept, newest first (an age identity file holds several, one a line, and
  // PUSHDROP_IDENTITY takes them in that order): after a rotate, what was sealed to an older key
  // still opens with `age -d -i`
  ctx.ui.emit({ id: me.id, identity: keys.identity, recipient: keys.recipient, identities: keys.all });
  ctx.ui.print(keys.all.join("\n"));
  ctx.ui.info(
    keys.all.length > 1
      ? `These are your private keys, the current one first and ${keys.all.length - 1} older one${keys.all.length > 2 ? "s" : ""} kept for what was sealed to ${keys.all.length > 2 ? "them" : "it"}: anyone who has them can open what is sealed to you. \`age -d -i <file>\` reads them.`
      : "This is your private key: anyone who has it can open what is sealed to you. `age -d -i <file>` reads it.",
  );
}

export async function keyRotate(ctx: Ctx): Promise<void> {
  const { client, me } = signedIn(ctx);
  if ((ctx.env.PUSHDROP_IDENTITY ?? "").trim()) {
    throw usageError("PUSHDROP_IDENTITY supplies this terminal's key: make a new one where it is kept (age-keygen), put it first in PUSHDROP_IDENTITY (the old one after it, for 7 days), and run `pushdrop whoami`.");
  }
  await ensureKeys(ctx, client, me); // (a terminal without a key gets its first one)
  const key = await newStoredKey(ctx, me);
  const shown = await client.publishKey(me.id, key.recipient);
  const fp = shownFingerprint(me.id, key.recipient);
  ctx.ui.emit({ id: me.id, recipient: key.recipient, fingerprint: fp.replace(/ /g, ""), published: shown.key === key.recipient });
  ctx.ui.print(`New key published for ${formatTerminalId(me.id)}; fingerprint ${fp}`);
  ctx.ui.info("Older keys are kept until what was sealed to them has expired (7 days at most). Contacts are told your key changed; those that pinned the old one seal nothing to you until they accept or verify the new one.");
}

export async function keyVerify(ctx: Ctx, idArg: string, number: string | undefined): Promise<void> {
  const id = normalizeTerminalId(idArg);
  if (!id) throw usageError(`"${idArg}" is not a terminal id.`);
  const { client, me } = signedIn(ctx);
  if (id === me.id) throw usageError(`${formatTerminalId(id)} is this terminal: a safety number is between two terminals. \`pushdrop whoami\` shows this one's fingerprint.`);
  const { keys } = await ensureKeys(ctx, client, me);
  if (!keys) throw usageError("This computer holds no key for this terminal, so it has no safety number.");
  const theirs = await publishedKey(client, id);
  if (!theirs) throw usageError(`Terminal ${formatTerminalId(id)} publishes no key: nothing can be sealed to it, so there is nothing to verify.`);
  if (!isRecipient(theirs)) throw integrityError(`The server gives ${formatTerminalId(id)} a key that is not an age X25519 key; nothing can be sealed to it, and nothing was marked verified.`, "bad_key", { id });
  const a = { id: me.id, key: keys.recipient };
  const b = { id, key: theirs };
  const expected = safetyNumber(a, b);
  const pinned = pinOf(ctx, id);
  if (number === undefined) {
    ctx.ui.emit({ id, key: theirs, safetyNumber: expected, pinned: pinned ?? null, keyChanged: !!pinned && pinned.key !== theirs });
    ctx.ui.print(`Safety number with ${formatTerminalId(id)}: ${formatDigits(expected)}`);
    if (pinned && pinned.key !== theirs) {
      // the number is for the key published now, not the one pinned: comparing it is how the change is accepted
      ctx.ui.warn(
        `The key the server publishes for ${formatTerminalId(id)} now is not the one this computer pinned on ${pinned.pinnedAt.slice(0, 10)}${pinned.verified ? " and you verified" : ""}: this number is for the new key. Nothing is sealed to ${formatTerminalId(id)} until it matches the one ${formatTerminalId(id)} sees${pinned.verified ? "" : ` (or until you accept the new key without comparing: \`pushdrop key accept ${id}\`)`}.`,
      );
    } else if (pinned?.verified) {
      ctx.ui.info(`(Verified already: this is the key you verified.)`);
    }
    ctx.ui.info(`Compare it with the one ${formatTerminalId(id)} sees (in person, or by a call), then: pushdrop key verify ${id} <number>`);
    return;
  }
  if (!verifySafetyNumber(a, b, number)) {
    throw integrityError(
      `That is not the safety number of you and ${formatTerminalId(id)} with the key the server publishes for it now. Either a digit is wrong, or the key you would seal to is not the one ${formatTerminalId(id)} holds (someone may have swapped it). Nothing was marked verified.`,
      "safety_number_mismatch",
      { id },
    );
  }
  const before = pinned;
  savePin(ctx, id, { key: theirs, verified: true });
  ctx.ui.emit({ id, key: theirs, verified: true, replaced: before && before.key !== theirs ? before.key : null });
  ctx.ui.print(`Verified ${formatTerminalId(id)}: what you send is sealed to this key${before && before.key !== theirs ? " (it replaces the one pinned before)" : ""}.`);
}

/**
 * `pushdrop key accept <id>`: takes the key a contact publishes now in place of the one pinned
 * (issue 23, Trust: a key change is sealed to only once the person accepts it, acceptKey). A
 * contact whose old key was verified needs a new verification instead (`key verify <id> <number>`).
 */
export async function keyAccept(ctx: Ctx, idArg: string): Promise<void> {
  const id = normalizeTerminalId(idArg);
  if (!id) throw usageError(`"${idArg}" is not a terminal id.`);
  const { client } = signedIn(ctx);
  const who = formatTerminalId(id);
  const pinned = pinOf(ctx, id);
  const published = await publishedKey(client, id);
  const d = decideTrust({ pinned: pinned ? { key: pinned.key, verified: pinned.verified } : null, published });
  if (d.kind === "bad_key") throw integrityError(`The server gives ${who} a key that is not an age X25519 key; there is nothing to accept.`, "bad_key", { id });
  if (d.kind !== "key_changed") {
    ctx.ui.emit({ id, key: published, changed: false, pinned: pinned ?? null });
    ctx.ui.print(
      d.kind === "no_key"
        ? `${who} publishes no key: there is nothing to accept.`
        : pinned
          ? `Nothing to accept: ${who} publishes the key this computer pinned${pinned.verified ? " (and you verified)" : ""}.`
          : `Nothing to accept: ${who} is not pinned yet; its key is pinned when you first send to it.`,
    );
    return;
  }
  if (d.published === null) {
    throw integrityError(`${who} publishes no key now, where this computer pinned one: there is no new key to accept. Ask ${who} by another channel what happened.`, "no_key", { id });
  }
  const pin = acceptKey(d);
  if (!pin) {
    throw integrityError(
      `You verified ${who}'s old key, so its new one must be verified too: compare your safety number with ${who} by another channel (\`pushdrop key verify ${id}\` prints it), then \`pushdrop key verify ${id} <number>\`.`,
      "reverify",
      { id, pinned: d.pinned, published: d.published },
    );
  }
  savePin(ctx, id, pin);
  ctx.ui.emit({ id, key: pin.key, changed: true, replaced: d.pinned, verified: false });
  ctx.ui.print(`Accepted ${who}'s new key: what you send is sealed to it from now on (not verified: \`pushdrop key verify ${id}\` compares safety numbers).`);
}
