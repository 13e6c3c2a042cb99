import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { StrataError } from "../util/errors.js";
import { errorOfWorker, startModuleWorker, type WorkerError } from "../util/worker.js";
import type { PackageLayerInput, PackageLayerRecord } from "./layer.js";

interface Pending {
  input: PackageLayerInput;
  resolve: (r: PackageLayerRecord) => void;
  reject: (e: Error) => void;
}

/**
 * A backstop on each worker's JavaScript heap (MiB). The reader keeps its own bounds far below it
 * (LIMITS in deb.ts); a worker that still outgrows it dies alone and its job fails with a clean error.
 */
const WORKER_HEAP_MB = 512;

/** A worker running layer-worker (bundled in dist/, or from the sources under tsx). */
function startWorker(): Worker {
  return startModuleWorker(import.meta.url, "layer-worker", {
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
}

/**
 * Builds package layers on worker threads (decompressing xz and compressing gzip are CPU-bound),
 * one job per worker at a time. Size defaults to the machine's cores, at most 4. Workers start with
 * the first job (a warm build starts none), and a worker that dies is replaced for the next job.
 * After close() every job, queued, running or submitted later, is rejected: nothing is left pending.
 */
export class LayerPool {
  private readonly workers = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Map<Worker, Pending>();
  private closed = false;

  constructor(private readonly size = Math.min(4, availableParallelism())) {}

  build(input: PackageLayerInput): Promise<PackageLayerRecord> {
    if (this.closed) return Promise.reject(stopped(input));
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.pump();
    });
  }

  /** Rejects every job not yet done and terminates every worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.queue.splice(0), ...this.inFlight.values()]) job.reject(stopped(job.input));
    this.inFlight.clear();
    this.idle.length = 0;
    const workers = [...this.workers];
    this.workers.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      if (this.idle.length === 0) {
        if (this.workers.size >= this.size) return;
        this.spawn();
      }
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.inFlight.set(worker, job);
      worker.postMessage({ input: job.input });
    }
  }

  private spawn(): void {
    const worker = startWorker();
    worker.on("message", (msg: { ok: boolean; record?: PackageLayerRecord; error?: WorkerError }) => {
      const job = this.inFlight.get(worker);
      this.inFlight.delete(worker);
      if (job && msg.ok) job.resolve(msg.record!);
      else if (job) job.reject(errorOfWorker(msg.error!));
      this.idle.push(worker);
      this.pump();
    });
    // A worker that crashes (out of memory, a native fault) fails its own job, not the pool.
    let crash: Error | undefined;
    worker.on("error", (err) => {
      crash = err;
    });
    worker.on("exit", (exitCode) => {
      this.workers.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
      const job = this.inFlight.get(worker);
      this.inFlight.delete(worker);
      job?.reject(workerDied(job.input, crash, exitCode));
      if (!this.closed) this.pump();
    });
    this.workers.add(worker);
    this.idle.push(worker);
  }
}

function stopped(input: PackageLayerInput): StrataError {
  return new StrataError("ABORTED", `${input.debPath}: layer not built: the build stopped`);
}

function workerDied(input: PackageLayerInput, crash: Error | undefined, exitCode: number): StrataError {
  const why =
    (crash as NodeJS.ErrnoException | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY"
      ? `it ran out of memory (limit ${WORKER_HEAP_MB} MiB)`
      : `it stopped (${crash?.message ?? `exit code ${exitCode}`})`;
  return new StrataError("IO", `${input.debPath}: the layer worker failed: ${why}`, {
    hint: "run the build again; if it fails the same way, report it with this .deb",
  });
}
