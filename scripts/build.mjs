// Bundles the CLI and the workers into dist/ with esbuild: a few files load in about half the time
// of hundreds of ESM modules, and split per command a command loads only what it uses.
// Type checking is `npm run check` (tsc --noEmit); this only transpiles and bundles.
import { copyFile, mkdir } from "node:fs/promises";
import { build } from "esbuild";

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
