/** `--metrics-listen [ADDR:]PORT`: an IPv4 address (default all, 0.0.0.0) and a TCP port. */
import { isIPv4 } from 'node:net';

export interface ListenAddr { host: string; port: number }

/** Parses the option's value; throws Error with a one-line message when it is not one. */
export function parseListen(v: string): ListenAddr {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`--metrics-listen must be [ADDR:]PORT with PORT 1..65535, got '${v}'`);
  const host = m[1] ?? '0.0.0.0';
  if (!isIPv4(host)) throw new Error(`--metrics-listen: '${host}' is not an IPv4 address`);
  return { host, port };
}
