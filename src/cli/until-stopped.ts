/** Resolves when the process is asked to stop (Ctrl-C, SIGTERM): a server command's life. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
}
