// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node) on raw float32 NCHW inputs and
// optionally times it; used by check.py as a second, independent runtime for the converted file.
//
//   node ort_run.cjs MODEL.onnx JOB.json
//
// JOB.json: {"threads": 1, "runs": 0, "inputs": [{"nchw": "a.f32", "shape": [1,3,H,W], "out": "a"}]}
// Writes a.ort.f32 (first output, row-major) per input; with runs > 0 also prints the min and
// median milliseconds of that many timed runs on the first input.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, jobPath] = process.argv.slice(2);
  if (!modelPath || !jobPath) throw new Error('usage: node ort_run.cjs MODEL.onnx JOB.json');
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  const base = path.dirname(path.resolve(jobPath));
  const threads = job.threads || 1;
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  let first = null;
  for (const item of job.inputs) {
    const buf = fs.readFileSync(path.join(base, item.nchw));
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    const feeds = { [inName]: new ort.Tensor('float32', data, item.shape) };
    if (!first) first = feeds;
    const result = await session.run(feeds);
    const out = result[outName];
    fs.writeFileSync(path.join(base, `${item.out}.ort.f32`), Buffer.from(out.data.buffer));
    console.log(`${item.nchw}: ${outName} ${out.dims.join('x')}`);
  }
  if (job.runs > 0 && first) {
    for (let i = 0; i < 3; i++) await session.run(first);
    const times = [];
    for (let i = 0; i < job.runs; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(first);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ threads, min_ms: times[0], median_ms: times[Math.floor(times.length / 2)] }));
  }
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
