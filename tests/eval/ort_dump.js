#!/usr/bin/env node
// ort_dump.js MODEL OUTDIR NAME=FILE.npy...: run MODEL in ONNX Runtime (CPU,
// one thread, no graph optimizations, so that every output is computed as
// the graph says) on the given .npy inputs (float32 or int64, C order) and
// write every output as OUTDIR/NNNN.npy with OUTDIR/values.tsv.
// ort_dump.js --manifest FILE: the same for each case of make_models.py's
// manifest, its "all" model into DIR/NAME.ort/.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'ort', 'node_modules', 'onnxruntime-node'));

function readNpy(file) {
  const b = fs.readFileSync(file);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const hdr = b.slice(off, off + hlen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(hdr)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(hdr)[1].split(',').map((s) => s.trim())
    .filter((s) => s.length).map(Number);
  const data = b.slice(off + hlen);
  const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
  if (descr === '<f4') return new ort.Tensor('float32', new Float32Array(ab), shape);
  if (descr === '<i8') return new ort.Tensor('int64', new BigInt64Array(ab), shape);
  throw new Error(`${file}: dtype ${descr}`);
}

function writeNpy(file, t) {
  let descr, bytes;
  if (t.type === 'float32') { descr = '<f4'; bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength); }
  else if (t.type === 'int64') { descr = '<i8'; bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength); }
  else if (t.type === 'bool') { descr = '<i8'; bytes = Buffer.from(BigInt64Array.from(t.data, (v) => BigInt(v ? 1 : 0)).buffer); }
  else if (t.type === 'int32') { descr = '<i8'; bytes = Buffer.from(BigInt64Array.from(t.data, (v) => BigInt(v)).buffer); }
  else return false;
  const shape = '(' + t.dims.map((d) => `${d},`).join(' ') + ')';
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0;
  head.writeUInt16LE(h.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(h, 'latin1'), bytes]));
  return true;
}

async function dump(model, outdir, feeds) {
  const s = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const t0 = process.hrtime.bigint();
  const out = await s.run(feeds);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let list = '';
  let k = 0;
  for (const name of s.outputNames) {
    const f = path.join(outdir, String(k).padStart(4, '0') + '.npy');
    if (writeNpy(f, out[name])) list += `${String(k++).padStart(4, '0')}\t${name}\n`;
  }
  fs.writeFileSync(path.join(outdir, 'values.tsv'), list);
  process.stderr.write(`ort_dump: ${path.basename(model)}: ${ms.toFixed(1)} ms\n`);
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--manifest') {
    const cases = JSON.parse(fs.readFileSync(args[1], 'utf8'));
    let bad = 0;
    for (const c of cases) {
      const outdir = path.join(path.dirname(args[1]), `${c.name}.ort`);
      fs.mkdirSync(outdir, { recursive: true });
      const feeds = {};
      for (const [k, f] of Object.entries(c.inputs)) feeds[k] = readNpy(f);
      try {
        await dump(c.all, outdir, feeds);
      } catch (e) {
        console.error(`ort_dump: ${c.name}: ${e.message}`);
        fs.writeFileSync(path.join(outdir, 'values.tsv'), '');
        bad++;
      }
    }
    if (bad) process.exit(1);
    return;
  }
  const [model, outdir, ...ins] = args;
  const feeds = {};
  for (const a of ins) {
    const eq = a.indexOf('=');
    feeds[a.slice(0, eq)] = readNpy(a.slice(eq + 1));
  }
  await dump(model, outdir, feeds);
}
main().catch((e) => { console.error(`ort_dump: ${e.message}`); process.exit(1); });
