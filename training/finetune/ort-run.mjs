// Runs an ONNX graph with onnxruntime-node on a raw float32 input, for the Python parity checks.
// Usage: node training/finetune/ort-run.mjs <model.onnx> <input.bin> <dims comma-separated> <outDir>
// The graph's single float32 input is fed from input.bin (little-endian float32, row-major);
// each output is written to <outDir>/<sanitised name>.bin with <outDir>/outputs.json listing
// {name, file, dims}.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const [model, inputFile, dimsArg, outDir] = process.argv.slice(2);
if (!model || !inputFile || !dimsArg || !outDir) {
  console.error('usage: ort-run.mjs <model.onnx> <input.bin> <dims> <outDir>');
  process.exit(2);
}
const dims = dimsArg.split(',').map(Number);
const buf = readFileSync(inputFile);
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`input has ${data.length} floats, dims ${dims}`);
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
const t0 = performance.now();
const result = await session.run(feeds);
const ms = performance.now() - t0;
mkdirSync(outDir, { recursive: true });
const listing = [];
for (const name of session.outputNames) {
  const t = result[name];
  const file = `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.bin`;
  const arr = t.data;
  writeFileSync(join(outDir, file), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
  listing.push({ name, file, dims: t.dims, type: t.type });
}
writeFileSync(join(outDir, 'outputs.json'), JSON.stringify({ inputName: session.inputNames[0], runMs: ms, outputs: listing }, null, 1));
console.log(JSON.stringify({ runMs: Math.round(ms), outputs: listing.map((o) => `${o.name}[${o.dims}]`) }));
