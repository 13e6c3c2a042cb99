import { mkdir, readFile, writeFile } from "node:fs/promises";
import { type IncomingMessage, request } from "node:http";
import { join } from "node:path";
import { runStrata } from "./cli.js";
import { craftDeb } from "./debs.js";
import { type FakePackage, type FakeRepo, fakeRepoSpec, startFakeRepo } from "./fake-repo.js";
import { serve } from "./loopback.js";

/**
 * A small fleet for sync tests: real strata images built by the CLI from a really signed fake
 * Debian repository (hand-made .debs with sources), pushed to a registry.
 */

export interface FleetDeb {
  name: string;
  version: string;
  source?: string;
}

/** Starts a fake repository serving a real .deb for each of `debs`. */
export async function fleetRepo(dir: string, debs: FleetDeb[]): Promise<FakeRepo> {
  const packages: FakePackage[] = [];
  for (const d of debs) {
    const control = [
      `Package: ${d.name}`,
      ...(d.source ? [`Source: ${d.source}`] : []),
      `Version: ${d.version}`,
      "Architecture: amd64",
      "Maintainer: Test <t@example.invalid>",
      "Description: fleet test package",
      "",
    ].join("\n");
    const deb = await craftDeb(
      dir,
      d.name,
      [{ name: `./usr/share/${d.name}/VERSION`, body: `${d.version}\n` }],
      control,
    );
    packages.push({
      name: d.name,
      version: d.version,
      fields: d.source ? { Source: d.source } : {},
      body: await readFile(deb.path),
    });
  }
  return startFakeRepo({ packages });
}

/** Builds an image of `packages` with the CLI and pushes it to `ref`. */
export async function buildAndPush(
  repo: FakeRepo,
  dir: string,
  packages: string[],
  refs: string[],
): Promise<void> {
  const specDir = join(dir, refs[0].replace(/[^a-z0-9]+/g, "-"));
  await mkdir(specDir, { recursive: true });
  await writeFile(join(specDir, "strata.yaml"), fakeRepoSpec(repo, packages, "exclude: [base-files]"));
  const cache = join(dir, "cache");
  for (const [i, ref] of refs.entries()) {
    const args = ["--cache-dir", cache, "-q", "build", "--push", ref, ...(i === 0 ? ["--lock-update"] : [])];
    const built = await runStrata(args, { cwd: specDir });
    if (built.code !== 0) throw new Error(`build of ${ref} failed: ${built.stderr}`);
  }
}

/**
 * A proxy in front of a registry that hangs up on the requests `drop` picks, as a registry or a
 * network that fails mid-sync would.
 */
export async function droppingProxy(upstream: string, drop: (req: IncomingMessage) => boolean) {
  const [host, port] = upstream.split(":");
  const server = await serve((req, res) => {
    if (drop(req)) {
      req.socket.destroy();
      return;
    }
    const up = request(
      { host, port: Number(port), path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => req.socket.destroy());
    req.pipe(up);
  });
  return { host: server.url.slice("http://".length), close: server.close };
}
