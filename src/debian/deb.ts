import { PassThrough, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type tarStream from "tar-stream";
import { isStrataError, StrataError } from "../util/errors.js";
import { lazyModule } from "../util/lazy.js";
import { type ArMember, openArMember, readArMembers } from "./ar.js";

/**
 * Reads a .deb (deb(5)): the ar members `debian-binary`, `control.tar[.gz|.xz|.zst]` and
 * `data.tar[.gz|.xz|.zst]`, in that order; members whose names start with "_" are ignored, as dpkg
 * does. Every defect of the file is a DEB_INVALID error naming the file and what is wrong.
 */
export type TarCompression = "xz" | "gz" | "zst" | "none";

export interface DebControl {
  /** The format version line, e.g. "2.0". */
  formatVersion: string;
  /** The `control` file: the package's stanza, as shipped. */
  control: string;
  /** The `md5sums` file, when the package has one. */
  md5sums?: string;
  /** Paths listed in `conffiles` (absolute, as dpkg writes them). */
  conffiles: string[];
  /** Maintainer scripts the package ships (strata never runs them; callers report or emulate them). */
  scripts: Partial<Record<MaintainerScript, string>>;
}

export type MaintainerScript = (typeof MAINTAINER_SCRIPTS)[number];
const MAINTAINER_SCRIPTS = ["preinst", "postinst", "prerm", "postrm", "config"] as const;
const CONTROL_FILES = new Set<string>(["control", "md5sums", "conffiles", ...MAINTAINER_SCRIPTS]);

/**
 * One entry of a member tar: tar-stream's header and the whole body (empty for non-files). Bodies
 * are read inside the reader so that a corrupt stream surfaces as DEB_INVALID wherever it breaks.
 */
export interface DebTarEntry {
  header: tarStream.Header;
  body: Buffer;
}

export interface DebFile {
  path: string;
  control: DebControl;
  dataCompression: TarCompression;
  /** Streams data.tar's entries; each call reads the member again from the start. */
  dataEntries(): AsyncGenerator<DebTarEntry>;
}

/** Opens a .deb: reads its ar directory and control member; data.tar is read on demand. */
export async function openDeb(path: string): Promise<DebFile> {
  const members = (await readArMembers(path)).filter((m) => !m.name.startsWith("_"));
  const [binary, controlMember, dataMember] = members;
  if (binary?.name !== "debian-binary") throw invalid(path, "first member is not debian-binary");
  const controlCompression = memberCompression(path, controlMember, "control.tar");
  const dataCompression = memberCompression(path, dataMember, "data.tar");
  if (members.length > 3) throw invalid(path, `unexpected member "${members[3].name}" after data.tar`);

  const formatVersion = (await readSmallMember(path, binary)).toString("latin1").trim();
  if (!/^2\.\d+$/.test(formatVersion)) throw invalid(path, `unsupported format version "${formatVersion}"`);

  const files = new Map<string, string>();
  for await (const entry of tarEntries(path, controlMember, controlCompression)) {
    const name = entry.header.name.replace(/^\.\//, "");
    if (entry.header.type === "file" && CONTROL_FILES.has(name)) {
      files.set(name, entry.body.toString("utf8"));
    }
  }
  const control = files.get("control");
  if (control === undefined) throw invalid(path, `${controlMember.name} has no control file`);
  const conffiles = (files.get("conffiles") ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0);

  const scripts: DebControl["scripts"] = {};
  for (const script of MAINTAINER_SCRIPTS) {
    const text = files.get(script);
    if (text !== undefined) scripts[script] = text;
  }

  return {
    path,
    control: { formatVersion, control, md5sums: files.get("md5sums"), conffiles, scripts },
    dataCompression,
    dataEntries: () => tarEntries(path, dataMember, dataCompression),
  };
}

const SUFFIX_COMPRESSION: Record<string, TarCompression> = {
  "": "none",
  ".gz": "gz",
  ".xz": "xz",
  ".zst": "zst",
};

function memberCompression(path: string, member: ArMember | undefined, stem: string): TarCompression {
  if (!member?.name.startsWith(stem)) throw invalid(path, `missing ${stem} member`);
  const compression = SUFFIX_COMPRESSION[member.name.slice(stem.length)];
  if (compression === undefined) throw invalid(path, `${member.name}: unknown compression`);
  return compression;
}

async function readSmallMember(path: string, member: ArMember): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of openArMember(path, member)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const liblzma = lazyModule<typeof import("node-liblzma")>("node-liblzma");
const zstdStreams = lazyModule<typeof import("zstd-napi")>("zstd-napi");
const tarStreams = lazyModule<typeof tarStream>("tar-stream");

export function decompressor(compression: TarCompression): Transform {
  switch (compression) {
    case "xz":
      // node-liblzma declares its own Transform subclass whose _transform signature differs from
      // @types/node's; at run time it is a plain stream.Transform.
      return liblzma().createUnxz() as unknown as Transform;
    case "gz":
      return createGunzip();
    case "zst":
      return new (zstdStreams().DecompressStream)();
    case "none":
      return new PassThrough();
  }
}

async function* tarEntries(
  path: string,
  member: ArMember,
  compression: TarCompression,
): AsyncGenerator<DebTarEntry> {
  const extract = tarStreams().extract();
  const feeding = pipeline(openArMember(path, member), decompressor(compression), extract);
  // A failure anywhere in the pipeline destroys `extract`, which the loop below reports.
  feeding.catch(() => {});
  try {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      yield { header: entry.header, body: Buffer.concat(chunks) };
    }
    await feeding;
  } catch (err) {
    if (isStrataError(err)) throw err;
    throw invalid(path, `${member.name}: ${(err as Error).message}`, err);
  } finally {
    extract.destroy();
  }
}

function invalid(path: string, what: string, cause?: unknown): StrataError {
  return new StrataError("DEB_INVALID", `${path}: ${what}`, { cause });
}
