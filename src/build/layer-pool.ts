import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type ErrorCode, StrataError } from "../util/errors.js";
import type { PackageLayerInput, PackageLayerRecord } from "./layer.js";

interface Pending {
  resolve: (r: PackageLayerRecord) => void;
  reject: (e: Error) => void;
}

interface WorkerError {
  code?: ErrorCode;
  hint?: string;
  message: string;
  stack?: string;
}

/**
 * A worker running layer-worker: the compiled JavaScript in dist/, or, when strata runs from its
 * TypeScript sources (tests under tsx), a bootstrap that registers tsx inside the worker first,
 * since loader hooks of the main thread do not reach worker threads.
 */
function startWorker(): Worker {
  const js = new URL("./layer-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL("./layer-worker.ts", import.meta.url).href;
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(bootstrap, { eval: true });
}

/**
 * Builds package layers on worker threads (decompressing xz and compressing gzip are CPU-bound),
 * one job per worker at a time. Size defaults to the machine's cores, at most 4.
 */
export class LayerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { input: PackageLayerInput; pending: Pending }[] = [];
  private readonly inFlight = new Map<Worker, Pending>();
  private nextId = 0;

  constructor(private readonly size = Math.min(4, availableParallelism())) {}

  /** Workers start with the first job: a warm build, with every layer cached, starts none. */
  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = startWorker();
      worker.on("message", (msg: { ok: boolean; record?: PackageLayerRecord; error?: WorkerError }) => {
        const pending = this.inFlight.get(worker);
        this.inFlight.delete(worker);
        if (pending) {
          if (msg.ok) pending.resolve(msg.record!);
          else pending.reject(toError(msg.error!));
        }
        this.idle.push(worker);
        this.pump();
      });
      worker.on("error", (err) => {
        const pending = this.inFlight.get(worker);
        this.inFlight.delete(worker);
        pending?.reject(err);
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  build(input: PackageLayerInput): Promise<PackageLayerRecord> {
    if (this.workers.length === 0) this.start();
    return new Promise((resolve, reject) => {
      this.queue.push({ input, pending: { resolve, reject } });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.inFlight.set(worker, job.pending);
      worker.postMessage({ id: this.nextId++, input: job.input });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function toError(e: WorkerError): Error {
  if (e.code) return new StrataError(e.code, e.message, { hint: e.hint });
  const err = new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}
