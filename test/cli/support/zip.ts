import { crc32 } from "node:zlib";
import { sha256 } from "../../node/support/bytes.ts";

/**
 * A minimal ZIP writer for tests: stored entries (method 0), UTF-8 names, no data
 * descriptors. Names are written byte for byte as given, so a test can build the hostile
 * packages no honest server would (`../x`, `/etc/passwd`, NUL…).
 */
export interface TestEntry {
  name: string;
  data: Buffer;
}

export function makeZip(entries: TestEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const crc = crc32(e.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, e.data);
    centrals.push(central, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

export { sha256 };

/** A package as pushdrop builds it: the files, then manifest.json; and the transfer the API would show. */
export function makePackage(transferId: string, files: Array<{ name: string; data: Buffer; sha256?: string }>, extra: TestEntry[] = []) {
  const manifest = {
    pushdrop: 1,
    transferId,
    from: { id: "578418129", name: "test" },
    message: null,
    files: files.map((f, index) => ({ index, name: f.name, size: f.data.length, type: "application/octet-stream", sha256: f.sha256 ?? sha256(f.data) })),
  };
  const zip = makeZip([...files.map((f) => ({ name: f.name, data: f.data })), ...extra, { name: "manifest.json", data: Buffer.from(JSON.stringify(manifest)) }]);
  const transfer = { id: transferId, files: manifest.files.map((f) => ({ ...f, sha256: f.sha256 })) };
  return { zip, manifest, transfer: transfer as never };
}
