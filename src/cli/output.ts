import { MultiBar, Presets, type SingleBar } from "cli-progress";
import { isStrataError } from "../util/errors.js";

export { formatBytes } from "../util/format-bytes.js";

/**
 * Where output goes: human lines on stderr (progress bars on a terminal, plain lines when piped,
 * nothing with --quiet) and --json's one document on stdout (printed even with --quiet).
 */
export class Output {
  readonly isTTY: boolean;
  /** The bar on screen, if any: lines are printed above it rather than through it. */
  private activeBars?: MultiBar;

  constructor(
    readonly quiet = false,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
  ) {
    this.isTTY = Boolean(stream.isTTY) && !process.env.CI;
  }

  /** `value` as JSON on stdout, one line (indented for the manifests a person reads). */
  json(value: unknown, { indent }: { indent?: number } = {}): void {
    this.stdout.write(`${JSON.stringify(value, null, indent)}\n`);
  }

  line(text: string): void {
    if (this.quiet) return;
    if (this.activeBars) this.activeBars.log(`${text}\n`);
    else this.stream.write(`${text}\n`);
  }

  /**
   * A progress display for `total` items: a bar on a terminal, one plain line per finished item
   * otherwise. `tick` reports one finished item with a short description.
   */
  progress(label: string, total: number): Progress {
    const steps = this.steps({ [label]: total });
    return { tick: (what) => steps.tick(label, what), stop: () => steps.stop() };
  }

  /**
   * Progress for work in separate steps running at once (downloads and layers): one bar per step on
   * a terminal, and when piped one plain line per finished item, `STEP [n/N] what`.
   */
  steps(totals: Record<string, number>): Steps {
    const active = Object.entries(totals).filter(([, total]) => total > 0);
    if (this.quiet || active.length === 0) return { tick() {}, stop() {} };
    if (!this.isTTY) {
      const done = new Map<string, number>();
      return {
        tick: (step, what) => {
          const n = (done.get(step) ?? 0) + 1;
          done.set(step, n);
          this.line(`${step} [${n}/${totals[step]}] ${what}`);
        },
        stop() {},
      };
    }
    const width = Math.max(...active.map(([step]) => step.length));
    const multi = new MultiBar(
      {
        format: "{step} [{bar}] {value}/{total} {what}",
        hideCursor: true,
        clearOnComplete: true,
        stream: this.stream,
      },
      Presets.shades_classic,
    );
    const bars = new Map<string, SingleBar>(
      active.map(([step, total]) => [step, multi.create(total, 0, { step: step.padEnd(width), what: "" })]),
    );
    this.activeBars = multi;
    return {
      tick: (step, what) => bars.get(step)?.increment(1, { what }),
      stop: () => {
        if (this.activeBars === multi) this.activeBars = undefined;
        multi.update(); // renders once more, which also prints lines logged since the last render
        multi.stop();
      },
    };
  }
}

export interface Steps {
  tick(step: string, what: string): void;
  stop(): void;
}

export interface Progress {
  tick(what: string): void;
  stop(): void;
}

/** Prints an error as one line (plus a hint line) and returns the exit code for it. */
export function reportError(err: unknown, stream: NodeJS.WriteStream = process.stderr): number {
  if (isStrataError(err)) {
    stream.write(`strata: error: ${err.message}\n`);
    if (err.hint) stream.write(`strata: hint: ${err.hint}\n`);
    return err.code === "USAGE" ? 2 : 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT") {
    stream.write(`strata: error: no space left on device${e.path ? ` (${e.path})` : ""}\n`);
    stream.write(
      "strata: hint: free some disk space, or point --cache-dir / STRATA_CACHE_DIR elsewhere; nothing half-written was kept\n",
    );
    return 1;
  }
  if (e?.code === "EACCES" || e?.code === "EPERM") {
    stream.write(`strata: error: permission denied: ${e.path ?? e.message}\n`);
    return 1;
  }
  stream.write(`strata: internal error: ${e?.stack ?? String(err)}\n`);
  return 70;
}
