/**
 * The Prometheus registry of lvs-dlm (lvs-dlm --metrics-listen): the lock manager runs in its
 * own process, usually on another host than lvsd, so it serves its own /metrics (no page).
 * Read at scrape time from DlmServer's fields; O(1) per scrape.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { DlmServer } from '../dlm/server';

export function createDlmRegistry(s: DlmServer): Registry {
  const reg = new Registry();
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [reg], collect(this: Gauge) { this.set(read()); } });
  };
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({ name, help, registers: [reg], collect(this: Counter) { this.reset(); this.inc(read()); } });
  };
  gauge('lvsd_dlm_locks_held', 'Lock names with at least one holder.', () => s.lockCount);
  gauge('lvsd_dlm_waiters', 'Lock requests queued behind a holder.', () => s.waiterCount);
  gauge('lvsd_dlm_sessions', 'Open client sessions.', () => s.sessionCount);
  gauge('lvsd_dlm_connections', 'Open client connections.', () => s.connectionCount);
  gauge('lvsd_dlm_primary', '1 on the primary, 0 on a standby.', () => (s.role === 'primary' ? 1 : 0));
  gauge('lvsd_dlm_granting', '1 while locks are granted, 0 during a grace period or on a standby.', () => (s.granting ? 1 : 0));
  gauge('lvsd_dlm_epoch', 'Epoch of the fencing tokens (grows at each takeover).', () => s.epoch);
  counter('lvsd_dlm_grants_total', 'Locks granted (fencing tokens issued).', () => s.counters.grants);
  counter('lvsd_dlm_expired_sessions_total', 'Sessions whose lease expired.', () => s.counters.expiredSessions);
  counter('lvsd_dlm_bad_frames_total', 'Malformed frames received.', () => s.counters.badFrames);
  counter('lvsd_dlm_auth_failures_total', 'Connections that failed authentication.', () => s.counters.authFailures);
  counter('lvsd_dlm_refused_connections_total', 'Connections refused over --max-connections.', () => s.counters.refusedConnections);
  return reg;
}
