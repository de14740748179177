// Runs face-api's own detectors end to end (their pre-processing, decoding and NMS) on whole
// photos, to compare detector choices (tiny face detector vs SSD-MobileNetV1) before converting.
//
//   node faceapi_detect.cjs JOB.json
//
// JOB.json: {"inputs": [{"rgb": "a.u8", "width": W, "height": H, "out": "a"}],
//            "runs": [{"net": "tiny", "size": 416, "threshold": 0.5}, {"net": "ssd", "threshold": 0.5}]}
// a.u8 holds H*W*3 bytes (RGB, HWC). Writes JOB.result.json with the boxes (image pixels) and
// the median milliseconds of three runs per photo and detector (TensorFlow.js CPU backend).
'use strict';
const fs = require('fs');
const path = require('path');
const { tf, faceapi, startJob } = require('./faceapi_job.cjs');

async function main() {
  const { job, base } = await startJob('faceapi_detect.cjs', ['tinyFaceDetector', 'ssdMobilenetv1']);
  const result = [];
  for (const item of job.inputs) {
    const buf = fs.readFileSync(path.join(base, item.rgb));
    const input = tf.tensor3d(new Uint8Array(buf), [item.height, item.width, 3], 'int32');
    for (const run of job.runs) {
      const options = run.net === 'ssd'
        ? new faceapi.SsdMobilenetv1Options({ minConfidence: run.threshold })
        : new faceapi.TinyFaceDetectorOptions({ inputSize: run.size, scoreThreshold: run.threshold });
      const times = [];
      let dets = [];
      for (let i = 0; i < 3; i++) {
        const t0 = process.hrtime.bigint();
        dets = await faceapi.detectAllFaces(input, options);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      times.sort((a, b) => a - b);
      result.push({
        image: item.out, ...run, median_ms: times[1],
        boxes: dets.map((d) => [d.box.x, d.box.y, d.box.width, d.box.height, d.score]),
      });
    }
    tf.dispose(input);
  }
  fs.writeFileSync(jobPath.replace(/\.json$/, '.result.json'), JSON.stringify(result));
  console.log(`face-api ${faceapi.version}, tfjs ${tf.version_core}, backend ${tf.getBackend()}`);
}

main().catch((err) => { console.error(err.message || err); process.exit(1); });
