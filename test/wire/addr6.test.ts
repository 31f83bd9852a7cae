import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addr6Compare, addr6Copy, addr6Equal, addr6EqualsBytes, addr6Fold, addr6FoldBytes, addr6IsLinkLocalBytes,
  addr6IsMulticastBytes, addr6IsUnspecifiedBytes, addr6Load, addr6Mask, addr6Store, addr6Table, formatIpv6,
  formatIpv6Bytes, formatIpv6Endpoint, ipv6FromString, parseIpv6, parseIpv6Endpoint,
} from '../../src/wire/addr6';
import { a6 } from '../fixtures/ipv6/builder6';
import { needScapy, runPy } from '../fixtures/ipv6/python';
import { prng } from '../support/prng';

function hex(a: Uint32Array, o = 0): string {
  return Array.from(a.subarray(o, o + 4), (w) => w.toString(16).padStart(8, '0')).join('');
}

function fromHex(h: string): Uint32Array {
  const a = new Uint32Array(4);
  for (let k = 0; k < 4; k++) a[k] = parseInt(h.slice(8 * k, 8 * k + 8), 16);
  return a;
}

test('parse: full, compressed, upper case and embedded IPv4 forms', () => {
  const cases: [string, string][] = [
    ['2001:2::1', '20010002000000000000000000000001'],
    ['2001:0002:0000:0000:0000:0000:0000:0001', '20010002000000000000000000000001'],
    ['2001:2:0:100::1', '20010002000001000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['FE80::A:b:C', 'fe800000000000000000000a000b000c'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['::ffff:198.18.0.1', '00000000000000000000ffffc6120001'],
    ['::198.18.0.1', '000000000000000000000000c6120001'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['64:ff9b::0.0.0.0', '0064ff9b000000000000000000000000'],
  ];
  for (const [s, h] of cases) {
    const out = new Uint32Array(8).fill(0xdeadbeef);
    assert.equal(parseIpv6(s, out, 4), true, s);
    assert.equal(hex(out, 4), h, s);
    assert.equal(out[0], 0xdeadbeef, 'writes only its slot');
  }
});

test('parse: every malformed form is refused and leaves the slot unchanged', () => {
  const bad = [
    '', ':', ':::', '1', '1:2', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '::1::', '1:::2', ':1::2', '1::2:',
    '12345::', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', 'g::1', '::1 ', ' ::1', '[::1]', '::1%eth0', '::1/64',
    '1.2.3.4', '::1.2.3', '::1.2.3.4.5', '::256.1.1.1', '::01.2.3.4', '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4',
    '::1..2.3', '::1.2.3.', '::.1.2.3', '::ffff:1.2.3.4x', '-1::', '0x1::', '::1\n', '１::', 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555',
  ];
  for (const s of bad) {
    const out = Uint32Array.of(1, 2, 3, 4);
    assert.equal(parseIpv6(s, out, 0), false, JSON.stringify(s));
    assert.deepEqual(Array.from(out), [1, 2, 3, 4], JSON.stringify(s));
  }
  assert.equal(ipv6FromString('1::2::3'), null);
});

test('format: RFC 5952 §4 rules and the glibc embedded-IPv4 forms', () => {
  const cases: [string, string][] = [
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // the first of two equal runs
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // one zero group stays "0"
    ['20010db8000000000001000000000000', '2001:db8:0:0:1::'], // the longer run wins
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00010000000000000000000000000000', '1::'],
    ['000100020003000400050006000700ff', '1:2:3:4:5:6:7:ff'],
    ['00000000000000000000ffffc6120001', '::ffff:198.18.0.1'],
    ['000000000000000000000000c6120001', '::198.18.0.1'],
    ['00000000000000000000000000010001', '::0.1.0.1'], // words 0..5 zero, word 6 not: glibc's dotted form
    ['00000000000000000000000000000101', '::101'], // word 6 zero too: a run of 7, hex
    ['0000000000000000000000010a000001', '::1:a00:1'],
    ['fe80000000000000020000fffe000001', 'fe80::200:ff:fe00:1'],
    ['ABCD0000000000000000000000000000'.toLowerCase(), 'abcd::'],
  ];
  for (const [h, s] of cases) {
    assert.equal(formatIpv6(fromHex(h), 0), s, h);
    const b = Buffer.from(h, 'hex');
    assert.equal(formatIpv6Bytes(b, 0), s);
  }
});

test('load/store/equal/compare/fold/mask over packet bytes and slots', () => {
  const buf = Buffer.alloc(40, 0xa5);
  a6('2001:2:0:100::1').copy(buf, 7);
  const t = addr6Table(3);
  addr6Load(buf, 7, t, 4);
  assert.equal(formatIpv6(t, 4), '2001:2:0:100::1');
  assert.equal(addr6EqualsBytes(buf, 7, t, 4), true);
  assert.equal(addr6EqualsBytes(buf, 8, t, 4), false);
  const out = Buffer.alloc(20, 0xa5);
  addr6Store(t, 4, out, 2);
  assert.deepEqual(out.subarray(2, 18), a6('2001:2:0:100::1'));
  assert.equal(out[1], 0xa5);
  assert.equal(out[18], 0xa5);
  addr6Copy(t, 4, t, 8);
  assert.equal(addr6Equal(t, 4, t, 8), true);
  assert.equal(addr6Compare(t, 4, t, 8), 0);
  assert.equal(addr6Compare(t, 0, t, 4), -1);
  assert.equal(addr6Compare(t, 4, t, 0), 1);
  assert.equal(addr6Fold(t, 4), addr6FoldBytes(buf, 7));
  assert.equal(addr6Fold(t, 4), (0x20010002 ^ 0x00000100 ^ 0 ^ 1) | 0);
  const m = ipv6FromString('2001:2:0:100:ffff:ffff:ffff:ffff') as Uint32Array;
  addr6Mask(m, 0, 64);
  assert.equal(formatIpv6(m, 0), '2001:2:0:100::');
  const m2 = ipv6FromString('2001:2:ffff::1') as Uint32Array;
  addr6Mask(m2, 0, 36);
  assert.equal(formatIpv6(m2, 0), '2001:2:f000::');
  addr6Mask(m2, 0, 0);
  assert.equal(formatIpv6(m2, 0), '::');
  const m3 = ipv6FromString('2001:2::1') as Uint32Array;
  addr6Mask(m3, 0, 128);
  assert.equal(formatIpv6(m3, 0), '2001:2::1');
  assert.equal(addr6IsMulticastBytes(a6('ff02::1'), 0), true);
  assert.equal(addr6IsMulticastBytes(a6('2001:2::1'), 0), false);
  assert.equal(addr6IsUnspecifiedBytes(a6('::'), 0), true);
  assert.equal(addr6IsUnspecifiedBytes(a6('::1'), 0), false);
  assert.equal(addr6IsLinkLocalBytes(a6('fe80::1'), 0), true);
  assert.equal(addr6IsLinkLocalBytes(a6('fec0::1'), 0), false);
});

test('endpoints: ipvsadm "[addr]:port" syntax', () => {
  const e = parseIpv6Endpoint('[2001:2::1]:80');
  assert.ok(e);
  assert.equal(formatIpv6(e.addr, 0), '2001:2::1');
  assert.equal(e.port, 80);
  assert.equal(parseIpv6Endpoint('[2001:2::1]')?.port, -1);
  assert.equal(parseIpv6Endpoint('2001:2::1')?.port, -1);
  assert.equal(parseIpv6Endpoint('[::]:0')?.port, 0);
  assert.equal(parseIpv6Endpoint('[::1]:65535')?.port, 65535);
  assert.equal(parseIpv6Endpoint('[::1]:080')?.port, 80);
  for (const s of ['[2001:2::1]:', '[2001:2::1]:65536', '[2001:2::1]:-1', '[2001:2::1]:+80', '[2001:2::1]: 80',
    '[2001:2::1]:80 ', '[2001:2::1', '2001:2::1]:80', '[2001:2::1]80', '[[2001:2::1]]:80', '[2001:2::1]:http',
    '[1.2.3.4]:80', '[]:80', '[2001:2::1]:123456', '[2001:2::1]:8a']) {
    assert.equal(parseIpv6Endpoint(s), null, s);
  }
  assert.equal(formatIpv6Endpoint(e.addr, 0, 80), '[2001:2::1]:80');
});

/** Addresses biased towards zero runs, where formatting has choices to make. */
function randomAddr(r: () => number): Uint32Array {
  const a = new Uint32Array(4);
  for (let g = 0; g < 8; g++) {
    const x = r();
    const v = x < 0.5 ? 0 : x < 0.6 ? 0xffff : x < 0.7 ? 1 : (r() * 0x10000) | 0;
    a[g >> 1] |= g & 1 ? v : v << 16;
  }
  if (r() < 0.1) {
    a[0] = 0;
    a[1] = 0;
    a[2] = r() < 0.5 ? 0xffff : 0;
  }
  return a;
}

test('property: format matches glibc inet_ntop and parse inverts it (1500 seeded addresses)', { skip: needScapy() }, () => {
  const r = prng(6);
  const addrs = Array.from({ length: 1500 }, () => randomAddr(r));
  const ref = runPy('inet.py', { ntop: addrs.map((a) => hex(a)) }) as { ntop: string[] };
  addrs.forEach((a, i) => {
    assert.equal(formatIpv6(a, 0), ref.ntop[i], hex(a));
    const back = new Uint32Array(4);
    assert.equal(parseIpv6(ref.ntop[i], back, 0), true);
    assert.equal(hex(back), hex(a));
  });
});

test('property: parse accepts exactly what glibc inet_pton accepts (mutated texts)', { skip: needScapy() }, () => {
  const r = prng(66);
  const alphabet = '0123456789abcdefABCDEF:.:::g% []';
  const texts: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let s = formatIpv6(randomAddr(r), 0);
    if (r() < 0.3) s = s.replace(/(^|:)([0-9a-f]{1,3})(?=:|$)/, (m, p: string, g: string) => p + g.padStart(4, '0'));
    const edits = (r() * 3) | 0;
    for (let e = 0; e < edits; e++) {
      const at = (r() * (s.length + 1)) | 0;
      const op = r();
      const ch = alphabet[(r() * alphabet.length) | 0];
      if (op < 0.4) s = s.slice(0, at) + ch + s.slice(at);
      else if (op < 0.8) s = s.slice(0, at) + s.slice(at + 1);
      else s = s.slice(0, at) + ch + s.slice(at + 1);
    }
    texts.push(s);
  }
  const ref = runPy('inet.py', { pton: texts }) as { pton: (string | null)[] };
  let accepted = 0;
  texts.forEach((s, i) => {
    const out = new Uint32Array(4);
    const ok = parseIpv6(s, out, 0);
    assert.equal(ok, ref.pton[i] !== null, JSON.stringify(s));
    if (ok) {
      accepted++;
      assert.equal(hex(out), ref.pton[i], s);
    }
  });
  // Both outcomes are exercised.
  assert.ok(accepted > 300 && accepted < 2700, `${accepted} accepted`);
});
