/**
 * netns/tests/scaleout.sh end to end: a router with BIRD 2 (BGP, BFD, a resilient nexthop group
 * from netns/router/resilient-nh.py), 3-4 lvsd directors with BIRD and sync, 4 DR/TUN real
 * servers, 64 byte-verified streams and a new-connection loop over kill -9, restart, join,
 * the controller stopping (BIRD's plain route takes over), SIGTERM and a front link going down
 * (BFD). The rolling restart runs in scaleout-loss.test.ts
 * (under sync loss), the full form of both in netns/bench-scaleout.sh. Needs root and
 * /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('scale-out: ECMP over BGP to many directors, 0 streams broken on kill, restart, join, controller restart, SIGTERM, link down',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/scaleout.sh', 240_000, [], { SO_EVENTS: 'kill restart join helper term isolate' });
  });
