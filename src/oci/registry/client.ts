import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { isStrataError, StrataError } from "../../util/errors.js";
import { boundedFetch, describeFetchError } from "../../util/http.js";
import { isLoopbackHost, registryApiHost } from "../reference.js";
import { Authenticator, type Credentials, savedCredentials } from "./auth.js";
import { type Dispatcher, type TlsOptions, tlsDispatcher } from "./tls.js";

/**
 * The transport to one registry: picks https or (only when allowed) http, signs requests through
 * the Authenticator, and retries what is worth retrying — dropped or refused connections, 5xx and
 * 429 — with bounded exponential backoff, ending in one clear REGISTRY error.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  /** No single wait is longer than this (a Retry-After is capped to it too). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 8000 };

export interface RegistryClientOptions extends TlsOptions {
  /** Allow plain http for a registry that is not on loopback (loopback may always use it). */
  insecure?: boolean;
  /** Explicit credentials (the CLI's --creds); otherwise saved logins are looked up. */
  credentials?: Credentials;
  /** Auth files to search instead of REGISTRY_AUTH_FILE / XDG_RUNTIME_DIR / ~/.docker/config.json. */
  authFiles?: string[];
  retry?: Partial<RetryPolicy>;
  /** Cancels every exchange of the client (the admission review's deadline); none is retried. */
  signal?: AbortSignal;
  /**
   * Longest a connection may take to open, TLS handshake included (undici's default is 10 s): an
   * aborted fetch does not stop a connection that is still opening, this does (to about a second).
   */
  connectTimeoutMs?: number;
}

/** A request body that can be produced again for a retry. */
export type BodyFactory = () => Promise<Buffer | Readable> | Buffer | Readable;

export interface RegistryRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH";
  /** A path under the registry ("/v2/…") or an absolute URL (an upload Location). */
  url: string;
  /** Token scopes the request needs, e.g. "repository:team/app:pull,push". */
  scopes: string[];
  headers?: Record<string, string>;
  body?: BodyFactory;
  /** What is being done, for error messages ("push blob sha256:…"). */
  what: string;
  /** The answer's body may not be longer (default MAX_ANSWER_BYTES): a blob's or manifest's descriptor size. */
  maxBytes?: number;
}

/**
 * The most any answer without a known size may hold: manifests fetched by tag (the distribution
 * spec suggests registries accept at least 4 MiB), error bodies, tokens.
 */
export const MAX_ANSWER_BYTES = 4 << 20;
/** The longest an exchange with an answer of at most MAX_ANSWER_BYTES may take. */
const SMALL_ANSWER_DEADLINE_MS = 2 * 60 * 1000;

/** A problem worth another attempt; never leaves this module's retry loops. */
export class TransientError extends Error {
  constructor(
    message: string,
    /** The server's Retry-After, when it gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * The registry's host name does not resolve. ENOTFOUND is the resolver's final answer, so it is
 * not asked again; EAI_AGAIN (a resolver that did not answer) gets one more try.
 */
export class UnresolvedHost extends TransientError {
  /** Attempts after the first that are worth making. */
  readonly retries: number;
  readonly failure: StrataError;

  constructor(registry: string, host: string, code: "ENOTFOUND" | "EAI_AGAIN") {
    super(`${host}: ${code}`);
    this.retries = code === "EAI_AGAIN" ? 1 : 0;
    this.failure = new StrataError(
      "REGISTRY",
      `${registry}: the host name ${host} does not resolve (${code})`,
      {
        hint: "check the registry's name in the reference (Docker Hub is docker.io/NAME) and that DNS works here",
      },
    );
  }
}

/** ENOTFOUND or EAI_AGAIN when a fetch failed because the host name did not resolve. */
function dnsFailure(err: unknown): "ENOTFOUND" | "EAI_AGAIN" | undefined {
  const code = (err as { cause?: { code?: unknown } })?.cause?.code;
  return code === "ENOTFOUND" || code === "EAI_AGAIN" ? code : undefined;
}

/** Retry-After in seconds (the HTTP-date form is rare from registries and is ignored). */
function retryAfterMs(res: Response): number | undefined {
  const seconds = Number(res.headers.get("retry-after"));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

/** The server answered a TLS handshake with something else: a plain-http registry. */
class NotTlsError extends Error {}

const TLS_CERT_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME/;

/** Runs `attempt` until it succeeds, a non-transient error escapes, or the policy is spent. */
export async function withRetry<T>(
  registry: string,
  what: string,
  policy: RetryPolicy,
  attempt: () => Promise<T>,
): Promise<T> {
  let delay = policy.baseDelayMs;
  let problem = "";
  for (let n = 1; n <= policy.attempts; n++) {
    let wait = delay;
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      if (err instanceof UnresolvedHost && n > err.retries) throw err.failure;
      problem = err.message;
      wait = Math.max(wait, err.retryAfterMs ?? 0);
    }
    if (n < policy.attempts) {
      await sleep(Math.min(wait, policy.maxDelayMs));
      delay *= 2;
    }
  }
  throw new StrataError(
    "REGISTRY",
    `${registry}: ${what}: registry unreachable after ${policy.attempts} attempts (${problem})`,
    { hint: "check that the registry is running and reachable, then push or pull again" },
  );
}

/** A one-line error from a registry's JSON error body (`{"errors":[{"code","message"}]}`). */
export async function registryFailure(registry: string, res: Response, what: string): Promise<StrataError> {
  let detail = res.statusText;
  try {
    const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    if (first) detail = [first.code, first.message].filter(Boolean).join(": ");
  } catch {
    // Not JSON (or no body): the status line is all there is.
  }
  const code = /DIGEST_INVALID/.test(detail) ? "HASH_MISMATCH" : "REGISTRY";
  return new StrataError(code, `${registry}: ${what}: ${res.status} ${detail}`.trimEnd());
}

export class RegistryClient {
  private origin = "";
  private dispatcher: Dispatcher | undefined;
  readonly auth: Authenticator;
  readonly retry: RetryPolicy;

  private constructor(
    readonly registry: string,
    private readonly opts: RegistryClientOptions,
    credentials: Credentials | undefined,
  ) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.auth = new Authenticator(
      registry,
      credentials,
      (url, headers) =>
        withRetry(registry, "fetch a token", this.retry, () =>
          this.send(url, { method: "GET", headers, what: "fetch a token" }),
        ),
      () => this.origin,
    );
  }

  /** A client for `registry` (as written in a reference, e.g. "127.0.0.1:5000" or "docker.io"). */
  static async connect(registry: string, opts: RegistryClientOptions = {}): Promise<RegistryClient> {
    const credentials = opts.credentials ?? (await savedCredentials(registry, opts.authFiles));
    const client = new RegistryClient(registry, opts, credentials);
    client.dispatcher = await tlsDispatcher(opts, opts.connectTimeoutMs);
    // Its own connections (kept alive for reuse) go when it is cancelled.
    const { signal } = opts;
    const destroy = () => void client.dispatcher?.destroy?.().catch(() => {});
    if (signal?.aborted) destroy();
    else signal?.addEventListener("abort", destroy, { once: true });
    await client.chooseOrigin();
    return client;
  }

  /** Releases the TLS agent, if this client made one. */
  async close(): Promise<void> {
    await this.dispatcher?.close?.();
  }

  private get httpAllowed(): boolean {
    return this.opts.insecure === true || isLoopbackHost(this.registry);
  }

  /**
   * https always comes first; plain http is tried only where allowed and only when the server does
   * not speak TLS at all (a certificate problem is reported, never silently downgraded).
   */
  private async chooseOrigin(): Promise<void> {
    const host = registryApiHost(this.registry);
    const ping = (origin: string) =>
      withRetry(this.registry, "connect", this.retry, async () => {
        const res = await this.send(`${origin}/v2/`, { method: "GET", headers: {}, what: "connect" });
        await res.body?.cancel();
      });
    try {
      await ping(`https://${host}`);
      this.origin = `https://${host}`;
    } catch (err) {
      if (!(err instanceof NotTlsError)) throw err;
      if (!this.httpAllowed) {
        throw new StrataError(
          "REGISTRY",
          `${this.registry}: the registry does not speak https (${err.message})`,
          {
            hint: "pass --insecure if it is a plain-http registry you trust",
          },
        );
      }
      await ping(`http://${host}`);
      this.origin = `http://${host}`;
    }
  }

  /**
   * One HTTP exchange, bounded like every other (timeouts, `maxBytes`); network failures and
   * silences, 5xx and 429 become TransientError.
   */
  private async send(
    url: string,
    init: {
      method: string;
      headers: Record<string, string>;
      body?: Buffer | Readable;
      what: string;
      maxBytes?: number;
    },
  ): Promise<Response> {
    const maxBytes = init.maxBytes ?? MAX_ANSWER_BYTES;
    // A small exchange has no reason to take long, however it trickles; a blob's upload or download may.
    const sent =
      init.body === undefined ? 0 : Buffer.isBuffer(init.body) ? init.body.length : Number.POSITIVE_INFINITY;
    const small = maxBytes <= MAX_ANSWER_BYTES && sent <= MAX_ANSWER_BYTES;
    let res: Response;
    try {
      res = await boundedFetch(
        url,
        {
          method: init.method,
          headers: init.headers,
          body: init.body as BodyInit | undefined,
          redirect: "follow",
          // Node's fetch needs `duplex` for streamed request bodies; the dispatcher carries TLS options.
          duplex: "half",
          dispatcher: this.dispatcher,
        },
        {
          what: `${this.registry}: ${init.what}`,
          maxBytes,
          timeouts: small ? { totalMs: SMALL_ANSWER_DEADLINE_MS } : {},
          signal: this.opts.signal,
        },
      );
    } catch (err) {
      if (isStrataError(err, "NETWORK")) throw new TransientError(err.message);
      // A request body that failed on our side (a blob that did not verify) is not the network's fault.
      const cause = (err as { cause?: unknown }).cause;
      if (err instanceof StrataError) throw err;
      if (cause instanceof StrataError) throw cause;
      const dns = dnsFailure(err);
      if (dns !== undefined) throw new UnresolvedHost(this.registry, new URL(url).hostname, dns);
      const problem = describeFetchError(err);
      if (TLS_CERT_ERRORS.test(problem)) {
        throw new StrataError("REGISTRY", `${this.registry}: TLS certificate not trusted (${problem})`, {
          hint: "give the registry's CA (CA file option, or NODE_EXTRA_CA_CERTS), or pass --tls-verify=false",
        });
      }
      if (/WRONG_VERSION_NUMBER|EPROTO/.test(problem)) throw new NotTlsError(problem);
      throw new TransientError(problem);
    }
    if (res.status >= 500 || res.status === 429) {
      await res.body?.cancel();
      throw new TransientError(`HTTP ${res.status} ${res.statusText}`, retryAfterMs(res));
    }
    return res;
  }

  resolve(url: string): string {
    return new URL(url, `${this.origin}/`).toString();
  }

  /**
   * One attempt at a request, answering at most one auth challenge on the way. Transient problems
   * are thrown as TransientError for the caller's retry loop.
   */
  async once(req: RegistryRequest): Promise<Response> {
    const url = this.resolve(req.url);
    for (let answered = 0; ; answered++) {
      const authorization = this.auth.headerFor(req.scopes);
      const headers: Record<string, string> = { ...req.headers };
      if (authorization) headers.authorization = authorization;
      const body = req.body ? await req.body() : undefined;
      const res = await this.send(url, {
        method: req.method,
        headers,
        body,
        what: req.what,
        maxBytes: req.maxBytes,
      });
      if (res.status !== 401) return res;
      const challenge = res.headers.get("www-authenticate");
      await res.body?.cancel();
      if (answered > 0 || !this.auth.canAnswer(challenge, req.scopes, authorization))
        throw this.auth.failure(401);
      await this.auth.answer(challenge!, req.scopes);
    }
  }

  /** A request with retries: what most calls want. */
  request(req: RegistryRequest): Promise<Response> {
    return withRetry(this.registry, req.what, this.retry, () => this.once(req));
  }
}
