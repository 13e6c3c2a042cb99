import type { Finding } from "../../advisories/match.js";
import type { FleetBytes, StackLayer } from "../../fleet/image-rows.js";
import type { IndexedPackage } from "../../fleet/lookups.js";
import type { QueryAnswer } from "../../fleet/query.js";
import type { RunRecord } from "../../fleet/runs.js";
import type { FleetImage, FleetTotals } from "../fleet-summary.js";
import type { PackageDiff } from "../fleet-view.js";

/** The page's calls to the JSON API (src/serve/api.ts); an error answer becomes an Error with its text. */

export type { Finding, FleetImage, IndexedPackage, QueryAnswer, RunRecord, StackLayer };
export type Image = Omit<FleetImage, "packages" | "vulnerabilities" | "fixable" | "worst" | "unknown">;

/** Where a paged answer is in its list: how many in all, how many skipped, how many at most. */
export interface PageOf {
  total: number;
  offset: number;
  limit: number | null;
}

export interface FleetAnswer extends PageOf {
  images: FleetImage[];
  totals: FleetTotals;
  bytes: FleetBytes;
  advisories: { location: string; date: string; advisories: number }[];
}
export interface RunAnswer {
  run: RunRecord;
  indexed: boolean;
  worst?: string;
  vulnerabilities: number;
}
export interface ImageAnswer {
  image: Image;
  layers: StackLayer[];
  findings: Finding[];
  /** Why the image's vulnerabilities are unknown, when nothing covers its release. */
  unknown?: string;
}
export interface DiffAnswer {
  a: Image;
  b: Image;
  packages: PackageDiff;
  layers: { shared: number; onlyInA: number; onlyInB: number };
}
export interface VulnerableAnswer extends PageOf {
  images: { image: FleetImage; findings: Finding[]; recentRuns: RunRecord[] }[];
}
export type SearchAnswer = PageOf &
  (
    | { query: string; kind: "query"; answers: QueryAnswer[] }
    | {
        query: string;
        kind: "cve";
        answers: { image: FleetImage; packages: IndexedPackage[]; findings: Finding[] }[];
      }
  );

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.hint ? `${body.error} (${body.hint})` : body.error);
  return body as T;
}
