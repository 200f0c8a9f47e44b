// msgpack.js: a small MessagePack encoder and decoder (https://github.com/msgpack/msgpack/blob/master/spec.md).
//
// The encoder writes integers in their shortest form, the way rmp-serde does: non-negative values as positive fixint,
// uint8/16/32/64 and negative values as negative fixint, int8/16/32/64. Strings use fixstr/str8/str16/str32, arrays
// fixarray/array16/array32. Non-integer numbers become float64; a Float32 (float32(v)) becomes a float32, as rmp-serde
// writes an f32 whatever its value. The decoder reads every family except ext and returns 64-bit integers as
// (possibly rounded) Numbers, maps as Map, bin as Uint8Array, and float32 as Numbers (or, with `{float32: true}`, as
// Float32 so that re-encoding gives the same bytes).

/** Thrown for malformed input (truncated, trailing bytes, reserved or unsupported markers). */
export class MsgpackError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MsgpackError';
  }
}

/** A number to encode as a MessagePack float32 (an f32 on the Rust side); see float32(). */
export class Float32 {
  constructor(value) {
    this.value = Math.fround(value);
    Object.freeze(this);
  }
}

/** Marks `value` to be encoded as a float32 (rounded to the nearest f32). */
export function float32(value) {
  return new Float32(value);
}

const MAX_DEPTH = 64;
const TWO_32 = 4294967296;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** Growable byte buffer; one per encoder, reused across calls so sending a message allocates only its result. */
class Writer {
  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
    this.length = 0;
  }

  reserve(n) {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < need) capacity *= 2;
    const bytes = new Uint8Array(capacity);
    bytes.set(this.bytes.subarray(0, this.length));
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  u8(v) {
    this.reserve(1);
    this.bytes[this.length++] = v;
  }

  u16(v) {
    this.reserve(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
  }

  u32(v) {
    this.reserve(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
  }

  raw(src) {
    this.reserve(src.length);
    this.bytes.set(src, this.length);
    this.length += src.length;
  }
}

const writer = new Writer();

/**
 * Encodes `value` to a fresh Uint8Array.
 * Supported: null/undefined (nil), booleans, numbers, strings, arrays, Uint8Array (bin), Map and plain objects (map).
 */
export function encode(value) {
  writer.length = 0;
  write(writer, value, 0);
  return writer.bytes.slice(0, writer.length);
}

function write(w, value, depth) {
  if (depth > MAX_DEPTH) throw new MsgpackError('value nested too deeply');
  if (value === null || value === undefined) {
    w.u8(0xc0);
  } else if (value === false) {
    w.u8(0xc2);
  } else if (value === true) {
    w.u8(0xc3);
  } else if (typeof value === 'number') {
    writeNumber(w, value);
  } else if (typeof value === 'string') {
    writeString(w, value);
  } else if (Array.isArray(value)) {
    writeLength(w, value.length, 0x90, 0xdc, 0xdd);
    for (let i = 0; i < value.length; i++) write(w, value[i], depth + 1);
  } else if (value instanceof Float32) {
    w.u8(0xca);
    w.reserve(4);
    w.view.setFloat32(w.length, value.value);
    w.length += 4;
  } else if (value instanceof Uint8Array) {
    writeBin(w, value);
  } else if (value instanceof Map) {
    writeLength(w, value.size, 0x80, 0xde, 0xdf);
    for (const [k, v] of value) {
      write(w, k, depth + 1);
      write(w, v, depth + 1);
    }
  } else if (typeof value === 'object') {
    const keys = Object.keys(value);
    writeLength(w, keys.length, 0x80, 0xde, 0xdf);
    for (const k of keys) {
      writeString(w, k);
      write(w, value[k], depth + 1);
    }
  } else {
    throw new MsgpackError(`cannot encode a ${typeof value}`);
  }
}

function writeNumber(w, n) {
  if (!Number.isSafeInteger(n)) {
    w.u8(0xcb);
    w.reserve(8);
    w.view.setFloat64(w.length, n);
    w.length += 8;
    return;
  }
  if (n >= 0) {
    if (n < 0x80) {
      w.u8(n);
    } else if (n < 0x100) {
      w.u8(0xcc);
      w.u8(n);
    } else if (n < 0x10000) {
      w.u8(0xcd);
      w.u16(n);
    } else if (n < TWO_32) {
      w.u8(0xce);
      w.u32(n);
    } else {
      w.u8(0xcf);
      w.u32(Math.floor(n / TWO_32));
      w.u32(n >>> 0);
    }
  } else if (n >= -32) {
    w.u8(n & 0xff);
  } else if (n >= -0x80) {
    w.u8(0xd0);
    w.u8(n & 0xff);
  } else if (n >= -0x8000) {
    w.u8(0xd1);
    w.u16(n & 0xffff);
  } else if (n >= -0x80000000) {
    w.u8(0xd2);
    w.u32(n >>> 0);
  } else {
    w.u8(0xd3);
    w.reserve(8);
    w.view.setBigInt64(w.length, BigInt(n));
    w.length += 8;
  }
}

function writeString(w, s) {
  const bytes = utf8Encoder.encode(s);
  const n = bytes.length;
  if (n < 32) {
    w.u8(0xa0 | n);
  } else if (n < 0x100) {
    w.u8(0xd9);
    w.u8(n);
  } else if (n < 0x10000) {
    w.u8(0xda);
    w.u16(n);
  } else {
    w.u8(0xdb);
    w.u32(n);
  }
  w.raw(bytes);
}

function writeBin(w, bytes) {
  const n = bytes.length;
  if (n < 0x100) {
    w.u8(0xc4);
    w.u8(n);
  } else if (n < 0x10000) {
    w.u8(0xc5);
    w.u16(n);
  } else {
    w.u8(0xc6);
    w.u32(n);
  }
  w.raw(bytes);
}

/** Writes an array or map header: the fix form below 16 entries, then the 16-bit form, then the 32-bit form. */
function writeLength(w, n, fix, m16, m32) {
  if (n < 16) {
    w.u8(fix | n);
  } else if (n < 0x10000) {
    w.u8(m16);
    w.u16(n);
  } else {
    w.u8(m32);
    w.u32(n);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes exactly one MessagePack value filling all of `input` (ArrayBuffer, Uint8Array or other view). With
 * `options.float32` set, float32 values come back as Float32 (tests re-encode them byte for byte).
 */
export function decode(input, options) {
  const bytes =
    input instanceof Uint8Array
      ? input
      : ArrayBuffer.isView(input)
        ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input);
  const r = {
    bytes,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    pos: 0,
    float32: options !== undefined && options.float32 === true,
  };
  const value = read(r, 0);
  if (r.pos !== bytes.length) throw new MsgpackError(`${bytes.length - r.pos} trailing bytes`);
  return value;
}

function need(r, n) {
  if (r.pos + n > r.bytes.length) throw new MsgpackError('unexpected end of input');
}

function read(r, depth) {
  if (depth > MAX_DEPTH) throw new MsgpackError('value nested too deeply');
  need(r, 1);
  const m = r.bytes[r.pos++];
  if (m < 0x80) return m; // positive fixint
  if (m >= 0xe0) return m - 0x100; // negative fixint
  if (m < 0x90) return readMap(r, m & 0x0f, depth);
  if (m < 0xa0) return readArray(r, m & 0x0f, depth);
  if (m < 0xc0) return readString(r, m & 0x1f);
  const v = r.view;
  let p = r.pos;
  switch (m) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      need(r, 1);
      return readBin(r, r.bytes[r.pos++]);
    case 0xc5:
      need(r, 2);
      r.pos += 2;
      return readBin(r, v.getUint16(p));
    case 0xc6:
      need(r, 4);
      r.pos += 4;
      return readBin(r, v.getUint32(p));
    case 0xca:
      need(r, 4);
      r.pos += 4;
      return r.float32 ? new Float32(v.getFloat32(p)) : v.getFloat32(p);
    case 0xcb:
      need(r, 8);
      r.pos += 8;
      return v.getFloat64(p);
    case 0xcc:
      need(r, 1);
      return r.bytes[r.pos++];
    case 0xcd:
      need(r, 2);
      r.pos += 2;
      return v.getUint16(p);
    case 0xce:
      need(r, 4);
      r.pos += 4;
      return v.getUint32(p);
    case 0xcf:
      need(r, 8);
      r.pos += 8;
      return v.getUint32(p) * TWO_32 + v.getUint32(p + 4);
    case 0xd0:
      need(r, 1);
      r.pos += 1;
      return v.getInt8(p);
    case 0xd1:
      need(r, 2);
      r.pos += 2;
      return v.getInt16(p);
    case 0xd2:
      need(r, 4);
      r.pos += 4;
      return v.getInt32(p);
    case 0xd3:
      need(r, 8);
      r.pos += 8;
      return v.getInt32(p) * TWO_32 + v.getUint32(p + 4);
    case 0xd9:
      need(r, 1);
      return readString(r, r.bytes[r.pos++]);
    case 0xda:
      need(r, 2);
      r.pos += 2;
      return readString(r, v.getUint16(p));
    case 0xdb:
      need(r, 4);
      r.pos += 4;
      return readString(r, v.getUint32(p));
    case 0xdc:
      need(r, 2);
      r.pos += 2;
      return readArray(r, v.getUint16(p), depth);
    case 0xdd:
      need(r, 4);
      r.pos += 4;
      return readArray(r, v.getUint32(p), depth);
    case 0xde:
      need(r, 2);
      r.pos += 2;
      return readMap(r, v.getUint16(p), depth);
    case 0xdf:
      need(r, 4);
      r.pos += 4;
      return readMap(r, v.getUint32(p), depth);
    default:
      // 0xc1 is reserved; 0xc7..0xc9 and 0xd4..0xd8 are ext types, which nothing in this protocol uses.
      throw new MsgpackError(`unsupported marker 0x${m.toString(16)}`);
  }
}

function readString(r, n) {
  need(r, n);
  const start = r.pos;
  r.pos += n;
  try {
    return utf8Decoder.decode(r.bytes.subarray(start, start + n));
  } catch {
    throw new MsgpackError('invalid UTF-8 in string');
  }
}

function readBin(r, n) {
  need(r, n);
  const start = r.pos;
  r.pos += n;
  return r.bytes.slice(start, start + n);
}

function readArray(r, n, depth) {
  // Every element takes at least one byte: refuse lengths the input cannot hold before allocating.
  need(r, n);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read(r, depth + 1);
  return out;
}

function readMap(r, n, depth) {
  need(r, n * 2);
  const out = new Map();
  for (let i = 0; i < n; i++) {
    const k = read(r, depth + 1);
    out.set(k, read(r, depth + 1));
  }
  return out;
}
