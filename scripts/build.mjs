// Bundles the CLI and the workers into dist/ with esbuild: a few files load in about half the time
// of hundreds of ESM modules, and split per command a command loads only what it uses.
// Type checking is `npm run check` (tsc --noEmit); this only transpiles and bundles.
import { createHash } from "node:crypto";
import { copyFile, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

/**
 * zod exports every locale's error messages (`z.locales`, 360 kB of source parsed at each start);
 * strata uses zod's default English ones only (zod imports them itself), so the index of all
 * locales is left out of the bundle.
 */
const noZodLocales = {
  name: "no-zod-locales",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)
        ? { path: "zod-locales", namespace: "no-zod-locales" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "no-zod-locales" }, () => ({ contents: "export {};", loader: "js" }));
  },
};

/**
 * The sha256 of every source file (path and bytes) and of the pinned dependencies (package-lock):
 * what a cache of the code's own results is keyed by.
 */
async function sourceDigest(dir) {
  const hash = createHash("sha256");
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith(".ts")).sort();
  for (const file of files) hash.update(`${file}\0`).update(await readFile(join(dir, file))).update("\0");
  hash.update(await readFile("package-lock.json"));
  return hash.digest("hex");
}

await build({
  entryPoints: {
    strata: "src/cli/main.ts",
    "layer-worker": "src/layers/layer-worker.ts",
    "sbom-worker": "src/serve/sbom-worker.ts",
  },
  outdir: "dist",
  bundle: true,
  // Shared code in chunks beside the entries: a command loads only its own graph (src/cli/main.ts).
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  // Native addons and big lazily-loaded libraries stay in node_modules.
  external: ["zstd-napi", "fflate", "tar-stream", "openpgp", "tsx", "better-sqlite3", "pg"],
  // Bundled CommonJS dependencies call require() for Node built-ins.
  banner: { js: "import { createRequire as __strataRequire } from 'node:module'; const require = __strataRequire(import.meta.url);" },
  plugins: [noZodLocales],
  // Names this build's code for caches of what the code computes (src/util/version.ts BUILD_ID).
  define: { __STRATA_BUILD_ID__: JSON.stringify(await sourceDigest("src")) },
  logLevel: "warning",
});

// The gzip compressor (src/oci/libdeflate.ts looks for it beside the bundle), with its MIT licence.
await copyFile("vendor/libdeflate/libdeflate.wasm", "dist/libdeflate.wasm");
await copyFile("vendor/libdeflate/COPYING", "dist/libdeflate.COPYING");

// strata serve's page: one script for the browser, and its HTML and CSS beside it (dist/page).
await build({
  entryPoints: { app: "src/serve/page/app.ts" },
  outdir: "dist/page",
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  logLevel: "warning",
});
await mkdir("dist/page", { recursive: true });
for (const file of ["index.html", "style.css"]) await copyFile(`src/serve/page/${file}`, `dist/page/${file}`);
