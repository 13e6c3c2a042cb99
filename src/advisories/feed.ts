import { stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { StrataError } from "../util/errors.js";
import { readNamedFile } from "../util/fs.js";
import { fetchBytes } from "../util/http.js";
import { type Advisory, feedError } from "./advisory.js";
import { osvAdvisories } from "./osv.js";
import { isTrackerDocument, trackerAdvisories } from "./tracker.js";

/** A feed read and validated: its advisories and the date it speaks for. */
export interface Feed {
  kind: "tracker" | "osv";
  location: string;
  /** ISO 8601: the newest OSV `modified`, else the server's Last-Modified or the file's mtime. */
  date: string;
  advisories: Advisory[];
}

/**
 * The tracker's whole JSON is about 70 MB (2025); a feed this big is not one. One JSON document
 * must be held to parse it (the tracker's is one object), so the bound is also the memory bound.
 */
export const MAX_FEED_BYTES = 256 * 2 ** 20;

async function feedBytes(location: string): Promise<{ bytes: Buffer; date: Date }> {
  if (/^https?:\/\//.test(location)) {
    const res = await fetchBytes(location, { what: location, maxBytes: MAX_FEED_BYTES });
    const modified = new Date(res.headers.get("last-modified") ?? "");
    return { bytes: res.body, date: Number.isNaN(modified.getTime()) ? new Date() : modified };
  }
  const fail = (why: string) =>
    new StrataError("USAGE", `${location}: ${why}`, { hint: "give --from a feed file or an http(s) URL" });
  const bytes = await readNamedFile(location, MAX_FEED_BYTES, fail);
  const info = await stat(location).catch(() => undefined);
  return { bytes, date: info?.mtime ?? new Date() };
}

/** Gzip is how the feeds are often served; the bound applies to what it expands to. */
function jsonOf(bytes: Buffer, where: string): unknown {
  let text = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      text = gunzipSync(bytes, { maxOutputLength: MAX_FEED_BYTES });
    } catch (err) {
      throw feedError(where, `gzip: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text.toString("utf8"));
  } catch (err) {
    throw feedError(where, `not JSON (${(err as Error).message.slice(0, 120)})`);
  }
}

function newestModified(json: unknown): string | undefined {
  const records = Array.isArray(json) ? json : [json];
  const dates = records
    .map((r) => new Date(String((r as { modified?: unknown })?.modified ?? "")))
    .filter((d) => !Number.isNaN(d.getTime()));
  // A reduce, not Math.max(...): a feed has hundreds of thousands of records, past the argument limit.
  const newest = dates.reduce((max, d) => Math.max(max, d.getTime()), Number.NEGATIVE_INFINITY);
  return dates.length === 0 ? undefined : new Date(newest).toISOString();
}

/** Reads a feed from a file or an http(s) URL, detecting its format; `keep` filters tracker releases. */
export async function readFeed(location: string, keep?: (release: string) => boolean): Promise<Feed> {
  const { bytes, date } = await feedBytes(location);
  const json = jsonOf(bytes, location);
  if (isTrackerDocument(json)) {
    const advisories = [...trackerAdvisories(json, location, keep)];
    return { kind: "tracker", location, date: date.toISOString(), advisories };
  }
  const advisories = [...osvAdvisories(json, location)].filter((a) => keep?.(a.release) ?? true);
  return { kind: "osv", location, date: newestModified(json) ?? date.toISOString(), advisories };
}
