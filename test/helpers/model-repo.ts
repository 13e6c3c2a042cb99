import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { resolveSpec } from "../../src/lock/resolve.js";
import { type BuildOptions, type BuildResult, buildImages } from "../../src/pipeline/builder.js";
import { loadSpec } from "../../src/spec/spec.js";
import { arArchive, type CraftedFile, looseTar } from "./debs.js";
import { type FakePackage, type FakeRepo, fakeRepoSpec } from "./fake-repo.js";

/**
 * Hand-made packages for image-model tests: a package whose postinst makes alternatives, an account
 * and a copied file (so the files layer has facts to be made from), and plain libraries. Every byte
 * is fixed, so a build of them has a fixed digest.
 */
export async function scriptedDeb(
  name: string,
  version: string,
  files: CraftedFile[],
  postinst?: string,
): Promise<Buffer> {
  const control = `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: Test <t@example.invalid>\nDescription: image model test package\n`;
  const controlTar = await looseTar([
    { name: "./", type: "directory" },
    { name: "./control", body: control },
    ...(postinst ? [{ name: "./postinst", body: postinst, mode: 0o755 }] : []),
  ]);
  return arArchive([
    { name: "debian-binary", body: Buffer.from("2.0\n") },
    { name: "control.tar.gz", body: gzipSync(controlTar) },
    { name: "data.tar.gz", body: gzipSync(await looseTar(files)) },
  ]);
}

const TOOLS_POSTINST = `#!/bin/sh
set -e
case "$1" in
configure)
    update-alternatives --install /usr/bin/alpha alpha /usr/lib/tools/alpha 100
    adduser --system --group --home /var/lib/tools --quiet toolsd
    cp /usr/share/tools/default.conf /etc/tools.conf
    ;;
esac
`;

/** tools (with a postinst) and libfoo, libbar at `version` (change it to make a new .deb). */
export async function modelPackages(libVersion = "1.0"): Promise<FakePackage[]> {
  const lib = (name: string) =>
    scriptedDeb(name, libVersion, [
      { name: `./usr/lib/${name}.so`, body: `${name} ${libVersion}\n` },
      { name: `./usr/share/doc/${name}/copyright`, body: "free\n" },
    ]);
  return [
    {
      name: "tools",
      version: "1.0",
      arch: "all",
      fields: { Depends: "libfoo, libbar" },
      body: await scriptedDeb(
        "tools",
        "1.0",
        [
          { name: "./usr/lib/tools/alpha", mode: 0o755, body: "#!/bin/sh\necho alpha\n" },
          { name: "./usr/share/tools/default.conf", body: "greeting = hello\n" },
        ],
        TOOLS_POSTINST,
      ),
    },
    { name: "libfoo", version: libVersion, arch: "all", body: await lib("libfoo") },
    {
      name: "libbar",
      version: "1.0",
      arch: "all",
      body: await scriptedDeb("libbar", "1.0", [{ name: "./usr/lib/libbar.so", body: "bar\n" }]),
    },
  ];
}

/** Locks and builds `packages` of `repo` in `dir` with the cache at `cache`. */
export async function buildFromRepo(
  repo: FakeRepo,
  dir: string,
  cache: string,
  opts: { packages?: string[]; extra?: string; build?: BuildOptions } = {},
): Promise<
  BuildResult & { lock: Awaited<ReturnType<typeof resolveSpec>>; spec: Awaited<ReturnType<typeof loadSpec>> }
> {
  const specPath = join(dir, "strata.yaml");
  await writeFile(
    specPath,
    fakeRepoSpec(repo, opts.packages ?? ["tools"], opts.extra ?? "exclude: [base-files]"),
  );
  const spec = await loadSpec(specPath);
  const lock = await resolveSpec(spec, { cacheRoot: cache });
  const result = await buildImages(spec, lock, { cacheRoot: cache, jobs: 1, ...opts.build });
  return { ...result, lock, spec };
}
