/**
 * Control-plane errors with stable codes (callers switch on `code`, never on text).
 * Codes and texts are those lvsadm knows (DAEMON_ERRORS, after libipvs's ipvs_strerror);
 * EINVAL carries a specific message.
 */
/**
 * Errors the daemon reports for service-table operations, with ipvsadm's texts (libipvs.c
 * ipvs_strerror: the message depends on the errno and the operation; these codes name the
 * resulting message directly). The daemon throws `daemonError(code)`; lvsadm prints the message.
 */
export const DAEMON_ERRORS = {
  /** -A of an existing service (EEXIST). */
  ESVCEXISTS: 'Service already exists',
  /** -A/-E with an unknown scheduler (ENOENT). */
  ENOSCHED: 'Scheduler not found',
  /** -E/-D/-Z/-L of a missing service (ESRCH). */
  ENOSVC: 'No such service',
  /** -a/-e/-d on a missing service (ESRCH for dest operations). */
  ESVCUNDEF: 'Service not defined',
  /** -a of an existing destination (EEXIST). */
  EDESTEXISTS: 'Destination already exists',
  /** -e/-d of a missing destination (ENOENT). */
  ENODEST: 'No such destination',
  /** EINVAL, anything the kernel would reject as invalid. */
  EINVAL: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  /** EPERM */
  EPERM: 'Permission denied (you must be root)',
} as const;
export type DaemonErrorCode = keyof typeof DAEMON_ERRORS;

export class IpvsError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'IpvsError';
  }
}

function coded(code: DaemonErrorCode): IpvsError {
  return new IpvsError(code, DAEMON_ERRORS[code]);
}

export const E = {
  serviceExists: () => coded('ESVCEXISTS'),
  noService: () => coded('ENOSVC'),
  serviceUndefined: () => coded('ESVCUNDEF'),
  destExists: () => coded('EDESTEXISTS'),
  noDest: () => coded('ENODEST'),
  badScheduler: (name: string) => new IpvsError('ENOSCHED', `${DAEMON_ERRORS.ENOSCHED}: ${name}`),
  invalid: (what: string) => new IpvsError('EINVAL', what),
};
