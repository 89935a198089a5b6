#!/usr/bin/env node
// ort_forward.js MODEL D,D,... REPS THREADS: ONNX Runtime's forward pass on a
// float32 input of that shape (after one warm-up run), REPS times, with its
// default graph optimizations and THREADS intra-op threads; prints
// "min_ms median_ms". For scripts/bench_lsuv.sh.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, shapeArg, repsArg, threadsArg] = process.argv.slice(2);
  const dims = shapeArg.split(',').map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const s = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threadsArg), interOpNumThreads: 1,
  });
  const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  await s.run(feeds);
  const t = [];
  for (let r = 0; r < Number(repsArg); r++) {
    const t0 = process.hrtime.bigint();
    await s.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.sort((a, b) => a - b);
  console.log(`${t[0].toFixed(3)} ${t[Math.floor(t.length / 2)].toFixed(3)}`);
}
main().catch((e) => { console.error(`ort_forward: ${e.message}`); process.exit(1); });
