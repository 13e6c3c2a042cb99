import { parseReference } from "../oci/reference.js";
import type { RegistryClient } from "../oci/registry/client.js";
import { MANIFEST_ACCEPT } from "../oci/registry/repository.js";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import { z } from "../util/zod.js";

/**
 * What a registry holds, as the distribution spec lists it: its repositories (`/v2/_catalog`), a
 * repository's tags (`/v2/NAME/tags/list`), both paginated with `Link`, and what a tag names now
 * (`HEAD` of the manifest: its digest, no body). Every answer is bounded by the client and checked
 * here before a name or digest from it is used.
 */

const PAGE = 1000;
/** More pages than any real registry needs; a registry that never stops paging is refused. */
const MAX_PAGES = 1000;
/** A page may hold more than was asked (registries ignore `n`), but not past this. */
const MAX_PAGE_ENTRIES = 10 * PAGE;
/** Repositories of one registry, or tags of one repository, one sync reads at most. */
const MAX_ENTRIES = 100_000;
const TAG = /^[\w][\w.-]{0,127}$/;

const catalogSchema = z.object({ repositories: z.array(z.string().max(255)).nullable().optional() });
const tagsSchema = z.object({ tags: z.array(z.string().max(128)).nullable().optional() });

function malformed(where: string, what: string): StrataError {
  return new StrataError("REGISTRY", `${where}: the ${what} answer is malformed`, {
    hint: "the registry does not answer as the distribution spec says; check its address",
  });
}

function tooMany(registry: string, what: string, why: string): StrataError {
  return new StrataError("REGISTRY", `${registry}: ${what}: ${why}`, {
    hint: "the registry's listing is not one strata reads; check the registry, or sync one repository",
  });
}

/** The next page's path from a `Link: </v2/...?last=x&n=y>; rel="next"` header. */
function nextPage(link: string | null): string | undefined {
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link ?? "");
  if (!m) return undefined;
  const url = new URL(m[1], "http://registry.invalid");
  return `${url.pathname}${url.search}`;
}

/** Reads every page of a listing, counting the bytes of the answers. */
async function pages<T>(
  client: RegistryClient,
  first: string,
  scope: string,
  what: string,
  parse: (json: unknown) => T[],
  counter: { bytes: number },
): Promise<T[]> {
  const out: T[] = [];
  const seen = new Set<string>();
  let path: string | undefined = first;
  for (let page = 0; path !== undefined; page++) {
    if (page >= MAX_PAGES)
      throw new StrataError("REGISTRY", `${client.registry}: ${what}: more than ${MAX_PAGES} pages`);
    if (seen.has(path))
      throw tooMany(client.registry, what, `a next page (${path.slice(0, 80)}) that repeats`);
    seen.add(path);
    const res = await client.request({ method: "GET", url: path, scopes: [scope], what });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new StrataError(
        "REGISTRY",
        `${client.registry}: ${what}: ${res.status} ${res.statusText}`.trimEnd(),
        {
          hint:
            res.status === 404
              ? "check the repository name"
              : "check the registry's address and your credentials",
        },
      );
    }
    const text = await res.text();
    counter.bytes += Buffer.byteLength(text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw malformed(client.registry, what);
    }
    const entries = parse(json);
    if (entries.length > MAX_PAGE_ENTRIES)
      throw tooMany(
        client.registry,
        what,
        `${entries.length} entries in one page (at most ${MAX_PAGE_ENTRIES})`,
      );
    if (out.length + entries.length > MAX_ENTRIES)
      throw tooMany(client.registry, what, `more than ${MAX_ENTRIES} entries`);
    for (const entry of entries) out.push(entry);
    path = nextPage(res.headers.get("link"));
  }
  return out;
}

/** Every repository of the registry, checked as reference names. */
export async function listRepositories(
  client: RegistryClient,
  counter: { bytes: number },
): Promise<string[]> {
  const repos = await pages(
    client,
    `/v2/_catalog?n=${PAGE}`,
    "registry:catalog:*",
    "list repositories",
    (json) => {
      const parsed = catalogSchema.safeParse(json);
      if (!parsed.success) throw malformed(client.registry, "catalog");
      return parsed.data.repositories ?? [];
    },
    counter,
  );
  for (const repo of repos) checkRepository(client.registry, repo);
  return [...new Set(repos)].sort();
}

export function checkRepository(registry: string, repo: string): void {
  const ref = (() => {
    try {
      return parseReference(`${registry}/${repo}`);
    } catch {
      return undefined;
    }
  })();
  if (ref?.repository !== repo) {
    throw new StrataError("REGISTRY", `${registry}: repository name "${repo.slice(0, 80)}" is not valid`, {
      hint: "the registry's catalog holds a name no client could pull; check the registry",
    });
  }
}

/** Every tag of `repo`. */
export async function listTags(
  client: RegistryClient,
  repo: string,
  counter: { bytes: number },
): Promise<string[]> {
  const tags = await pages(
    client,
    `/v2/${repo}/tags/list?n=${PAGE}`,
    `repository:${repo}:pull`,
    `list tags of ${repo}`,
    (json) => {
      const parsed = tagsSchema.safeParse(json);
      if (!parsed.success) throw malformed(client.registry, `tags of ${repo}`);
      return parsed.data.tags ?? [];
    },
    counter,
  );
  const bad = tags.find((t) => !TAG.test(t));
  if (bad !== undefined)
    throw new StrataError("REGISTRY", `${client.registry}/${repo}: tag "${bad.slice(0, 80)}" is not valid`);
  return [...new Set(tags)].sort();
}

/** The digest `repo:tag` names now, from a HEAD of its manifest; undefined when the tag is gone. */
export async function tagDigest(
  client: RegistryClient,
  repo: string,
  tag: string,
): Promise<string | undefined> {
  const what = `check ${repo}:${tag}`;
  const res = await client.request({
    method: "HEAD",
    url: `/v2/${repo}/manifests/${tag}`,
    scopes: [`repository:${repo}:pull`],
    headers: { accept: MANIFEST_ACCEPT },
    what,
  });
  await res.body?.cancel();
  if (res.status === 404) return undefined;
  const digest = res.headers.get("docker-content-digest") ?? "";
  if (res.status !== 200 || !SHA256_DIGEST.test(digest)) {
    throw new StrataError(
      "REGISTRY",
      `${client.registry}/${repo}:${tag}: ${what}: ${res.status}, digest "${digest.slice(0, 80)}"`,
      {
        hint: "the registry must answer a manifest HEAD with its Docker-Content-Digest",
      },
    );
  }
  return digest;
}
