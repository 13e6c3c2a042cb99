import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "./errors.js";

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  /** First backoff in ms; doubles each time. */
  backoffMs?: number;
  /** What is being fetched, for error messages. */
  what?: string;
}

const PROBLEMS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  ETIMEDOUT: "timed out",
  UND_ERR_SOCKET: "connection closed early, transfer truncated",
  UND_ERR_CONNECT_TIMEOUT: "connect timed out",
};

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code;
  if (code) return PROBLEMS[code] ? `${PROBLEMS[code]}, ${code}` : code;
  return cause?.message ?? (err as Error)?.message ?? String(err);
}

/**
 * `fetch` with bounded retries and exponential backoff on dropped connections and 5xx/429 answers.
 * Other HTTP statuses come back to the caller, which knows what a 404 means for it.
 */
export async function fetchWithRetry(
  url: string,
  init: RequestInit = {},
  opts: RetryOptions = {},
): Promise<Response> {
  const attempts = opts.attempts ?? 4;
  let backoff = opts.backoffMs ?? 250;
  const what = opts.what ?? url;
  let lastProblem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(url, init);
      if (res.status >= 500 || res.status === 429) {
        lastProblem = `HTTP ${res.status} ${res.statusText}`;
        await res.body?.cancel();
      } else {
        return res;
      }
    } catch (err) {
      lastProblem = describeFetchError(err);
    }
    if (attempt < attempts) {
      await sleep(backoff);
      backoff *= 2;
    }
  }
  throw new StrataError("NETWORK", `${what}: failed after ${attempts} attempts (${lastProblem})`, {
    hint: "check the network and the repository URL, then try again",
  });
}

/** Fetches a URL's whole body as bytes; a non-2xx status is an HTTP error naming the URL. */
export async function fetchBytes(
  url: string,
  opts: RetryOptions & { headers?: Record<string, string> } = {},
) {
  const res = await fetchWithRetry(url, { headers: opts.headers }, opts);
  if (!res.ok && res.status !== 304) {
    await res.body?.cancel();
    throw new StrataError("HTTP", `${opts.what ?? url}: HTTP ${res.status} ${res.statusText}`);
  }
  const body = res.status === 304 ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}
