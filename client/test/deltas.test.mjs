// Delta vectors (client/test/deltas.json, written by `cargo test --test golden` with the server's own encoder): a full
// snapshot (the baseline), a version 6 delta against it and the state the delta must give, applied here through the
// real parser and snapshot store. Hand-made corners and a real world of steering players at 30 and 60 Hz, 1, 2 and
// 7 ticks apart. Each delta's stream cut short by a byte, or lengthened by one, must be refused as corrupt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode, encode } from '../msgpack.js';
import { parseServerMessage } from '../protocol.js';
import { APPLIED, DESYNC, SnapshotStore } from '../state.js';

const DELTAS = fileURLToPath(new URL('./deltas.json', import.meta.url));

const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));

/** A state's entities in deltas.json's form, in the state's own (id) order. */
const entitiesOf = (state) =>
  [...state.entities.values()].map((e) => ({ fields: e.fields, id: e.id, kind: e.kind, name: e.name }));

/** The store after the vector's full snapshot. */
function baselineStore(v) {
  const store = new SnapshotStore(v.tick_rate);
  assert.equal(store.apply(parseServerMessage(bytes(v.full_hex))).status, APPLIED, `${v.name}: the baseline applies`);
  return store;
}

/** The vector's delta with its `changed` replaced by `changed` (bytes), parsed again from its re-encoded wire. */
function withChanged(v, changed) {
  const wire = decode(bytes(v.delta_hex));
  wire[5] = changed;
  return parseServerMessage(encode(wire));
}

if (!existsSync(DELTAS)) {
  test('delta vectors', () => {
    assert.fail('client/test/deltas.json missing: run cargo test --test golden');
  });
} else {
  const vectors = JSON.parse(readFileSync(DELTAS, 'utf8'));

  test('deltas.json holds the corners and the real worlds, at two tick rates', () => {
    assert.ok(Array.isArray(vectors) && vectors.length >= 4, 'a non-empty array');
    const names = vectors.map((v) => v.name);
    assert.equal(new Set(names).size, names.length, 'names are unique');
    for (const v of vectors) {
      assert.ok(Number.isInteger(v.tick_rate) && v.tick_rate > 0, `${v.name}: tick_rate`);
      assert.match(v.full_hex, /^([0-9a-f]{2})+$/, `${v.name}: full_hex`);
      assert.match(v.delta_hex, /^([0-9a-f]{2})+$/, `${v.name}: delta_hex`);
      assert.ok(Array.isArray(v.expected), `${v.name}: expected`);
    }
    assert.ok(new Set(vectors.map((v) => v.tick_rate)).size >= 2, 'two tick rates or more');
    const deltas = vectors.map((v) => parseServerMessage(bytes(v.delta_hex)));
    assert.ok(deltas.every((d) => d.baseline !== 0), 'every delta names its baseline');
    assert.ok(deltas.some((d) => d.changed.length === 0), 'a delta of prediction alone');
    assert.ok(deltas.some((d) => d.changed.length > 0), 'a delta with residuals');
  });

  for (const v of vectors) {
    test(`deltas.json ${v.name}: the delta gives the expected state`, () => {
      const store = baselineStore(v);
      const delta = parseServerMessage(bytes(v.delta_hex));
      const r = store.apply(delta);
      assert.equal(r.status, APPLIED, `${v.name}: ${store.desyncReason}`);
      assert.deepEqual(entitiesOf(store.current), v.expected);
      assert.equal(store.ackTick, delta.tick);
      if (delta.changed.length === 0) return;
      // A byte short, or a byte over: corrupt, nothing stored.
      for (const [what, changed] of [
        ['a byte short', delta.changed.subarray(0, delta.changed.length - 1)],
        ['a byte over', Uint8Array.from([...delta.changed, 0])],
      ]) {
        const again = baselineStore(v);
        assert.equal(again.apply(withChanged(v, changed)).status, DESYNC, `${v.name}: ${what}`);
        assert.equal(again.corrupt, 1, `${v.name}: ${what} is a corrupt stream`);
        assert.equal(again.newestTick, delta.baseline, `${v.name}: ${what} stores nothing`);
        assert.equal(again.ackTick, 0, `${v.name}: ${what} acknowledges nothing`);
      }
    });
  }
}
