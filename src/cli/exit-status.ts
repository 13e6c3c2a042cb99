/**
 * A command that finished its work and printed its result, but whose verdict is not success (a
 * scan over its threshold, a policy check that fails): main() exits with `status`, printing nothing.
 */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
    this.name = "ExitStatus";
  }
}
