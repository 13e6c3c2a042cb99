import { parentPort } from "node:worker_threads";
import { isStrataError } from "../util/errors.js";
import { buildPackageLayer, type PackageLayerInput } from "./layer.js";

/** Worker thread body: builds one package layer per message; errors travel back as plain data. */
parentPort?.on("message", async (msg: { id: number; input: PackageLayerInput }) => {
  try {
    const record = await buildPackageLayer(msg.input);
    parentPort?.postMessage({ id: msg.id, ok: true, record });
  } catch (err) {
    const e = err as Error;
    parentPort?.postMessage({
      id: msg.id,
      ok: false,
      error: {
        code: isStrataError(err) ? err.code : undefined,
        hint: isStrataError(err) ? err.hint : undefined,
        message: e?.message ?? String(err),
        stack: e?.stack,
      },
    });
  }
});
