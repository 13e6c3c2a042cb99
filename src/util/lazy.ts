import { createRequire } from "node:module";

const requireHere = createRequire(import.meta.url);

/**
 * A CommonJS module loaded on first use. The native decompressors and compressors cost tens of
 * milliseconds to load, and a warm build (every layer cached) needs none of them.
 */
export function lazyModule<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= requireHere(id) as T;
    return loaded;
  };
}
