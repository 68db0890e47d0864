/**
 * The value a codec's `check` returns instead of a view when the bytes cannot be read safely.
 *
 * Never thrown: a receive path does `if (v instanceof ParseError) stats.drop(v.reason)`. The reason
 * is a short kebab-case word that doubles as a stats key ('truncated', 'bad-checksum', …). One
 * frozen instance exists per reason, so a flood of bad packets allocates nothing.
 */
export class ParseError {
  private static readonly cache = new Map<string, ParseError>();

  private constructor(readonly reason: string) {
    Object.freeze(this);
  }

  /** The shared instance for `reason`. */
  static of(reason: string): ParseError {
    let e = ParseError.cache.get(reason);
    if (e === undefined) {
      e = new ParseError(reason);
      ParseError.cache.set(reason, e);
    }
    return e;
  }

  toString(): string {
    return `ParseError(${this.reason})`;
  }
}
