import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot as defaultCacheRoot } from "../util/dirs.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { readRegularFile, writeFileAtomic } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import { fetchBytes } from "../util/http.js";
import { parseStanza } from "./deb822.js";
import type { RepositorySource } from "./sources.js";

export interface ReleaseEntry {
  sha256: string;
  size: number;
}

/** A suite's InRelease whose signature was checked, with the index hashes it vouches for. */
export interface VerifiedRelease {
  source: RepositorySource;
  suite: string;
  /** sha256 of the InRelease bytes exactly as fetched. */
  sha256: string;
  date: string;
  validUntil?: string;
  acquireByHash: boolean;
  /** Paths relative to dists/<suite>/ → their SHA256 and size, from the verified text only. */
  files: Map<string, ReleaseEntry>;
}

export interface FetchContext {
  cacheRoot?: string;
  /** The time Valid-Until and Date are checked against (tests set it). */
  now?: Date;
  /** Accept an InRelease dated before the one last seen for the suite (a replay, unless on purpose). */
  allowDowngrade?: boolean;
  /** false: accept an expired Valid-Until for every repository (with a warning), like the per-repository key. */
  checkValidUntil?: boolean;
  /** Where warnings go (default: stderr). */
  warn?: (message: string) => void;
}

/** No InRelease is this big (bookworm's is 150 KB, sid's under 300 KB); a longer answer is hostile. */
export const MAX_INRELEASE_BYTES = 16 << 20;
/** How far in the future a Date may be, for clocks that are a little off (apt allows none by default). */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;
/** An InRelease download may take this long in all, however it trickles. */
const INRELEASE_DEADLINE_MS = 5 * 60 * 1000;

interface ReleaseCacheMeta {
  etag?: string;
  lastModified?: string;
  inReleaseSha256: string;
  keyringSha256: string;
  /** The text the signature covered, as openpgp returned it after verifying. */
  verifiedText: string;
}

export function suiteUrl(source: RepositorySource, suite: string): string {
  return `${source.url}/dists/${suite}`;
}

/**
 * Fetches and verifies `dists/<suite>/InRelease`. The signature is checked against the source's
 * keyring; a verification already done for these exact bytes and this exact keyring is remembered,
 * so a warm run costs one conditional GET. Never falls back to an unsigned Release file.
 */
export async function fetchRelease(
  source: RepositorySource,
  suite: string,
  ctx: FetchContext = {},
): Promise<VerifiedRelease> {
  const url = `${suiteUrl(source, suite)}/InRelease`;
  const dir = releaseCacheDir(url, ctx);
  const metaPath = join(dir, "meta.json");
  const bytesPath = join(dir, "InRelease");
  const cached = await readCachedRelease(metaPath, bytesPath);

  const headers: Record<string, string> = {};
  if (cached?.meta.etag) headers["If-None-Match"] = cached.meta.etag;
  if (cached?.meta.lastModified) headers["If-Modified-Since"] = cached.meta.lastModified;
  const res = await fetchBytes(url, {
    headers,
    what: url,
    maxBytes: MAX_INRELEASE_BYTES,
    timeouts: { totalMs: INRELEASE_DEADLINE_MS },
  }).catch((err) => {
    if (isStrataError(err, "HTTP") && / 404 /.test(err.message)) {
      throw new StrataError(
        "SIGNATURE_INVALID",
        `${url}: no InRelease (HTTP 404); strata uses only signed InRelease files`,
        {
          hint: `check the suite name "${suite}" and the repository URL`,
        },
      );
    }
    throw err;
  });
  const bytes = res.status === 304 && cached ? cached.bytes : res.body;
  if (bytes.length === 0) throw new StrataError("HTTP", `${url}: empty InRelease`);

  const inReleaseSha256 = sha256Hex(bytes);
  const keyringBytes = await readKeyring(source.keyring);
  const keyringSha256 = sha256Hex(keyringBytes);
  const unchanged =
    cached?.meta.inReleaseSha256 === inReleaseSha256 && cached.meta.keyringSha256 === keyringSha256;
  const verifiedText = unchanged
    ? cached.meta.verifiedText
    : await verifyClearsigned(bytes.toString("utf8"), keyringBytes, url, source.keyring);
  const release = parseRelease(verifiedText, source, suite, inReleaseSha256);
  const now = ctx.now ?? new Date();
  checkDate(release, url, now, unchanged ? undefined : cached?.meta.verifiedText, ctx.allowDowngrade);
  checkValidUntil(
    release,
    url,
    now,
    source.checkValidUntil !== false && ctx.checkValidUntil !== false,
    ctx.warn,
  );
  if (!unchanged) {
    const meta: ReleaseCacheMeta = {
      etag: res.headers.get("etag") ?? undefined,
      lastModified: res.headers.get("last-modified") ?? undefined,
      inReleaseSha256,
      keyringSha256,
      verifiedText,
    };
    await writeFileAtomic(bytesPath, bytes);
    await writeFileAtomic(metaPath, JSON.stringify(meta));
  }
  return release;
}

function releaseCacheDir(url: string, ctx: FetchContext): string {
  return join(defaultCacheRoot(ctx.cacheRoot), "releases", sha256Hex(url).slice(0, 32));
}

/**
 * The release verified earlier from exactly these InRelease bytes (by sha256) with the source's
 * keyring as it is now, from the cache alone; undefined when the cache does not hold it.
 */
export async function cachedRelease(
  source: RepositorySource,
  suite: string,
  inReleaseSha256: string,
  ctx: FetchContext = {},
): Promise<VerifiedRelease | undefined> {
  const dir = releaseCacheDir(`${suiteUrl(source, suite)}/InRelease`, ctx);
  const cached = await readCachedRelease(join(dir, "meta.json"), join(dir, "InRelease"));
  if (cached?.meta.inReleaseSha256 !== inReleaseSha256) return undefined;
  const keyring = await readRegularFile(source.keyring, MAX_KEYRING_BYTES).catch(() => undefined);
  if (!keyring || sha256Hex(keyring) !== cached.meta.keyringSha256) return undefined;
  return parseRelease(cached.meta.verifiedText, source, suite, inReleaseSha256);
}

async function readCachedRelease(metaPath: string, bytesPath: string) {
  try {
    const meta = JSON.parse(await readFile(metaPath, "utf8")) as ReleaseCacheMeta;
    const bytes = await readFile(bytesPath);
    // A cached copy that does not match its own record is useless: fetch afresh.
    if (sha256Hex(bytes) !== meta.inReleaseSha256) return undefined;
    return { meta, bytes };
  } catch {
    return undefined;
  }
}

/** Debian's archive keyring is 100 KiB; a keyring path may come from a crafted image's record. */
const MAX_KEYRING_BYTES = 16 << 20;

async function readKeyring(path: string): Promise<Buffer> {
  try {
    return await readRegularFile(path, MAX_KEYRING_BYTES);
  } catch (err) {
    throw new StrataError("SIGNATURE_INVALID", `cannot read keyring ${path}: ${(err as Error).message}`, {
      hint: "install debian-archive-keyring or set `keyring:` for the repository in strata.yaml",
    });
  }
}

/** Verifies a cleartext-signed message and returns only the text the signature covers. */
async function verifyClearsigned(
  armored: string,
  keyringBytes: Buffer,
  url: string,
  keyringPath: string,
): Promise<string> {
  const openpgp = await import("openpgp");
  const fail = (why: string) =>
    new StrataError("SIGNATURE_INVALID", `${url}: signature check failed: ${why}`, {
      hint: `the file is not signed by a key in ${keyringPath}; check the repository URL and keyring`,
    });
  let keys: Awaited<ReturnType<typeof openpgp.readKeys>>;
  try {
    keys = keyringPath.endsWith(".asc")
      ? await openpgp.readKeys({ armoredKeys: keyringBytes.toString("utf8") })
      : await openpgp.readKeys({ binaryKeys: keyringBytes });
  } catch (err) {
    throw fail(`cannot read keyring ${keyringPath}: ${(err as Error).message}`);
  }
  let message: Awaited<ReturnType<typeof openpgp.readCleartextMessage>>;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (err) {
    throw fail(`not a signed InRelease (${(err as Error).message})`);
  }
  const result = await openpgp.verify({ message, verificationKeys: keys, expectSigned: false });
  // Debian signs with several keys; one good signature from the keyring suffices, as with gpgv.
  let lastError = "no signature";
  for (const sig of result.signatures) {
    try {
      await sig.verified;
      return result.data as string;
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  throw fail(lastError);
}

export function parseRelease(
  text: string,
  source: RepositorySource,
  suite: string,
  sha256: string,
): VerifiedRelease {
  const fields = parseStanza(text);
  const files = new Map<string, ReleaseEntry>();
  for (const line of (fields.get("SHA256") ?? "").split("\n")) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 3 && /^[0-9a-f]{64}$/.test(parts[0]) && /^[0-9]{1,15}$/.test(parts[1])) {
      files.set(parts[2], { sha256: parts[0], size: Number(parts[1]) });
    }
  }
  if (files.size === 0) {
    throw new StrataError("SIGNATURE_INVALID", `${suiteUrl(source, suite)}/InRelease: no SHA256 entries`);
  }
  return {
    source,
    suite,
    sha256,
    date: fields.get("Date") ?? "",
    validUntil: fields.get("Valid-Until"),
    acquireByHash: (fields.get("Acquire-By-Hash") ?? "").toLowerCase() === "yes",
    files,
  };
}

/**
 * Refuses a release dated in the future (beyond MAX_CLOCK_SKEW_MS) and, unless allowed, one older
 * than the release last accepted for this URL: a validly signed but older InRelease is a replay that
 * would hide security updates.
 */
function checkDate(
  release: VerifiedRelease,
  url: string,
  now: Date,
  previousText: string | undefined,
  allowDowngrade = false,
): void {
  const date = Date.parse(release.date);
  if (Number.isNaN(date)) {
    throw new StrataError("RELEASE_DATE", `${url}: missing or unreadable Date "${release.date}"`);
  }
  if (date > now.getTime() + MAX_CLOCK_SKEW_MS) {
    throw new StrataError("RELEASE_DATE", `${url}: dated ${release.date}, in the future`, {
      hint: "check this machine's clock; a mirror cannot publish from the future",
    });
  }
  if (previousText === undefined || allowDowngrade) return;
  const previous = parseStanza(previousText).get("Date") ?? "";
  if (date < Date.parse(previous)) {
    throw new StrataError(
      "RELEASE_DATE",
      `${url}: dated ${release.date}, older than ${previous} seen before`,
      {
        hint: "the mirror is stale or replays an old release; use an up-to-date mirror, or pass --allow-downgrade if you mean it",
      },
    );
  }
}

function checkValidUntil(
  release: VerifiedRelease,
  url: string,
  now: Date,
  enforce: boolean,
  warn: (message: string) => void = (m) => process.stderr.write(`strata: warning: ${m}\n`),
): void {
  if (!release.validUntil) return;
  const until = new Date(release.validUntil);
  if (Number.isNaN(until.getTime())) {
    throw new StrataError("RELEASE_EXPIRED", `${url}: unreadable Valid-Until "${release.validUntil}"`);
  }
  if (until.getTime() >= now.getTime()) return;
  if (!enforce) {
    warn(`${url}: expired at ${release.validUntil} (Valid-Until); used anyway, as check-valid-until is off`);
    return;
  }
  throw new StrataError("RELEASE_EXPIRED", `${url}: expired at ${release.validUntil} (Valid-Until)`, {
    hint: "the mirror is stale or replayed; use an up-to-date mirror (for a snapshot: check-valid-until: false)",
  });
}
