import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGarp, sendGarp } from '../../src/ha/garp';
import { ipFromString } from '../../src/ipvs/types';

test('gratuitous ARP frame: broadcast request with sender = target = the address', () => {
  const f = buildGarp('02:00:5e:10:00:01', ipFromString('198.18.0.1'));
  assert.equal(f.toString('hex'),
    'ffffffffffff' + '02005e100001' + '0806' + '0001' + '0800' + '06' + '04' + '0001'
    + '02005e100001' + 'c6120001' + '000000000000' + 'c6120001');
});

test('sendGarp: every announcement through a socket opened and closed per call; 0 sent is reported', () => {
  const frames: Buffer[] = [];
  let opened = 0;
  let closed = 0;
  const sink = (accept: boolean) => (iface: string) => {
    assert.equal(iface, 'cli0');
    opened++;
    return {
      send(buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number {
        if (!accept) return 0;
        for (let k = 0; k < count; k++) frames.push(Buffer.from(buf.subarray(offs[k], offs[k] + lens[k])));
        return count;
      },
      close(): void { closed++; },
    };
  };
  const a = ipFromString('198.18.0.1'), b = ipFromString('198.19.0.1');
  assert.equal(sendGarp('cli0', '02:00:5e:10:00:01', [a, b], 5, sink(true)), 10);
  assert.equal(frames.length, 10);
  assert.deepEqual(frames[1], buildGarp('02:00:5e:10:00:01', b));
  assert.equal(sendGarp('cli0', '02:00:5e:10:00:01', [a], 5, sink(false)), 0, 'link down: nothing taken, no throw');
  assert.deepEqual([opened, closed], [2, 2], 'nothing stays open on the interface');
});
