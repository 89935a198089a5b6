#!/usr/bin/env node
// Run ONNX models through ONNX Runtime (CPU) on the same deterministic inputs.
//
//   node ort_run.js MODEL            run it; every output must be finite
//   node ort_run.js REF MODEL TOL    also: MODEL's outputs equal REF's within TOL
//
// Float inputs get values in [-0.5, 0.5), bool inputs true, int64 small values; a
// symbolic dimension is taken as 2. Prints one line (ok/FAIL ...); exit 1 on failure.
'use strict';

const path = require('path');
const ort = require(path.join(__dirname, '..', 'ort', 'node_modules', 'onnxruntime-node'));

function input(meta) {
  const dims = (meta.shape || []).map((d) => (typeof d === 'number' && d >= 0 ? d : 2));
  const n = dims.reduce((a, b) => a * b, 1);
  switch (meta.type) {
    case 'float32':
      return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => ((i * 37) % 17 - 8) / 16), dims);
    case 'bool':
      return new ort.Tensor('bool', new Uint8Array(n).fill(1), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 3)), dims);
    default:
      throw new Error(`input ${meta.name}: no ${meta.type} inputs here`);
  }
}

async function run(file) {
  const s = await ort.InferenceSession.create(path.resolve(file), {
    executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3,
  });
  try {
    const feeds = {};
    for (const meta of s.inputMetadata) feeds[meta.name] = input(meta);
    const out = await s.run(feeds);
    const res = {};
    for (const name of Object.keys(out)) {
      const d = Array.from(out[name].data, Number);
      d.forEach((x, i) => {
        if (!Number.isFinite(x)) throw new Error(`${file}: output ${name}[${i}] is not finite`);
      });
      res[name] = d;
    }
    return res;
  } finally {
    await s.release();
  }
}

async function main() {
  const [a, b, tol] = process.argv.slice(2);
  try {
    const ra = await run(a);
    if (!b) {
      console.log(`ok ${a}`);
      return;
    }
    const rb = await run(b);
    let worst = 0;
    for (const name of Object.keys(ra)) {
      if (!(name in rb) || rb[name].length !== ra[name].length)
        throw new Error(`output ${name} differs in shape`);
      ra[name].forEach((x, i) => { worst = Math.max(worst, Math.abs(x - rb[name][i])); });
    }
    if (worst > Number(tol)) throw new Error(`outputs differ by ${worst} (> ${tol})`);
    console.log(`ok ${b} = ${a} (max difference ${worst})`);
  } catch (e) {
    console.log(`FAIL ${String((e && e.message) || e).split('\n').join(' ')}`);
    process.exit(1);
  }
}

main();
