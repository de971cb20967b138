import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { filePieces, packagePieces, type FileLayout } from "../../src/deliver/pieces";
import { centralDirectory, centralHeader, dataDescriptor, dosDateTime, endRecords, localHeader, place } from "../../src/package/zip";

/** The ZIP format module (src/package/zip.ts) byte by byte, and the piece arithmetic of downloads. */

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
const u64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return hex(b);
};
const T = Date.UTC(2025, 0, 2, 3, 4, 6); // time 0x1883, date 0x5a22
const GiB = 2 ** 30;

describe("CRC-32 (node:zlib under nodejs_compat)", () => {
  it("matches the known vectors, and continues across chunks", () => {
    const enc = new TextEncoder();
    expect(crc32(enc.encode("123456789")) >>> 0).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0)) >>> 0).toBe(0);
    expect(crc32(enc.encode("The quick brown fox jumps over the lazy dog")) >>> 0).toBe(0x414fa339);
    expect(crc32(enc.encode("6789"), crc32(enc.encode("12345"))) >>> 0).toBe(0xcbf43926);
  });
});

describe("ZIP headers", () => {
  it("DOS date and time in UTC, two-second steps", () => {
    expect(dosDateTime(T)).toEqual({ date: 0x5a22, time: 0x1883 });
    expect(dosDateTime(Date.UTC(1970, 0, 1))).toEqual({ date: (0 << 9) | (1 << 5) | 1, time: 0 });
  });

  it("a local header: stored, data descriptor flag, no sizes; UTF-8 flag only for non-ASCII names", () => {
    expect(hex(localHeader({ name: "a.txt", size: 5 }, T))).toBe(
      "50 4b 03 04 14 00 08 00 00 00 83 18 22 5a 00 00 00 00 00 00 00 00 00 00 00 00 05 00 00 00 61 2e 74 78 74",
    );
    const u = localHeader({ name: "é", size: 1 }, T);
    expect(hex(u.subarray(6, 8))).toBe("08 08");
    expect(hex(u.subarray(30))).toBe("c3 a9");
  });

  it("an entry of 4 GiB or more: version 4.5, sizes 0xFFFFFFFF, a ZIP64 extra with both sizes, 8-byte descriptor sizes", () => {
    const size = 5 * GiB + 3;
    const h = localHeader({ name: "big", size }, T);
    expect(h.byteLength).toBe(30 + 3 + 20);
    expect(hex(h.subarray(4, 6))).toBe("2d 00");
    expect(hex(h.subarray(18, 30))).toBe("ff ff ff ff ff ff ff ff 03 00 14 00");
    expect(hex(h.subarray(33))).toBe(`01 00 10 00 ${u64(size)} ${u64(size)}`);
    const d = dataDescriptor({ name: "big", size, crc32: 0x01020304 });
    expect(hex(d)).toBe(`50 4b 07 08 04 03 02 01 ${u64(size)} ${u64(size)}`);
    // exactly 0xFFFFFFFF bytes is ZIP64 too (the value itself means "see the extra field")
    expect(localHeader({ name: "x", size: 0xffff_ffff }, T).byteLength).toBe(30 + 1 + 20);
    expect(dataDescriptor({ name: "x", size: 0xffff_fffe, crc32: 0 }).byteLength).toBe(16);
  });

  it("a central header: the ZIP64 extra holds only the fields that overflow, sizes before offset", () => {
    const small = centralHeader({ name: "a", size: 10, crc32: 0xcbf43926 }, 100, T);
    expect(small.byteLength).toBe(46 + 1);
    expect(hex(small.subarray(0, 46))).toBe(
      "50 4b 01 02 14 03 14 00 08 00 00 00 83 18 22 5a 26 39 f4 cb 0a 00 00 00 0a 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 a4 81 64 00 00 00",
    );
    // made by Unix (3) with mode 0100644 (a regular file, rw-r--r--): unzip then reads the
    // UTF-8 names as UTF-8 (an MS-DOS-made entry's it reads in the DOS code page)
    expect(small[5]).toBe(3);
    expect(new DataView(small.buffer, small.byteOffset).getUint32(38, true) >>> 16).toBe(0o100644);
    const far = centralHeader({ name: "a", size: 10, crc32: 1 }, 4 * GiB + 10, T);
    expect(hex(far.subarray(4, 8))).toBe("2d 03 2d 00");
    expect(hex(far.subarray(20, 28))).toBe("0a 00 00 00 0a 00 00 00"); // sizes fit
    expect(hex(far.subarray(42, 46))).toBe("ff ff ff ff");
    expect(hex(far.subarray(47))).toBe(`01 00 08 00 ${u64(4 * GiB + 10)}`);
    const both = centralHeader({ name: "a", size: 6 * GiB, crc32: 1 }, 5 * GiB, T);
    expect(hex(both.subarray(47))).toBe(`01 00 18 00 ${u64(6 * GiB)} ${u64(6 * GiB)} ${u64(5 * GiB)}`);
  });

  it("end records: plain below 4 GiB; ZIP64 end record + locator + 0xFFFF… markers past it", () => {
    expect(hex(endRecords(2, 1000, 94))).toBe("50 4b 05 06 00 00 00 00 02 00 02 00 5e 00 00 00 e8 03 00 00 00 00");
    const cd = 4 * GiB + 5;
    const e = endRecords(2, cd, 94);
    expect(e.byteLength).toBe(56 + 20 + 22);
    expect(hex(e.subarray(0, 56))).toBe(
      `50 4b 06 06 ${u64(44)} 2d 00 2d 00 00 00 00 00 00 00 00 00 ${u64(2)} ${u64(2)} ${u64(94)} ${u64(cd)}`,
    );
    expect(hex(e.subarray(56, 76))).toBe(`50 4b 06 07 00 00 00 00 ${u64(cd + 94)} 01 00 00 00`);
    expect(hex(e.subarray(76))).toBe("50 4b 05 06 00 00 00 00 02 00 02 00 5e 00 00 00 ff ff ff ff 00 00");
  });

  it("place() lays entries end to end; the central directory follows the last", () => {
    const entries = [
      { name: "a", size: 3, crc32: 1 },
      { name: "big", size: 5 * GiB, crc32: 2 },
      { name: "c", size: 0, crc32: 0 },
    ];
    const { placed, centralOffset } = place(entries);
    expect(placed[0]).toEqual({ header: 0, data: 31, end: 31 + 3 + 16 });
    expect(placed[1]!.data).toBe(placed[1]!.header + 30 + 3 + 20);
    expect(placed[1]!.end).toBe(placed[1]!.data + 5 * GiB + 24);
    expect(placed[2]!.header).toBeGreaterThan(4 * GiB);
    expect(centralOffset).toBe(placed[2]!.end);
    const cd = centralDirectory(entries, T);
    // c's central header points past 4 GiB: ZIP64 extra; the directory itself starts past 4 GiB: ZIP64 end
    expect(cd.byteLength).toBe(47 + (46 + 3 + 20) + (46 + 1 + 12) + 56 + 20 + 22);
  });
});

describe("download pieces", () => {
  const parts = [
    { key: "p1", size: 10 },
    { key: "p2", size: 10 },
    { key: "p3", size: 5 },
  ];
  it("a file's range across its part objects", () => {
    expect(filePieces(parts, 0, 25)).toEqual([
      { from: "object", key: "p1", size: 10, offset: 0, length: 10 },
      { from: "object", key: "p2", size: 10, offset: 0, length: 10 },
      { from: "object", key: "p3", size: 5, offset: 0, length: 5 },
    ]);
    expect(filePieces(parts, 9, 11)).toEqual([
      { from: "object", key: "p1", size: 10, offset: 9, length: 1 },
      { from: "object", key: "p2", size: 10, offset: 0, length: 1 },
    ]);
    expect(filePieces(parts, 22, 24)).toEqual([{ from: "object", key: "p3", size: 5, offset: 2, length: 2 }]);
  });

  it("any package range is the frame's and the parts' bytes at the right offsets", () => {
    // frame: 7 bytes, file A (25 bytes), 5 bytes, an empty file, file B (3 bytes), 9 bytes
    const files: FileLayout[] = [
      { dataOffset: 7, size: 25, parts },
      { dataOffset: 37, size: 0, parts: [] },
      { dataOffset: 37, size: 3, parts: [{ key: "b", size: 3 }] },
    ];
    const size = 7 + 25 + 5 + 3 + 9;
    // the package, byte by byte, as names of where each byte comes from
    const truth: string[] = [];
    let frame = 0;
    const objects: Record<string, number> = {};
    const fileAt = (p: number) => files.find((f) => f.size > 0 && p >= f.dataOffset && p < f.dataOffset + f.size);
    for (let p = 0; p < size; p++) {
      const f = fileAt(p);
      if (!f) truth.push(`frame@${frame++}`);
      else {
        let o = p - f.dataOffset;
        const part = f.parts.find((x) => (o < x.size ? true : ((o -= x.size), false)))!;
        truth.push(`${part.key}@${o}`);
        objects[part.key] = (objects[part.key] ?? 0) + 1;
      }
    }
    for (let start = 0; start < size; start++) {
      for (let end = start + 1; end <= size; end++) {
        const got: string[] = [];
        for (const piece of packagePieces(files, size, start, end)) {
          for (let i = 0; i < piece.length; i++) got.push(`${piece.from === "frame" ? "frame" : piece.key}@${piece.offset + i}`);
        }
        expect(got, `${start}-${end}`).toEqual(truth.slice(start, end));
      }
    }
    // the frame is one piece wherever the files are not
    expect(packagePieces(files, size, 0, 7)).toEqual([{ from: "frame", offset: 0, length: 7 }]);
  });
});
