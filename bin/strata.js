#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/ by `npm ci` (through `prepare`).
import { main } from "../dist/strata.js";

// `strata ... | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`strata: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
