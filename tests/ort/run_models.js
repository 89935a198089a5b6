#!/usr/bin/env node
// Run ONNX models through ONNX Runtime (CPU) with deterministic inputs and check that
// every output is finite.
//
//   (cd tests/ort && npm ci --ignore-scripts)
//   node tests/ort/run_models.js MODEL...
//
// Inputs are built from the model's input metadata: floating tensors get small values
// in [-0.5, 0.5), integer tensors small non-negative values, bool tensors true; a
// symbolic or unknown dimension is taken as 1.  Prints one line per model and a final
// line "ort: N passed, M failed"; exits 1 if any model failed.
'use strict';

const path = require('path');
const ort = require('onnxruntime-node');

function dimsOf(meta) {
  return (meta.shape || []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
}

// float32 -> IEEE half bit pattern (round to nearest even); inputs are small and exact.
function toHalfBits(x) {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = x;
  const b = u[0];
  const sign = (b >>> 16) & 0x8000;
  let exp = ((b >>> 23) & 0xff) - 127 + 15;
  let mant = b & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h += 1;
    return sign | h;
  }
  if (exp >= 31) return sign | 0x7c00;
  let h = sign | (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h += 1;
  return h;
}

function value(i) {
  return ((i * 37) % 17 - 8) / 16; // deterministic, in [-0.5, 0.5)
}

function makeInput(meta) {
  if (!meta.isTensor) throw new Error(`input ${meta.name} is not a tensor`);
  const dims = dimsOf(meta);
  const n = dims.reduce((a, b) => a * b, 1);
  let data;
  switch (meta.type) {
    case 'float32': data = Float32Array.from({ length: n }, (_, i) => value(i)); break;
    case 'float64': data = Float64Array.from({ length: n }, (_, i) => value(i)); break;
    case 'float16': data = Uint16Array.from({ length: n }, (_, i) => toHalfBits(value(i))); break;
    case 'bool': data = new Uint8Array(n).fill(1); break;
    case 'int8': data = Int8Array.from({ length: n }, (_, i) => i % 3); break;
    case 'uint8': data = Uint8Array.from({ length: n }, (_, i) => i % 3); break;
    case 'int16': data = Int16Array.from({ length: n }, (_, i) => i % 3); break;
    case 'uint16': data = Uint16Array.from({ length: n }, (_, i) => i % 3); break;
    case 'int32': data = Int32Array.from({ length: n }, (_, i) => i % 3); break;
    case 'uint32': data = Uint32Array.from({ length: n }, (_, i) => i % 3); break;
    case 'int64': data = BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 3)); break;
    case 'uint64': data = BigUint64Array.from({ length: n }, (_, i) => BigInt(i % 3)); break;
    case 'string': data = Array.from({ length: n }, () => 'a'); break;
    default: throw new Error(`input ${meta.name}: cannot build a ${meta.type} tensor`);
  }
  return new ort.Tensor(meta.type, data, dims);
}

function halfIsFinite(bits) {
  return (bits & 0x7c00) !== 0x7c00;
}

function checkOutput(name, t) {
  if (!t || typeof t !== 'object' || !('type' in t)) return; // non-tensor value
  const d = t.data;
  let bad = -1;
  if (t.type === 'float32' || t.type === 'float64') {
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) { bad = i; break; }
  } else if (t.type === 'float16') {
    if (d instanceof Uint16Array) {
      for (let i = 0; i < d.length; i++) if (!halfIsFinite(d[i])) { bad = i; break; }
    } else {
      for (let i = 0; i < d.length; i++) if (!Number.isFinite(Number(d[i]))) { bad = i; break; }
    }
  } else if (t.type === 'bfloat16') {
    for (let i = 0; i < d.length; i++) if ((d[i] & 0x7f80) === 0x7f80) { bad = i; break; }
  }
  if (bad >= 0) throw new Error(`output ${name}[${bad}] is not finite`);
}

async function runOne(file) {
  const session = await ort.InferenceSession.create(path.resolve(file), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  try {
    const feeds = {};
    for (const meta of session.inputMetadata) feeds[meta.name] = makeInput(meta);
    const results = await session.run(feeds);
    const names = Object.keys(results);
    if (names.length === 0) throw new Error('no outputs');
    for (const name of names) checkOutput(name, results[name]);
    return names.map((n) => `${n}${JSON.stringify(results[n].dims || [])}`).join(' ');
  } finally {
    await session.release();
  }
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node run_models.js MODEL...');
    process.exit(2);
  }
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    try {
      const summary = await runOne(file);
      console.log(`ok   ${file}: ${summary}`);
      passed++;
    } catch (e) {
      const msg = String((e && e.message) || e).split('\n').join(' ');
      console.log(`FAIL ${file}: ${msg}`);
      failed++;
    }
  }
  console.log(`ort: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main();
