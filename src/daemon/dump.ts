/**
 * The SIGUSR1 state dump (keepalived's /tmp/keepalived.data for lvsd): the service table as
 * `lvsadm -L -n` prints it, the connection count and the status counters. Built from the
 * streamed service rows, so a large table is read a chunk at a time.
 */
import type { ServiceInfo } from '../ipvs/command';
import { formatServices, formatStatus } from '../control/format';
import type { Director } from '../ipvs/director';

export async function stateDump(director: Director): Promise<string> {
  const services: ServiceInfo[] = [];
  for await (const rows of director.serviceRows()) {
    for (const s of rows) {
      const last = services[services.length - 1];
      if (last && last.proto === s.proto && last.addr === s.addr && last.port === s.port && last.fwmark === s.fwmark) {
        last.dests.push(...s.dests);
      } else services.push(s);
    }
  }
  const status = director.handle([{ op: 'status' }]);
  let out = `lvsd state dump, pid ${process.pid}, ${new Date().toISOString()}\n\n`;
  out += formatServices({ tableSize: director.conns.bucketCount, services }, { numeric: true });
  if (status.kind === 'status') out += `\n${formatStatus(status.status)}`;
  return out;
}
