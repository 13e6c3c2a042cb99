import { homedir } from "node:os";
import { join } from "node:path";
import { StrataError } from "../../util/errors.js";
import { readRegularFile } from "../../util/fs.js";
import { DOCKER_HUB, isLoopbackHost } from "../reference.js";

/**
 * Registry authentication: credentials from the caller or the usual auth files, and answers to the
 * `WWW-Authenticate` challenges of the distribution spec (Basic, and Bearer tokens fetched from the
 * challenge's realm for a service and scopes, cached per scope set until they expire).
 */

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string; // lowercased: "basic", "bearer"
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` (several challenges allowed). */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  const token = /[A-Za-z0-9!#$%&'*+.^_`|~-]+/y;
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i])) i++;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    token.lastIndex = i;
    const m = token.exec(header);
    if (m === null) break;
    i = token.lastIndex;
    skip(/\s/);
    if (header[i] !== "=") {
      out.push({ scheme: m[0].toLowerCase(), params: {} });
      continue;
    }
    i++;
    skip(/\s/);
    let value = "";
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++) {
        if (header[i] === "\\") i++;
        value += header[i] ?? "";
      }
      i++;
    } else {
      token.lastIndex = i;
      value = token.exec(header)?.[0] ?? "";
      i += value.length;
    }
    const current = out.at(-1);
    if (current !== undefined) current.params[m[0].toLowerCase()] = value;
  }
  return out;
}

/** The files consulted for saved logins, first match wins (the order podman and skopeo use). */
export function authFileCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const files: string[] = [];
  // podman login writes under XDG_RUNTIME_DIR, or /run/containers/UID (root without a session).
  const runtimeDir = env.XDG_RUNTIME_DIR || join("/run", "containers", String(process.getuid?.() ?? 0));
  files.push(join(runtimeDir, env.XDG_RUNTIME_DIR ? "containers" : "", "auth.json"));
  const configHome = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  files.push(join(configHome, "containers", "auth.json"));
  files.push(join(env.DOCKER_CONFIG || join(homedir(), ".docker"), "config.json"));
  return files;
}

/** "https://index.docker.io/v1/" → "docker.io"; "http://127.0.0.1:5000" → "127.0.0.1:5000". */
function authKeyHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB : host;
}

function decodeAuth(auth: string, file: string, registry: string): Credentials {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0)
    throw new StrataError("AUTH", `${file}: the saved login for ${registry} is not base64 "user:password"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Far beyond any auth file (a few KB of credentials). */
const MAX_AUTH_FILE_BYTES = 1 << 20;

/** Saved credentials for `registry` from the auth files, if any has an `auths` entry for it. */
export async function savedCredentials(
  registry: string,
  files = authFileCandidates(),
): Promise<Credentials | undefined> {
  for (const file of files) {
    let parsed: { auths?: Record<string, { auth?: string }> };
    try {
      parsed = JSON.parse((await readRegularFile(file, MAX_AUTH_FILE_BYTES)).toString("utf8"));
    } catch {
      continue;
    }
    for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
      if (authKeyHost(key) === registry && entry.auth) return decodeAuth(entry.auth, file, registry);
    }
  }
  return undefined;
}

/** Parses the CLI's `--creds user:pass`. */
export function parseCredentials(text: string): Credentials {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new StrataError("USAGE", "credentials must be written user:password");
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

/**
 * Token scopes (`repository:team/app:pull,push`) with the actions of the same resource united and
 * everything sorted, so that "pull,push" plus "pull" asks for one scope, and equal sets compare equal.
 */
export function mergeScopes(scopes: string[]): string[] {
  const actions = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const cut = scope.lastIndexOf(":");
    const resource = cut > 0 ? scope.slice(0, cut) : scope;
    const set = actions.get(resource) ?? new Set<string>();
    if (cut > 0) for (const action of scope.slice(cut + 1).split(",")) if (action) set.add(action);
    actions.set(resource, set);
  }
  return [...actions.entries()]
    .map(([resource, set]) => (set.size > 0 ? `${resource}:${[...set].sort().join(",")}` : resource))
    .sort();
}

/** One hop to a token endpoint: the registry client supplies it so TLS, retries and errors stay in one place. */
export type TokenFetch = (url: string, headers: Record<string, string>) => Promise<Response>;

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** Leave this much of a token's life unused, so it does not expire in flight. */
const TOKEN_MARGIN_MS = 10_000;

/**
 * Remembers how a registry wants to be spoken to. Until a challenge arrives requests go out
 * anonymously; after a Basic challenge every request carries the credentials, after a Bearer
 * challenge each scope set gets its token (fetched once, reused until it expires).
 */
export class Authenticator {
  private scheme: "none" | "basic" | "bearer" = "none";
  private bearer: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** How many tokens were fetched: lets tests see that the cache works. */
  tokenFetches = 0;

  constructor(
    readonly registry: string,
    readonly credentials: Credentials | undefined,
    private readonly fetchToken: TokenFetch,
    /** The origin the registry is spoken to at ("https://host:port"), once known. */
    private readonly registryOrigin: () => string,
  ) {}

  private scopeKey(scopes: string[]): string {
    return mergeScopes(scopes).join(" ");
  }

  /** The Authorization header for a request needing `scopes`, or undefined to go anonymously. */
  headerFor(scopes: string[]): string | undefined {
    if (this.scheme === "basic" && this.credentials) return basicHeader(this.credentials);
    if (this.scheme === "bearer") {
      const token = this.tokens.get(this.scopeKey(scopes));
      if (token && token.expiresAt > Date.now()) return token.header;
    }
    return undefined;
  }

  /** Whether a request that carried `sentHeader` and got 401 is worth repeating after `answer`. */
  canAnswer(header: string | null, scopes: string[], sentHeader: string | undefined): boolean {
    if (header === null) return false;
    const challenge = this.pickChallenge(header);
    if (challenge === undefined) return false;
    if (challenge.scheme === "basic") return this.credentials !== undefined && sentHeader === undefined;
    // A bearer token that was refused is only worth replacing when the challenge asks for more scope.
    return (
      sentHeader === undefined ||
      this.scopeKey(this.challengeScopes(challenge, scopes)) !== this.scopeKey(scopes)
    );
  }

  private pickChallenge(header: string): Challenge | undefined {
    const all = parseChallenges(header);
    return all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic");
  }

  private challengeScopes(challenge: Challenge, scopes: string[]): string[] {
    const asked = challenge.params.scope?.split(" ").filter((s) => s.length > 0) ?? [];
    return mergeScopes([...scopes, ...asked]);
  }

  /** Answers a 401's challenge so that `headerFor(scopes)` returns a header that should pass. */
  async answer(header: string, scopes: string[]): Promise<void> {
    const challenge = this.pickChallenge(header);
    if (challenge === undefined) return;
    if (challenge.scheme === "basic") {
      this.scheme = "basic";
      return;
    }
    this.scheme = "bearer";
    this.bearer = challenge;
    const wanted = this.challengeScopes(challenge, scopes);
    const token = await this.token(wanted);
    // Cache under the caller's scopes too, so the next request with them finds it.
    this.tokens.set(this.scopeKey(scopes), token);
  }

  private async token(scopes: string[]): Promise<CachedToken> {
    const key = this.scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached;
    let inflight = this.pending.get(key);
    if (inflight === undefined) {
      inflight = this.requestToken(scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, inflight);
    }
    const token = await inflight;
    this.tokens.set(key, token);
    return token;
  }

  private async requestToken(scopes: string[]): Promise<CachedToken> {
    const challenge = this.bearer!;
    const realm = challenge.params.realm;
    if (!realm) throw new StrataError("AUTH", `${this.registry}: bearer challenge without a realm`);
    const url = this.realmUrl(realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    for (const scope of scopes) url.searchParams.append("scope", scope);
    const headers: Record<string, string> = {};
    if (this.credentials) headers.authorization = basicHeader(this.credentials);
    this.tokenFetches++;
    const res = await this.fetchToken(url.toString(), headers).catch((err: unknown) => {
      if (err instanceof StrataError) throw err;
      // The realm is another server: one that is not TLS, or not there, is the token service's fault.
      throw new StrataError(
        "AUTH",
        `${this.registry}: token service ${url.origin} failed: ${(err as Error).message}`,
        {
          hint: "check the realm the registry names in its WWW-Authenticate challenge",
        },
      );
    });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw this.failure(res.status);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new StrataError("AUTH", `${this.registry}: token service ${url.origin} answered ${res.status}`);
    }
    const body = (await res.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new StrataError("AUTH", `${this.registry}: token service ${url.origin} returned no token`);
    // The spec's default lifetime is 60 s when expires_in is absent.
    const lifeMs = (body.expires_in ?? 60) * 1000;
    return {
      header: `Bearer ${token}`,
      expiresAt: Date.now() + Math.max(lifeMs - TOKEN_MARGIN_MS, lifeMs / 2),
    };
  }

  /**
   * The token realm, if it is safe to ask: never plain http after an https registry (a downgrade
   * anyone on the path could read), and plain http with credentials only at the registry's own
   * loopback origin; elsewhere the password would cross the network in the clear.
   */
  private realmUrl(realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new StrataError(
        "AUTH",
        `${this.registry}: bearer challenge has an unusable realm ${JSON.stringify(realm).slice(0, 120)}`,
      );
    }
    if (url.protocol === "https:") return url;
    const origin = this.registryOrigin();
    const refuse = (why: string) =>
      new StrataError("AUTH", `${this.registry}: refusing token realm ${url.origin}: ${why}`, {
        hint: "the registry's token service must use https; fix the registry's auth configuration",
      });
    if (url.protocol !== "http:") throw refuse("not an http(s) URL");
    if (origin.startsWith("https:")) throw refuse("plain http after an https registry");
    const ownLoopback = url.origin === origin && isLoopbackHost(url.host);
    if (this.credentials !== undefined && !ownLoopback) throw refuse("credentials would go over plain http");
    return url;
  }

  /** The error for a refusal: who was refused and what to do about it. */
  failure(status: number): StrataError {
    if (this.credentials === undefined) {
      return new StrataError("AUTH", `${this.registry}: authentication required (${status})`, {
        hint: "pass --creds user:password, or log in with `podman login` / `docker login`",
      });
    }
    return new StrataError(
      "AUTH",
      `${this.registry}: authentication failed for ${this.credentials.username} (${status})`,
      {
        hint: "check --creds user:password, or the login saved in REGISTRY_AUTH_FILE / ~/.docker/config.json",
      },
    );
  }
}
