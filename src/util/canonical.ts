/**
 * One frozen object per distinct value: many holders of equal values (the images of a fleet hold
 * mostly the same packages, with the same findings) keep one copy. At most `maxValues` are
 * remembered; past that it starts afresh (equal values made before and after are then two copies).
 */
export class Canonical {
  private readonly values = new Map<string, object>();

  constructor(private readonly maxValues = 500_000) {}

  /** The one object equal to `value` (by `key`), frozen: a holder cannot change it under another. */
  of<T extends object>(key: string, value: T): Readonly<T> {
    const known = this.values.get(key);
    if (known !== undefined) return known as T;
    if (this.values.size >= this.maxValues) this.values.clear();
    this.values.set(key, Object.freeze(value));
    return value;
  }
}
