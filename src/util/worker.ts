import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parentPort, Worker, type WorkerOptions, workerData } from "node:worker_threads";
import { type ErrorCode, isStrataError, StrataError } from "./errors.js";

/**
 * A worker thread running the module `name` that sits beside `caller` (the caller's
 * `import.meta.url`): the bundled `dist/NAME.js`, or, when strata runs from its TypeScript sources
 * (tests under tsx), a bootstrap that registers tsx inside the worker first, since loader hooks of
 * the main thread do not reach worker threads.
 */
export function startModuleWorker(caller: string, name: string, options: WorkerOptions = {}): Worker {
  const js = new URL(`./${name}.js`, caller);
  if (existsSync(fileURLToPath(js))) return new Worker(js, options);
  const ts = new URL(`./${name}.ts`, caller).href;
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** An error as it crosses from a worker: data, never a stack. */
export interface WorkerError {
  code?: ErrorCode;
  hint?: string;
  message: string;
}

type WorkerAnswer<T> = { ok: true; value: T } | { ok: false; error: WorkerError };

export interface WorkerCall {
  /** The worker is terminated this many milliseconds after the call, whatever it is doing. */
  deadlineMs: number;
  /** What the call rejects with at the deadline. */
  onDeadline: () => Error;
  /** A backstop on the worker's JavaScript heap. */
  heapMb: number;
}

/**
 * Runs one job of module `name` (which calls `answerWorkerCall`) on a worker of its own. Work that
 * could block (a hostile input's CPU, a huge document) then never stalls the caller's event loop,
 * and the deadline holds even against synchronous work: the worker is terminated.
 */
export function callWorker<T>(caller: string, name: string, input: unknown, call: WorkerCall): Promise<T> {
  const worker = startModuleWorker(caller, name, {
    workerData: input,
    resourceLimits: { maxOldGenerationSizeMb: call.heapMb },
  });
  return new Promise<T>((resolve, reject) => {
    const settle = () => {
      clearTimeout(timer);
      void worker.terminate();
    };
    const timer = setTimeout(() => {
      settle();
      reject(call.onDeadline());
    }, call.deadlineMs);
    worker.once("message", (answer: WorkerAnswer<T>) => {
      settle();
      if (answer.ok) resolve(answer.value);
      else reject(errorOfWorker(answer.error));
    });
    // A worker that dies (out of memory, a native fault) fails its call, never the caller.
    let crash: Error | undefined;
    worker.once("error", (err) => {
      crash = err;
    });
    worker.once("exit", (code) => {
      settle();
      const why =
        (crash as NodeJS.ErrnoException | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? `ran out of memory (limit ${call.heapMb} MiB)`
          : `stopped (${crash?.message.split("\n")[0] ?? `exit code ${code}`})`;
      reject(
        new StrataError("IO", `the ${name} worker ${why}`, {
          hint: "try again; if it fails the same way, report it",
        }),
      );
    });
  });
}

/** The worker's side of `callWorker`: runs `job` on the call's input and posts its answer as data. */
export function answerWorkerCall<I, O>(job: (input: I) => Promise<O>): void {
  job(workerData as I).then(
    (value) => parentPort?.postMessage({ ok: true, value } satisfies WorkerAnswer<O>),
    (err: unknown) =>
      parentPort?.postMessage({ ok: false, error: workerErrorOf(err) } satisfies WorkerAnswer<O>),
  );
}

function workerErrorOf(err: unknown): WorkerError {
  const message = ((err as Error)?.message ?? String(err)).split("\n")[0];
  return isStrataError(err) ? { code: err.code, hint: err.hint, message } : { message };
}

/** A `WorkerError` as the StrataError (or plain Error) it was. */
export function errorOfWorker(error: WorkerError): Error {
  return error.code === undefined
    ? new Error(error.message)
    : new StrataError(error.code, error.message, { hint: error.hint });
}
