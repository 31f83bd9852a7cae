/**
 * Safety checker for Jepsen-style histories of the lock service (test tooling and tests).
 *
 * checkRegister: the fenced register's log must be linearizable as a counter protected by
 * the lock. For each key, in the register's own order:
 *   - every accepted write stores (previous accepted value) + 1; a lost update shows up as
 *     a repeated or stale value ("lost-update"), a skipped one as a gap;
 *   - the tokens of accepted writes strictly increase ("token-order").
 * checkGrants: the tokens the lock service handed out, as clients observed them:
 *   - no token is granted twice for one lock ("duplicate-token");
 *   - real-time order: a grant that completed before another was requested has the smaller
 *     token ("token-realtime"). This holds across restarts and takeovers by design.
 * Both are sound: any reported violation is a real one, whatever the timing.
 */

export interface RegisterEvent {
  /** Position in the register's log (total order of the register). */
  seq: number;
  client: string;
  op: 'read' | 'write';
  key: string;
  /** Fencing token, decimal string (u64). */
  token: string;
  /** Value read, or value written. */
  value: number;
  accepted: boolean;
}

export interface GrantEvent {
  client: string;
  lock: string;
  token: string;
  /** Monotonic timestamps (same clock for all clients on the host), any unit. */
  invokeTime: number;
  okTime: number;
}

export type ViolationKind = 'lost-update' | 'token-order' | 'duplicate-token' | 'token-realtime';

export interface Violation {
  kind: ViolationKind;
  detail: string;
}

export interface RegisterReport {
  violations: Violation[];
  acceptedWrites: number;
  rejectedWrites: number;
  reads: number;
  /** Final value per key. */
  finals: Record<string, number>;
}

export function checkRegister(events: readonly RegisterEvent[], initial = 0): RegisterReport {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  const value = new Map<string, number>();
  const lastToken = new Map<string, bigint>();
  const violations: Violation[] = [];
  let acceptedWrites = 0, rejectedWrites = 0, reads = 0;
  for (const e of sorted) {
    if (e.op === 'read') {
      reads++;
      continue;
    }
    if (!e.accepted) {
      rejectedWrites++;
      continue;
    }
    acceptedWrites++;
    const prev = value.get(e.key) ?? initial;
    if (e.value !== prev + 1) {
      violations.push({
        kind: 'lost-update',
        detail: `key ${e.key} seq ${e.seq}: ${e.client} wrote ${e.value} after ${prev} (token ${e.token})`,
      });
    }
    value.set(e.key, e.value);
    const tok = BigInt(e.token);
    const lt = lastToken.get(e.key);
    if (lt !== undefined && tok <= lt) {
      violations.push({ kind: 'token-order', detail: `key ${e.key} seq ${e.seq}: token ${tok} after ${lt}` });
    }
    if (lt === undefined || tok > lt) lastToken.set(e.key, tok);
  }
  return { violations, acceptedWrites, rejectedWrites, reads, finals: Object.fromEntries(value) };
}

export function checkGrants(grants: readonly GrantEvent[]): Violation[] {
  const violations: Violation[] = [];
  const byLock = new Map<string, GrantEvent[]>();
  for (const g of grants) {
    let l = byLock.get(g.lock);
    if (!l) byLock.set(g.lock, (l = []));
    l.push(g);
  }
  for (const [lock, gs] of byLock) {
    const seen = new Map<string, GrantEvent>();
    for (const g of gs) {
      const other = seen.get(g.token);
      if (other) {
        violations.push({ kind: 'duplicate-token', detail: `lock ${lock}: token ${g.token} to ${other.client} and ${g.client}` });
      } else seen.set(g.token, g);
    }
    // Sweep: for each grant in invoke order, the largest token among grants completed before it.
    const byOk = [...gs].sort((a, b) => a.okTime - b.okTime);
    const byInvoke = [...gs].sort((a, b) => a.invokeTime - b.invokeTime);
    let i = 0;
    let maxDone: GrantEvent | null = null;
    for (const g of byInvoke) {
      while (i < byOk.length && byOk[i].okTime < g.invokeTime) {
        if (!maxDone || BigInt(byOk[i].token) > BigInt(maxDone.token)) maxDone = byOk[i];
        i++;
      }
      if (maxDone && BigInt(maxDone.token) >= BigInt(g.token) && maxDone !== g) {
        violations.push({
          kind: 'token-realtime',
          detail: `lock ${lock}: ${g.client} got ${g.token} after ${maxDone.client}'s ${maxDone.token} had completed`,
        });
      }
    }
  }
  return violations;
}
