import { parentPort } from "node:worker_threads";
import { isStrataError, StrataError } from "../util/errors.js";
import type { WorkerError } from "../util/worker.js";
import { buildPackageLayer, type PackageLayerInput } from "./layer.js";

/** Worker thread body: builds one package layer per message; errors travel back as plain data. */
parentPort?.on("message", async (msg: { input: PackageLayerInput }) => {
  try {
    const record = await buildPackageLayer(msg.input);
    parentPort?.postMessage({ ok: true, record });
  } catch (err) {
    const e = asStrataError(err, msg.input);
    const error: WorkerError = { code: e.code, message: e.message, hint: e.hint };
    parentPort?.postMessage({ ok: false, error });
  }
});

/**
 * Every failure reaches the main thread as one clear line: a full disk names the store it could not
 * write, other system errors say what failed where; no stack trace crosses.
 */
function asStrataError(err: unknown, input: PackageLayerInput): StrataError {
  if (isStrataError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT") {
    return new StrataError(
      "IO",
      `no space left on device writing the layer of ${input.debPath} to ${input.store}`,
      {
        hint: "free some disk space, or point --cache-dir / STRATA_CACHE_DIR elsewhere; nothing half-written was kept",
      },
    );
  }
  const where = e?.path ? ` (${e.path})` : "";
  return new StrataError(
    "IO",
    `${input.debPath}: building its layer failed: ${(e?.message ?? String(err)).split("\n")[0]}${where}`,
    {
      hint: e?.code ? `a system error (${e.code}): check the cache directory ${input.store}` : undefined,
    },
  );
}
