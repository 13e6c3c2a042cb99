import { StrataError } from "../util/errors.js";

/**
 * One page of a list the fleet can make long (query answers, the page's lists): where it starts,
 * how many it holds at most, and how many there are in all, so that an answer's size does not grow
 * with the fleet and a caller still knows what it did not get.
 */

export interface PageRequest {
  /** How many to skip (default 0). */
  offset?: number;
  /** How many at most (default DEFAULT_LIMIT); "all" for every one. */
  limit?: number | "all";
}

export interface Page<T> {
  items: T[];
  /** How many there are in all. */
  total: number;
  offset: number;
  /** null: every one was asked for. */
  limit: number | null;
}

export const DEFAULT_LIMIT = 100;
/** No page is larger unless every one is asked for ("all"); offsets past this are mistakes. */
export const MAX_LIMIT = 10_000;
const MAX_OFFSET = 1_000_000_000;

/** An SQL LIMIT that means "no limit" on both databases (SQLite has no LIMIT ALL). */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

export interface PageWindow {
  offset: number;
  limit: number | null;
  /** The LIMIT to write in SQL. */
  sqlLimit: number;
}

function badPage(why: string): StrataError {
  return new StrataError("USAGE", why, {
    hint: `--limit takes 1 to ${MAX_LIMIT} (or --all for every one), --offset 0 or more`,
  });
}

/** The request checked, with its defaults. */
export function pageWindow(request: PageRequest = {}): PageWindow {
  const offset = request.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_OFFSET)
    throw badPage(`offset ${offset} is not a count of answers to skip`);
  if (request.limit === "all") return { offset, limit: null, sqlLimit: NO_LIMIT };
  const limit = request.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw badPage(`limit ${limit} is not between 1 and ${MAX_LIMIT}`);
  return { offset, limit, sqlLimit: limit };
}

/** The window's part of a list at hand. */
export function sliceWindow<T>(items: T[], window: PageWindow): T[] {
  return items.slice(window.offset, window.offset + window.sqlLimit);
}
