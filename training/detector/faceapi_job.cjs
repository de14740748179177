// Shared start of the face-api runners: reads the JOB.json named on the command
// line and loads face-api (TensorFlow.js CPU backend) with the requested networks.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

async function startJob(script, nets) {
  const jobPath = process.argv[2];
  if (!jobPath) throw new Error(`usage: node ${script} JOB.json`);
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  const base = path.dirname(path.resolve(jobPath));
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  for (const net of nets) await faceapi.nets[net].loadFromDisk(modelDir);
  return { job, base };
}

module.exports = { tf, faceapi, startJob };
