import { storeRun } from "./record-run.js";
import { type JobResult, type RunEvent, type RunJobOptions, runJob } from "./run-job.js";

/**
 * `strata run`: the job run, then its record stored in the fleet index at `indexLocation`. A record
 * that could not be stored does not fail the run that happened: `notRecorded` says why.
 */
export async function runAndRecord(
  opts: RunJobOptions,
  indexLocation: string | undefined,
  onEvent: (e: RunEvent) => void,
): Promise<JobResult & { notRecorded?: string }> {
  const result = await runJob(opts, onEvent);
  try {
    await storeRun(indexLocation, result.record, result.image);
    return result;
  } catch (err) {
    return { ...result, notRecorded: (err as Error).message };
  }
}
