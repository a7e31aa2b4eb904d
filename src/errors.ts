/** An error about one input field: `field` is a path such as `rules[412].dstPort`. */
export class QuiverError extends Error {
  readonly field: string;
  constructor(field: string, reason: string) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'QuiverError';
    this.field = field;
  }
}

/** Errors from the addon already start with "field: reason"; keep that shape. */
export function fromNative(e: unknown): QuiverError {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /^([A-Za-z0-9_.[\]-]+): (.*)$/s.exec(msg);
  return m ? new QuiverError(m[1]!, m[2]!) : new QuiverError('', msg);
}

/** Calls into the addon, turning its errors into QuiverError. */
export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}
