/**
 * Coded errors of the control plane (lvsadm parser, control socket, daemon replies).
 * Callers switch on `code`, never on message text. Messages follow ipvsadm's own texts
 * where ipvsadm has one (ipvsadm.c fail() calls, libipvs.c ipvs_strerror table).
 */
import { DAEMON_ERRORS, type DaemonErrorCode } from '../ipvs/errors';

/**
 * Process exit statuses, as ipvsadm uses them:
 *  - OK 0;
 *  - LIST 1: a listing failed (list_service/list_all exit(1));
 *  - USAGE 2: a bad argument or option combination (every fail(2, ...) in ipvsadm.c),
 *    also "can't talk to IPVS" (fail(2, "Can't initialize ipvs")), here: lvsd not reachable;
 *  - OPERATION 255: the operation itself failed (ipvsadm returns -1 from main), and popt
 *    level errors (unknown option, missing argument), which also return -1.
 */
export const EXIT = {
  OK: 0,
  LIST: 1,
  USAGE: 2,
  OPERATION: 255,
} as const;
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** Error codes produced by lvsadm itself (parsing, transport). */
export const CLIENT_CODES = {
  /** Unknown option, missing option argument, stray word (popt-level). */
  EBADOPT: EXIT.OPERATION,
  /** A recognised option with an unacceptable value or combination (ipvsadm fail(2)). */
  EUSAGE: EXIT.USAGE,
  /** Recognised ipvsadm feature that lvsd does not implement yet. */
  EUNSUPPORTED: EXIT.USAGE,
  /** A line of -R input is invalid; message is "line N: ...". */
  ERESTORE: EXIT.USAGE,
  /** lvsd is not listening on the control socket. */
  ENOTRUNNING: EXIT.USAGE,
  /** Another daemon already answers on the control socket (server side). */
  EADDRINUSE: EXIT.USAGE,
  /** No answer within the client timeout. */
  ETIMEDOUT: EXIT.OPERATION,
  /** Malformed request or response on the control socket. */
  EPROTO: EXIT.OPERATION,
  /** Request line longer than the server accepts. */
  ETOOLONG: EXIT.OPERATION,
  /** Anything the daemon threw without a code. */
  EINTERNAL: EXIT.OPERATION,
} as const;

// The daemon's error codes and texts live with the director that raises them (ipvs/errors.ts).
export { DAEMON_ERRORS, type DaemonErrorCode };

export class LvsadmError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode?: number) {
    super(message);
    this.name = 'LvsadmError';
    this.code = code;
    this.exitCode = exitCode ?? exitFor(code);
  }
}

/** Exit status for a code: client codes by table, daemon-reported errors as failed operations. */
export function exitFor(code: string): number {
  const known = (CLIENT_CODES as Record<string, number>)[code];
  return known ?? EXIT.OPERATION;
}

/** A daemon-side error carrying ipvsadm's message for `code`. */
export function daemonError(code: DaemonErrorCode, detail?: string): LvsadmError {
  const text = DAEMON_ERRORS[code];
  return new LvsadmError(code, detail ? `${text}: ${detail}` : text, EXIT.OPERATION);
}

/** Shorthand for parser errors that ipvsadm reports with fail(2, ...). */
export function usageError(message: string): LvsadmError {
  return new LvsadmError('EUSAGE', message);
}
