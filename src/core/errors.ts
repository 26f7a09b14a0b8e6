/**
 * Errors that are the user's to fix (a bad flag, a malformed file, an invalid spec).
 * They carry a stable code and say what, where and why; the CLI prints them without a
 * stack trace and exits non-zero, the API answers them as 4xx with the code.
 */
export class UserError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
