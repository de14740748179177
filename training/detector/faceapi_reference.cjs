// Runs the ORIGINAL face-api tiny face detector (TensorFlow.js, CPU backend) on raw inputs,
// so that check.py can compare the converted ONNX model against it.
//
//   node faceapi_reference.cjs JOB.json
//
// JOB.json: {"size": 416, "score_threshold": 0.5,
//            "inputs": [{"rgb": "a.f32", "out": "a"}]}
// Each a.f32 holds size*size*3 float32 values, RGB 0..255, HWC (the already letterboxed
// square face-api feeds its network). Writes a.grid.f32 (raw network output, NHWC
// [size/32, size/32, 25]) and a.dets.json (face-api's decoded, NMS'd boxes in input pixels).
'use strict';
const fs = require('fs');
const path = require('path');
const { tf, faceapi, startJob } = require('./faceapi_job.cjs');

async function main() {
  const { job, base } = await startJob('faceapi_reference.cjs', ['tinyFaceDetector']);
  const size = job.size;
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: size, scoreThreshold: job.score_threshold });
  for (const item of job.inputs) {
    const buf = fs.readFileSync(path.join(base, item.rgb));
    const values = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    if (values.length !== size * size * 3) throw new Error(`${item.rgb}: expected ${size}x${size}x3 floats`);
    const input = tf.tensor3d(values, [size, size, 3], 'float32');
    const grid = await faceapi.nets.tinyFaceDetector.forward(input, size);
    fs.writeFileSync(path.join(base, `${item.out}.grid.f32`), Buffer.from((await grid.data()).buffer));
    const dets = await faceapi.detectAllFaces(input, options);
    const boxes = dets.map((d) => ({ x: d.box.x, y: d.box.y, w: d.box.width, h: d.box.height, score: d.score }));
    fs.writeFileSync(path.join(base, `${item.out}.dets.json`), JSON.stringify(boxes));
    console.log(`${item.rgb}: grid ${grid.shape.join('x')}, ${boxes.length} faces`);
    tf.dispose([input, grid]);
  }
  console.log(`face-api ${faceapi.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}`);
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
