/** What a cache did since it was made: for metrics. */
export interface CacheCounts {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
}

export interface BoundedCacheOptions {
  /** How long a value is reused (Infinity: until evicted). */
  ttlMs: number;
  /** How long a failure is reused: a key that cannot be made, asked again, is not made again at once. */
  failureTtlMs?: number;
  /** Entries kept at most; the least recently used goes first. */
  maxEntries: number;
  /**
   * A value asked for once it is this old is made again in the background while the callers keep
   * getting the one they have, swapped when the new one is made: a busy key never waits for its
   * value to expire and be made again (a failed refresh keeps the old value until it expires).
   */
  refreshAfterMs?: number;
}

interface Entry<T> {
  value: Promise<T>;
  made: number;
  until: number;
  refreshing?: boolean;
}

/**
 * A cache of promises. Concurrent callers of one key share one `make()` (single flight), a value
 * lives `ttlMs`, and at most `maxEntries` are kept, the least recently used evicted first: a
 * stream of new keys (new images, old generations) cannot grow it.
 */
export class BoundedCache<T> {
  /** In use order: a Map iterates in insertion order, and a hit is inserted again. */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly counts = { hits: 0, misses: 0, evictions: 0 };

  constructor(private readonly opts: BoundedCacheOptions) {}

  get(key: string, make: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      if (hit.until > now) {
        this.counts.hits++;
        this.entries.set(key, hit);
        const { refreshAfterMs } = this.opts;
        if (refreshAfterMs !== undefined && !hit.refreshing && now - hit.made >= refreshAfterMs)
          this.refresh(key, hit, make);
        return hit.value;
      }
    }
    this.counts.misses++;
    const value = make();
    const entry: Entry<T> = { value, made: now, until: now + this.opts.ttlMs };
    // Its callers see the failure; the cache keeps it only briefly.
    value.catch(() => {
      entry.until = Math.min(entry.until, Date.now() + (this.opts.failureTtlMs ?? this.opts.ttlMs));
    });
    this.entries.set(key, entry);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.opts.maxEntries) break;
      this.entries.delete(oldest);
      this.counts.evictions++;
    }
    return value;
  }

  /** Forgets `key`: the next get makes it anew. */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Makes `key`'s value again; once made, it takes the place of `hit` (if that is still the entry). */
  private refresh(key: string, hit: Entry<T>, make: () => Promise<T>): void {
    hit.refreshing = true;
    const value = make();
    value.then(
      () => {
        if (this.entries.get(key) !== hit) return;
        const now = Date.now();
        this.entries.set(key, { value, made: now, until: now + this.opts.ttlMs });
      },
      () => {
        // Tried again only after another refreshAfterMs: a failing make is not called per hit.
        hit.refreshing = false;
        hit.made = Date.now();
      },
    );
  }

  /** Whether `key` holds a live value (or one being made), without counting or reordering. */
  has(key: string): boolean {
    const hit = this.entries.get(key);
    return hit !== undefined && hit.until > Date.now();
  }

  stats(): CacheCounts {
    return { ...this.counts, entries: this.entries.size };
  }
}
