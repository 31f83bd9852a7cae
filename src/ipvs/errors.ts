/**
 * Control-plane errors with stable codes (callers switch on `code`, never on text).
 * Codes and texts are those lvsadm knows (src/control/errors.ts DAEMON_ERRORS, after
 * libipvs's ipvs_strerror); EINVAL carries a specific message.
 */
import { DAEMON_ERRORS, type DaemonErrorCode } from '../control/errors';

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
