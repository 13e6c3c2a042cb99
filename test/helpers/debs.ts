import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip, gzipSync } from "node:zlib";
import tarStream from "tar-stream";
import { TAR_END, type TarEntry, TarWriter, tarHeader, tarPadding } from "../../src/oci/tar.js";
import { sha256File } from "../../src/util/hash.js";

/**
 * Real .debs for tests, fetched with `apt-get download` from the host's own apt sources into a cache
 * under the temp directory that later runs reuse; and hand-made .debs (ar + tar) for the cases no
 * real package has, such as malicious paths.
 */
export const run = promisify(execFile);

const DEB_CACHE = join(tmpdir(), "strata-test-debs");

export interface RealDeb {
  path: string;
  sha256: string;
  /** What a lock would say the .deb is. */
  locked: { name: string; version: string; architecture: string };
}

/** The host architecture's current candidate of `name`, downloaded once and then reused. */
export async function realDeb(name: string): Promise<RealDeb> {
  await mkdir(DEB_CACHE, { recursive: true });
  let file = await cachedDebFile(name);
  if (!file) {
    await run("apt-get", ["download", name], { cwd: DEB_CACHE, maxBuffer: 1 << 24 });
    file = await cachedDebFile(name);
    if (!file) throw new Error(`apt-get download ${name} left no ${name}_*.deb in ${DEB_CACHE}`);
  }
  const path = join(DEB_CACHE, file);
  const { stdout } = await run("dpkg-deb", ["-f", path, "Package", "Version", "Architecture"]);
  const field = (f: string) => new RegExp(`^${f}: (.*)$`, "m").exec(stdout)?.[1] ?? "";
  const locked = { name: field("Package"), version: field("Version"), architecture: field("Architecture") };
  return { path, sha256: (await sha256File(path)).hex, locked };
}

async function cachedDebFile(name: string): Promise<string | undefined> {
  return (await readdir(DEB_CACHE)).find((f) => f.startsWith(`${name}_`) && f.endsWith(".deb"));
}

export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `strata-${label}-`));
}

/** A tar made by our writer, as a Buffer. */
export async function tarBytes(entries: { entry: TarEntry; body?: Buffer }[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const writer = new TarWriter(out);
  for (const { entry, body } of entries) await writer.entry(entry, body);
  await writer.end();
  return Buffer.concat(chunks);
}

/** An ar archive of the given members, as deb(5) lays it out. */
export function arArchive(members: { name: string; body: Buffer }[]): Buffer {
  const parts: Buffer[] = [Buffer.from("!<arch>\n")];
  for (const { name, body } of members) {
    const header =
      name.padEnd(16) +
      "0".padEnd(12) +
      "0".padEnd(6) +
      "0".padEnd(6) +
      "100644".padEnd(8) +
      String(body.length).padEnd(10) +
      "`\n";
    parts.push(Buffer.from(header, "latin1"), body);
    if (body.length % 2 === 1) parts.push(Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

export interface CraftedFile {
  /** Exactly as stored in data.tar, e.g. "./usr/bin/x", "/etc/x" or "../x". */
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo" | "character-device";
  mode?: number;
  linkname?: string;
  body?: string | Buffer;
}

/** A tar written by tar-stream, which (unlike our writer) stores any type and any path it is given. */
export async function looseTar(files: CraftedFile[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const f of files) {
    const type = f.type ?? "file";
    const header = {
      name: f.name,
      type,
      mode: f.mode ?? (type === "directory" ? 0o755 : 0o644),
      mtime: new Date(0),
    };
    pack.entry({ ...header, linkname: f.linkname, devmajor: 1, devminor: 3 }, f.body ?? "");
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The minimal control stanza craftDeb writes for a package. */
export function craftedControl(pkg: string, version = "1.0", architecture = "all"): string {
  return `Package: ${pkg}\nVersion: ${version}\nArchitecture: ${architecture}\nMaintainer: Test <t@example.invalid>\nDescription: crafted test package\n`;
}

/**
 * Writes a .deb whose data.tar.gz holds exactly `files`, with a minimal control stanza (or
 * `control`, as given) and no md5sums (so strata must compute them). Returns its path, sha256 and
 * the record a lock would hold for `pkg` 1.0 all.
 */
export async function craftDeb(
  dir: string,
  pkg: string,
  files: CraftedFile[],
  control = craftedControl(pkg),
): Promise<RealDeb> {
  return rawDeb(dir, pkg, { name: "data.tar.gz", body: gzipSync(await looseTar(files)) }, control);
}

/** A .deb around a data member given as bytes (any bytes: a bomb, a corrupt tar...). */
export async function rawDeb(
  dir: string,
  pkg: string,
  data: { name: string; body: Buffer },
  control: string | Buffer = craftedControl(pkg),
): Promise<RealDeb> {
  const controlTar =
    typeof control === "string"
      ? gzipSync(
          await looseTar([
            { name: "./", type: "directory" },
            { name: "./control", body: control },
          ]),
        )
      : control;
  const path = join(dir, `${pkg}_1.0_all.deb`);
  await writeFile(
    path,
    arArchive([
      { name: "debian-binary", body: Buffer.from("2.0\n") },
      { name: "control.tar.gz", body: controlTar },
      data,
    ]),
  );
  const locked = { name: pkg, version: "1.0", architecture: "all" };
  return { path, sha256: (await sha256File(path)).hex, locked };
}

/**
 * gzip of a tar holding `count` files `name`, `name`.1, ... of `size` zero bytes each, made without
 * holding the tar: a decompression bomb (256 MiB become about 250 KB).
 */
export async function gzipBombTar(name: string, size: number, count = 1): Promise<Buffer> {
  async function* tar(): AsyncGenerator<Buffer> {
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < count; i++) {
      const path = i === 0 ? name : `${name}.${i}`;
      yield tarHeader({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size });
      for (let left = size; left > 0; left -= zeros.length) {
        yield zeros.subarray(0, Math.min(left, zeros.length));
      }
      yield tarPadding(size);
    }
    yield TAR_END;
  }
  const chunks: Buffer[] = [];
  const gzip = createGzip({ level: 9 });
  const collecting = (async () => {
    for await (const chunk of gzip) chunks.push(chunk as Buffer);
  })();
  await pipeline(tar(), gzip);
  await collecting;
  return Buffer.concat(chunks);
}
