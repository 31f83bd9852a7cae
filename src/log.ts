/** JSON-lines logging (pino) shared by the daemons. */
import pino from 'pino';

export type Log = pino.Logger;

export function createLog(name: string, level = process.env.LVSD_LOG_LEVEL ?? 'info'): Log {
  return pino({ name, level, base: { pid: process.pid } });
}
