import { execFileSync } from "node:child_process";

/** What an independent ZIP reader (Python's zipfile) finds in a package; `unzip -t` is run too when installed. */
export interface ZipReport {
  /** the first bad entry (a CRC mismatch), or null */
  bad: string | null;
  entries: Record<string, { sha256: string; size: number; method: number }>;
  manifest: any;
}

export function readZip(file: string): ZipReport {
  const report = JSON.parse(
    execFileSync("python3", [
      "-c",
      `import zipfile, hashlib, json, sys
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
out = {"bad": bad, "entries": {}}
for i in z.infolist():
    h = hashlib.sha256()
    with z.open(i) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    out["entries"][i.filename] = {"sha256": h.hexdigest(), "size": i.file_size, "method": i.compress_type}
out["manifest"] = json.loads(z.read("manifest.json"))
print(json.dumps(out))`,
      file,
    ]).toString(),
  ) as ZipReport;
  try {
    execFileSync("unzip", ["-tq", file]);
  } catch (e: any) {
    if (e.code !== "ENOENT") throw new Error(`unzip -t failed: ${e.stdout}`);
  }
  return report;
}
