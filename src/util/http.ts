import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { isStrataError, StrataError } from "./errors.js";

/**
 * Every HTTP exchange strata makes (mirrors and registries) goes through `boundedFetch`: no wait for
 * a connection, the headers or the next chunk of a body is longer than the idle timeout, an exchange
 * can have a total deadline, and no body is longer than the caller's bound (what the signed metadata
 * or the descriptor says, else a sane maximum). A server that is silent, trickles or never ends costs
 * seconds and a bounded amount of memory or disk, never hours or gigabytes.
 */

export interface HttpTimeouts {
  /** Longest wait for a connection and the headers, and between two chunks of a body. */
  idleMs: number;
  /** Longest a whole exchange may take, body included (none when undefined). */
  totalMs?: number;
}

const DEFAULT_IDLE_SECONDS = 30;

/** The idle timeout: `STRATA_HTTP_TIMEOUT` seconds (fractions allowed), else 30 s. */
export function defaultTimeouts(env: NodeJS.ProcessEnv = process.env): HttpTimeouts {
  const text = env.STRATA_HTTP_TIMEOUT;
  if (text === undefined || text === "") return { idleMs: DEFAULT_IDLE_SECONDS * 1000 };
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new StrataError("USAGE", `STRATA_HTTP_TIMEOUT is not a positive number of seconds: ${text}`);
  }
  return { idleMs: seconds * 1000 };
}

export interface BoundOptions {
  /** What is being fetched, for error messages. */
  what?: string;
  /** The body may not be longer than this many bytes (unbounded when undefined: avoid). */
  maxBytes?: number;
  timeouts?: Partial<HttpTimeouts>;
  /** Cancels the exchange (its connection dropped) when the caller gives up, e.g. at a deadline. */
  signal?: AbortSignal;
}

/** What `fetch` accepts, plus undici's per-request options Node's types do not declare. */
export type BoundedInit = RequestInit & { dispatcher?: object; duplex?: "half" };

/** Statuses whose Response cannot carry a body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * One `fetch`, bounded: rejects with NETWORK when no answer comes within the idle timeout, with
 * SIZE_MISMATCH when the announced length exceeds `maxBytes`; the returned Response's body fails the
 * same way while it is read (idle, deadline, too long), and the connection is dropped at once.
 */
export async function boundedFetch(
  url: string,
  init: BoundedInit,
  opts: BoundOptions = {},
): Promise<Response> {
  const { idleMs, totalMs } = { ...defaultTimeouts(), ...opts.timeouts };
  const what = opts.what ?? url;
  const abort = new AbortController();
  const stopAfter = (ms: number, why: string) => {
    const timer = setTimeout(() => abort.abort(new StrataError("NETWORK", `${what}: ${why}`)), ms);
    timer.unref();
    return () => clearTimeout(timer);
  };
  const stopCancel = cancelWith(opts.signal, abort, what);
  const stopDeadlineTimer =
    totalMs === undefined ? () => {} : stopAfter(totalMs, `not done within ${seconds(totalMs)}`);
  const stopDeadline = () => {
    stopDeadlineTimer();
    stopCancel();
  };
  let stopHeaders = stopAfter(idleMs, `no answer within ${seconds(idleMs)}`);
  // An upload that is still moving is not a silence: each chunk sent restarts the wait.
  let answered = false;
  const sending = () => {
    if (answered) return;
    stopHeaders();
    stopHeaders = stopAfter(idleMs, `no answer within ${seconds(idleMs)}`);
  };
  const body = init.body instanceof Readable ? Readable.from(observed(init.body, sending)) : init.body;
  let res: Response;
  try {
    res = await fetch(url, { ...init, body, signal: abort.signal } as RequestInit);
  } catch (err) {
    stopDeadline();
    throw isStrataError(abort.signal.reason) ? abort.signal.reason : err;
  } finally {
    answered = true;
    stopHeaders();
  }
  if (res.body === null || NULL_BODY_STATUSES.has(res.status)) {
    stopDeadline();
    return res;
  }
  const announced = Number(res.headers.get("content-length") ?? Number.NaN);
  if (opts.maxBytes !== undefined && announced > opts.maxBytes) {
    stopDeadline();
    abort.abort();
    throw tooLong(what, opts.maxBytes, `${announced} announced`);
  }
  const guarded = guardedBody(res.body, { what, idleMs, maxBytes: opts.maxBytes, abort, done: stopDeadline });
  return new Response(guarded, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/**
 * Aborts `abort` when `signal` does, with an error that is not NETWORK: a cancelled exchange is
 * not retried. Returns what detaches the listener once the exchange is over.
 */
function cancelWith(signal: AbortSignal | undefined, abort: AbortController, what: string): () => void {
  if (signal === undefined) return () => {};
  const cancel = () => abort.abort(new StrataError("REGISTRY", `${what}: cancelled (its deadline passed)`));
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

/** Yields `source` unchanged, showing `onChunk` each chunk as it goes (progress, liveness). */
export async function* observed(source: Readable, onChunk: (chunk: Buffer) => void): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    onChunk(chunk as Buffer);
    yield chunk as Buffer;
  }
}

/**
 * A body longer than its bound: what the server sends is not what was signed or described, which
 * no retry mends (unlike a body cut short by a dropped connection).
 */
export class BodyTooLongError extends StrataError {}

function tooLong(what: string, maxBytes: number, got: string): StrataError {
  return new BodyTooLongError("SIZE_MISMATCH", `${what}: more than the expected ${maxBytes} bytes (${got})`, {
    hint: "the server sent more than the signed metadata or the descriptor allows; nothing was kept",
  });
}

interface Guard {
  what: string;
  idleMs: number;
  maxBytes?: number;
  abort: AbortController;
  done: () => void;
}

/** `body` with an idle timer on every chunk and a byte bound; any failure drops the connection. */
function guardedBody(body: ReadableStream<Uint8Array>, guard: Guard): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let seen = 0;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, err: unknown) => {
    const reason = isStrataError(guard.abort.signal.reason) ? guard.abort.signal.reason : err;
    guard.abort.abort(reason);
    guard.done();
    controller.error(reason);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new StrataError("NETWORK", `${guard.what}: no data for ${seconds(guard.idleMs)}`)),
          guard.idleMs,
        );
      });
      try {
        const { done, value } = await Promise.race([reader.read(), idle]);
        if (done) {
          guard.done();
          controller.close();
          return;
        }
        seen += value.length;
        if (guard.maxBytes !== undefined && seen > guard.maxBytes) {
          fail(controller, tooLong(guard.what, guard.maxBytes, "cut there"));
          return;
        }
        controller.enqueue(value);
      } catch (err) {
        fail(controller, err);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      guard.done();
      guard.abort.abort();
      return reader.cancel(reason).catch(() => {});
    },
  });
}

export interface RetryOptions extends BoundOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  /** First backoff in ms; doubles each time. */
  backoffMs?: number;
}

const PROBLEMS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  ETIMEDOUT: "timed out",
  UND_ERR_SOCKET: "connection closed early, transfer truncated",
  UND_ERR_CONNECT_TIMEOUT: "connect timed out",
};

export function describeFetchError(err: unknown): string {
  if (isStrataError(err)) return err.message;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code;
  if (code) return PROBLEMS[code] ? `${PROBLEMS[code]}, ${code}` : code;
  return cause?.message ?? (err as Error)?.message ?? String(err);
}

/**
 * `boundedFetch` with bounded retries and exponential backoff on dropped or silent connections and
 * 5xx/429 answers. Other HTTP statuses come back to the caller, which knows what a 404 means for it.
 */
export async function fetchWithRetry(
  url: string,
  init: BoundedInit = {},
  opts: RetryOptions = {},
): Promise<Response> {
  const attempts = opts.attempts ?? 4;
  let backoff = opts.backoffMs ?? 250;
  const what = opts.what ?? url;
  let lastProblem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await boundedFetch(url, init, opts);
      if (res.status >= 500 || res.status === 429) {
        lastProblem = `HTTP ${res.status} ${res.statusText}`;
        await res.body?.cancel();
      } else {
        return res;
      }
    } catch (err) {
      if (isStrataError(err) && err.code !== "NETWORK") throw err;
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

/** Fetches a URL's whole (bounded) body as bytes; a non-2xx status is an HTTP error naming the URL. */
export async function fetchBytes(
  url: string,
  opts: RetryOptions & { headers?: Record<string, string> } = {},
) {
  const res = await fetchWithRetry(url, { headers: opts.headers }, opts);
  if (!res.ok && res.status !== 304) {
    await res.body?.cancel();
    throw new StrataError("HTTP", `${opts.what ?? url}: HTTP ${res.status} ${res.statusText}`, {
      hint:
        res.status >= 500
          ? "the server failed: try again later"
          : "check the URL, and that the server lets this machine read it",
    });
  }
  const body = res.status === 304 ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}
