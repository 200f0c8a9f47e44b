// Exact byte encodings (shortest forms, as rmp-serde writes them) and round trips for msgpack.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MsgpackError, decode, encode } from '../msgpack.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

const VECTORS = [
  [0, '00'],
  [1, '01'],
  [127, '7f'],
  [128, 'cc80'],
  [255, 'ccff'],
  [256, 'cd0100'],
  [65535, 'cdffff'],
  [65536, 'ce00010000'],
  [4294967295, 'ceffffffff'],
  [4294967296, 'cf0000000100000000'],
  [-1, 'ff'],
  [-32, 'e0'],
  [-33, 'd0df'],
  [-128, 'd080'],
  [-129, 'd1ff7f'],
  [-32768, 'd18000'],
  [-32769, 'd2ffff7fff'],
  [-2147483648, 'd280000000'],
  [-2147483649, 'd3ffffffff7fffffff'],
  [null, 'c0'],
  [false, 'c2'],
  [true, 'c3'],
  [0.5, 'cb3fe0000000000000'],
  ['', 'a0'],
  ['ab', 'a26162'],
  ['é', 'a2c3a9'],
  ['a'.repeat(31), 'bf' + '61'.repeat(31)],
  ['a'.repeat(32), 'd920' + '61'.repeat(32)],
  ['a'.repeat(255), 'd9ff' + '61'.repeat(255)],
  ['a'.repeat(256), 'da0100' + '61'.repeat(256)],
  [[], '90'],
  [[1, 2], '920102'],
  [new Array(15).fill(0), '9f' + '00'.repeat(15)],
  [new Array(16).fill(0), 'dc0010' + '00'.repeat(16)],
];

test('encodes the shortest form of each value', () => {
  for (const [value, expected] of VECTORS) {
    assert.equal(hex(encode(value)), expected, `encoding ${JSON.stringify(value)}`);
  }
});

test('decodes what it encodes', () => {
  for (const [value, h] of VECTORS) {
    assert.deepEqual(decode(bytes(h)), value, `decoding ${h}`);
  }
});

test('encodes the client messages of the PROTOCOL.md session example', () => {
  assert.equal(hex(encode([1, 1, 'ana'])), '930101a3616e61');
  assert.equal(hex(encode([2, 1, 127, 0, 0, 0, 1235])), '970201' + '7f000000' + 'cd04d3');
  assert.equal(hex(encode([2, 2, -127, -1, 65535, 1, 0])), '970202' + 'd081' + 'ff' + 'cdffff' + '01' + '00');
  assert.equal(hex(encode([4, 99])), '920463');
  assert.equal(hex(encode([3, 70000])), '9203ce00011170');
});

test('decodes every integer width, including ones the encoder would not pick', () => {
  assert.equal(decode(bytes('cc05')), 5);
  assert.equal(decode(bytes('cd0005')), 5);
  assert.equal(decode(bytes('ce00000005')), 5);
  assert.equal(decode(bytes('cf0000000000000005')), 5);
  assert.equal(decode(bytes('cf001fffffffffffff')), Number.MAX_SAFE_INTEGER);
  assert.equal(decode(bytes('cfffffffffffffffff')), 2 ** 64); // rounded, as documented
  assert.equal(decode(bytes('d005')), 5);
  assert.equal(decode(bytes('d0ff')), -1);
  assert.equal(decode(bytes('d1fffe')), -2);
  assert.equal(decode(bytes('d2fffffffd')), -3);
  assert.equal(decode(bytes('d3fffffffffffffffc')), -4);
  assert.equal(decode(bytes('d3ffe0000000000001')), -Number.MAX_SAFE_INTEGER);
  assert.equal(decode(bytes('d38000000000000000')), -(2 ** 63));
});

test('decodes floats, strings, bin and maps in every width', () => {
  assert.equal(decode(bytes('ca41800000')), 16);
  assert.equal(decode(bytes('ca3e800000')), 0.25);
  assert.equal(decode(bytes('cb4030000000000000')), 16);
  assert.equal(decode(bytes('d9026162')), 'ab');
  assert.equal(decode(bytes('da00026162')), 'ab');
  assert.equal(decode(bytes('db000000026162')), 'ab');
  assert.deepEqual(decode(bytes('c4020102')), new Uint8Array([1, 2]));
  assert.deepEqual(decode(bytes('c500020102')), new Uint8Array([1, 2]));
  assert.deepEqual(decode(bytes('c6000000020102')), new Uint8Array([1, 2]));
  assert.deepEqual(decode(bytes('dc00020102')), [1, 2]);
  assert.deepEqual(decode(bytes('dd000000020102')), [1, 2]);
  assert.deepEqual(
    decode(bytes('82a16101a162c0')),
    new Map([
      ['a', 1],
      ['b', null],
    ]),
  );
  assert.deepEqual(decode(bytes('de00010102')), new Map([[1, 2]]));
  assert.deepEqual(decode(bytes('df000000010102')), new Map([[1, 2]]));
});

test('round trips nested values', () => {
  const values = [
    [2, 1237, 1235, 1, [], [[7, 5, 19213, 427]], [], []],
    [1, 1, 7, 30, 1234, ['arena', 2400, 1600, [[0, 0, 10, 10]], [[5, 5]]], [16.5, -3.25, 1e300]],
    ['日本語', 'a😀b', -70000, 70000, 2 ** 40, -(2 ** 40)],
    new Map([['k', [1, 'v']]]),
    new Uint8Array([0, 255, 7]),
  ];
  for (const v of values) assert.deepEqual(decode(encode(v)), v);
  assert.deepEqual(decode(encode({ a: 1 })), new Map([['a', 1]]));
});

test('decodes from an ArrayBuffer and from an offset view', () => {
  const buf = bytes('ff920102ff');
  assert.deepEqual(decode(buf.subarray(1, 4)), [1, 2]);
  assert.deepEqual(decode(bytes('920102').buffer), [1, 2]);
});

test('rejects malformed input', () => {
  for (const h of ['', 'cc', 'cd01', '92', '9201', 'a3616e', 'c1', 'd401', 'c7010101', '0000', 'a2c328', 'dc0100']) {
    assert.throws(() => decode(bytes(h)), MsgpackError, `input ${h}`);
  }
});

test('each encode returns its own bytes', () => {
  const a = encode([1, 2]);
  const b = encode([3, 4]);
  assert.equal(hex(a), '920102');
  assert.equal(hex(b), '920304');
  assert.equal(hex(encode('x'.repeat(300))).length, (3 + 300) * 2);
});
