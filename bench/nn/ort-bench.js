#!/usr/bin/env node
// Times one ONNX model with ONNX Runtime (CPU), the peer nn-core is measured against.
//
//   node ort-bench.js MODEL --threads N --runs K [--warmup W] [--warmup-ms MS]
//   node ort-bench.js MODEL --input FILE.raw      (runs once, prints the output)
//
// Timing prints one JSON line: {"min_ms":…, "median_ms":…, "cpu_median_ms":…, "runs":K,
// "threads":N, "ort":version}; cpu is the process's CPU time (all threads) per run.
// Its input is a fixed pattern (values do not change the work a CNN does).
// With --input (raw little-endian float32, the input's full size) it prints
// {"output": [...]}: bench.py checks that both engines compute the same thing.
'use strict';

const path = require('path');

function parseArgs(argv) {
  const opts = { threads: 1, runs: 50, warmup: 5, warmupMs: 0, model: null, input: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--threads') opts.threads = parseInt(next(), 10);
    else if (a === '--runs') opts.runs = parseInt(next(), 10);
    else if (a === '--warmup') opts.warmup = parseInt(next(), 10);
    else if (a === '--warmup-ms') opts.warmupMs = parseInt(next(), 10);
    else if (a === '--input') opts.input = next();
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (opts.model === null) opts.model = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!opts.model) {
    throw new Error('usage: node ort-bench.js MODEL --threads N --runs K [--warmup W] [--warmup-ms MS]');
  }
  for (const k of ['threads', 'runs', 'warmup', 'warmupMs']) {
    const least = k.startsWith('warmup') ? 0 : 1;
    if (!Number.isInteger(opts[k]) || opts[k] < least) throw new Error(`bad option ${k}`);
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    throw new Error(`onnxruntime-node is not installed in ${path.join(__dirname, 'node_modules')}: ` +
                    `run bench/nn/run.sh (it runs npm ci there)\n${e.message}`);
  }
  const session = await ort.InferenceSession.create(path.resolve(opts.model), {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  if (session.inputNames.length !== 1) throw new Error('expected a model with one input');
  const name = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  let dims = meta && meta.shape ? meta.shape : null;
  if (!dims || dims.some((d) => typeof d !== 'number' || d <= 0)) {
    throw new Error(`input ${name} has no static shape (export the model with static dims)`);
  }
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 7919) % 2001) / 1000 - 1;
  if (opts.input) {
    const bytes = require('fs').readFileSync(opts.input);
    if (bytes.length !== n * 4) throw new Error(`${opts.input}: ${bytes.length} bytes, expected ${n * 4}`);
    for (let i = 0; i < n; i++) data[i] = bytes.readFloatLE(i * 4);
  }
  const feeds = { [name]: new ort.Tensor('float32', data, dims) };
  if (opts.input) {
    const result = await session.run(feeds);
    console.log(JSON.stringify({ output: Array.from(result[session.outputNames[0]].data) }));
    return;
  }

  // At least --warmup runs and --warmup-ms milliseconds, as facekp-nn bench does.
  const warmUntil = process.hrtime.bigint() + BigInt(opts.warmupMs) * 1000000n;
  for (let i = 0; i < opts.warmup || process.hrtime.bigint() < warmUntil; i++) {
    await session.run(feeds);
  }
  const times = [], cpuTimes = [];
  for (let i = 0; i < opts.runs; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const cpu = process.cpuUsage(cpu0);
    cpuTimes.push((cpu.user + cpu.system) / 1e3);
  }
  const median = (v) => {
    v.sort((a, b) => a - b);
    const mid = v.length >> 1;
    return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  };
  const wall = median(times);
  const version = require('onnxruntime-node/package.json').version;
  console.log(JSON.stringify({ min_ms: times[0], median_ms: wall, cpu_median_ms: median(cpuTimes),
                               runs: opts.runs, threads: opts.threads, ort: version }));
}

main().catch((e) => {
  console.error(`ort-bench: ${e.message}`);
  process.exit(1);
});
