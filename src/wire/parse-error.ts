/**
 * The value a codec's `check` returns instead of a view when the bytes cannot be read safely.
 *
 * Never thrown: a receive path does `if (v instanceof ParseError) stats.drop(v.reason)`. The reason
 * is a short kebab-case word that doubles as a stats key ('truncated', 'bad-checksum', …). One
 * frozen instance exists per reason, so a flood of bad packets allocates nothing.
 *
 * `R` is the set of reasons a codec can return (e.g. `ParseError<Ipv4ParseReason>`), so that a
 * caller indexing its drop counters by `reason` is checked by the compiler, without a cast.
 */
export class ParseError<R extends string = string> {
  private static readonly cache = new Map<string, ParseError>();

  private constructor(readonly reason: R) {
    Object.freeze(this);
  }

  /** The shared instance for `reason`. */
  static of<R extends string>(reason: R): ParseError<R> {
    let e = ParseError.cache.get(reason);
    if (e === undefined) {
      e = new ParseError(reason);
      ParseError.cache.set(reason, e);
    }
    return e as ParseError<R>;
  }

  toString(): string {
    return `ParseError(${this.reason})`;
  }
}
