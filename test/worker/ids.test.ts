import { describe, expect, it } from "vitest";
import {
  dammDigit,
  formatTerminalId,
  fromBase64url,
  newTerminalId,
  newTransferId,
  normalizeTerminalId,
  TRANSFER_ID_RE,
} from "../../src/auth/ids";
import { hashToken, TOKEN_RE } from "../../src/auth/tokens";
import { api, createTransfer, env, json, register, sha256 } from "./helpers";

/** The Damm table as published (H. Michael Damm, 2004), written out here independently of src/. */
const DAMM = [
  "0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
  "3674209581", "5869720134", "8945362017", "9438617205", "2581436790",
].map((row) => [...row].map(Number));
const dammCheck = (s: string) => [...s].reduce((i, ch) => DAMM[i]![Number(ch)]!, 0);

describe("terminal ids", () => {
  it("the check digit is the published Damm digit", () => {
    // the worked example of the algorithm: 572 → 4
    expect(dammDigit("572")).toBe(4);
    expect(normalizeTerminalId("57240000" + String(dammDigit("57240000")))).not.toBeNull();
    for (let i = 0; i < 500; i++) {
      const body = String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
      expect(dammDigit(body)).toBe(dammCheck(body));
    }
  });

  it("are 9 digits with a valid check digit, distinct, and each position takes every digit", () => {
    const ids = Array.from({ length: 3000 }, () => newTerminalId());
    const seen = Array.from({ length: 9 }, () => new Set<string>());
    for (const id of ids) {
      expect(id).toMatch(/^\d{9}$/);
      expect(dammCheck(id)).toBe(0);
      expect(normalizeTerminalId(id)).toBe(id);
      [...id].forEach((d, i) => seen[i]!.add(d));
    }
    // 3000 draws of 10^8 bodies: by the birthday bound about 4.4% of runs see one collision by
    // luck, and P(more than 2) is about 1e-5, so more than two means a broken generator
    expect(ids.length - new Set(ids).size).toBeLessThanOrEqual(2);
    // a biased or constant position would miss some digit (chance of a miss by luck: ~10 × 0.9^3000)
    for (const s of seen) expect(s.size).toBe(10);
  });

  it("every single-digit error and every adjacent transposition is rejected (exhaustive on 200 ids)", () => {
    let checked = 0;
    for (let k = 0; k < 200; k++) {
      const id = newTerminalId();
      for (let pos = 0; pos < 9; pos++) {
        for (let d = 0; d < 10; d++) {
          if (String(d) === id[pos]) continue;
          const typo = id.slice(0, pos) + d + id.slice(pos + 1);
          expect(normalizeTerminalId(typo), `${id} → ${typo}`).toBeNull();
          checked++;
        }
      }
      for (let pos = 0; pos < 8; pos++) {
        if (id[pos] === id[pos + 1]) continue;
        const swapped = id.slice(0, pos) + id[pos + 1] + id[pos] + id.slice(pos + 2);
        expect(normalizeTerminalId(swapped), `${id} → ${swapped}`).toBeNull();
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200 * 81);
  });

  it("normalises grouped input and rejects what is not an id", () => {
    const id = newTerminalId();
    const [a, b, c] = [id.slice(0, 3), id.slice(3, 6), id.slice(6)];
    expect(formatTerminalId(id)).toBe(`${a} ${b} ${c}`);
    for (const typed of [`${a} ${b} ${c}`, `${a}-${b}-${c}`, `${a}.${b}.${c}`, ` ${a}  ${b}\t${c} `, `${a}-${b} ${c}`]) {
      expect(normalizeTerminalId(typed)).toBe(id);
    }
    for (const bad of ["", "12345678", "1234567890", `${id}0`, `${a}_${b}_${c}`, `${a}/${b}/${c}`, "abcdefghi", "１２３４５６７８９", "+" + id]) {
      expect(normalizeTerminalId(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it("the API accepts a grouped id wherever an id is typed", async () => {
    const alice = await register("Alice");
    const bob = await register("Bob");
    const dashed = formatTerminalId(bob.id).replace(/ /g, "-");
    const info = await api(`/v1/terminals/${dashed}`);
    expect(info.status).toBe(200);
    expect((await json(info)).id).toBe(bob.id);
    const spaced = await api(`/v1/terminals/${encodeURIComponent(formatTerminalId(bob.id))}`);
    expect(spaced.status).toBe(200);

    const res = await createTransfer(alice, { to: [formatTerminalId(bob.id), dashed], files: [{ name: "a.txt", size: 1 }] });
    expect(res.status).toBe(201);
    const t = await json(res);
    // both spellings are the same terminal: one recipient, in canonical form
    expect(t.to).toEqual([bob.id]);
    expect(t.recipients.map((r: any) => r.id)).toEqual([bob.id]);
  });
});

describe("tokens", () => {
  it("carry at least 128 random bits and are distinct", async () => {
    const terminals = await Promise.all(Array.from({ length: 5 }, (_, i) => register(`T${i}`)));
    for (const t of terminals) {
      expect(t.token).toMatch(TOKEN_RE);
      const raw = fromBase64url(t.token.slice(3));
      expect(raw.byteLength * 8).toBeGreaterThanOrEqual(128);
    }
    expect(new Set(terminals.map((t) => t.token)).size).toBe(terminals.length);
  });

  it("are stored only as their SHA-256: no column of any table holds the token", async () => {
    const t = await register("Secretive");
    const row = await env.DB.prepare("SELECT * FROM terminals WHERE id = ?").bind(t.id).first<Record<string, unknown>>();
    expect(row!.token_hash).toBe(await sha256(new TextEncoder().encode(t.token)));
    expect(row!.token_hash).toBe(await hashToken(t.token));

    // every table of the database, every column: neither the token nor its random part appears
    const { results: tables } = await env.DB.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
    ).all<{ name: string }>();
    expect(tables.map((x) => x.name)).toContain("terminals");
    const secret = t.token.slice(3);
    for (const { name } of tables) {
      const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
      const dump = JSON.stringify(results);
      expect(dump.includes(secret), `table ${name}`).toBe(false);
      expect(dump.toLowerCase().includes(secret.toLowerCase()), `table ${name}`).toBe(false);
    }
  });

  it("authenticate only the terminal they belong to", async () => {
    const alice = await register("Alice");
    const bob = await register("Bob");
    expect((await api(`/v1/terminals/${alice.id}/inbox`, { headers: alice.auth })).status).toBe(200);
    const other = await api(`/v1/terminals/${alice.id}/inbox`, { headers: bob.auth });
    expect(other.status).toBe(403);
    expect((await json(other)).error.code).toBe("forbidden");
    // a token one character off is not a token
    const last = alice.token.at(-2) === "A" ? "B" : "A";
    const forged = alice.token.slice(0, -2) + last + alice.token.slice(-1);
    const res = await api(`/v1/terminals/${alice.id}/inbox`, { headers: { authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await json(res)).error.code).toBe("unauthorized");
  });
});

describe("transfer ids", () => {
  it("are 22 base64url characters holding 128 random bits", async () => {
    const ids = Array.from({ length: 2000 }, () => newTransferId());
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(TRANSFER_ID_RE.test(id)).toBe(true);
      expect(fromBase64url(id).byteLength).toBe(16);
    }
    expect(new Set(ids).size).toBe(ids.length);
    // none starts with "-" (a command line would read it as an option); the rest of the alphabet does
    expect(ids.filter((id) => id.startsWith("-"))).toEqual([]);
    expect(new Set(ids.map((id) => id[0])).size).toBe(63);
    // every one of the 64 characters shows up in the first 21 positions (the 22nd holds 2 bits)
    const chars = new Set(ids.flatMap((id) => [...id.slice(0, 21)]));
    expect(chars.size).toBe(64);
  });

  it("the API hands out such ids", async () => {
    const alice = await register();
    const bob = await register();
    const t = await json(await createTransfer(alice, { to: [bob.id], files: [{ name: "x", size: 3 }] }));
    expect(t.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(fromBase64url(t.id).byteLength).toBe(16);
  });
});

describe("base64url (src/contract/ids.ts, shared with every client)", () => {
  const viaBtoa = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  it("matches the platform's base64 for every length 0..64 and round-trips", async () => {
    const { base64url } = await import("../../src/contract");
    for (let n = 0; n <= 64; n++) {
      const b = crypto.getRandomValues(new Uint8Array(n));
      b[0] = 0xfb; // a byte whose encoding uses '-' or '_'
      const s = base64url(b.subarray(0, n));
      expect(s).toBe(viaBtoa(b.subarray(0, n)));
      expect([...fromBase64url(s)]).toEqual([...b.subarray(0, n)]);
      // padded and standard base64 are read too
      expect([...fromBase64url(btoa(String.fromCharCode(...b.subarray(0, n))))]).toEqual([...b.subarray(0, n)]);
    }
  });
  it("refuses characters outside the alphabet", () => {
    expect(() => fromBase64url("ab$d")).toThrow(RangeError);
  });
});
