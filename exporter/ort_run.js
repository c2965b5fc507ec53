// Runs an ONNX model in onnxruntime-node (an independent runtime, to check hwnas's exports).
// usage: node ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
// INPUT/OUTPUT are raw little-endian float32 files; the model's first input and first output
// are used. Prints the output dims as "N,K" on stdout. The module is looked up in
// $HWNAS_CACHE (default ~/.cache/hwnas)/onnxruntime-node/node_modules/onnxruntime-node.
// Exit codes: 0 ok, 2 bad usage, 3 onnxruntime-node not installed, 1 any other failure.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

function fail(code, msg) {
  process.stderr.write('ort_run.js: ' + msg + '\n');
  process.exit(code);
}

const args = process.argv.slice(2);
if (args.length !== 4) fail(2, 'usage: node ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32');
const [modelPath, inputPath, dimsText, outputPath] = args;

const cache = process.env.HWNAS_CACHE || path.join(os.homedir(), '.cache', 'hwnas');
const modDir = path.join(cache, 'onnxruntime-node', 'node_modules', 'onnxruntime-node');
let ort;
try {
  ort = require(modDir);
} catch (e) {
  fail(3, 'onnxruntime-node is not installed in ' + modDir + ' (run scripts/install-deps.sh): ' + e.message);
}

async function main() {
  const dims = dimsText.split(',').map((d) => parseInt(d, 10));
  if (dims.some((d) => !(d > 0))) fail(2, 'bad dims "' + dimsText + '"');
  const count = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(inputPath);
  if (buf.length !== count * 4) fail(2, inputPath + ' has ' + buf.length + ' bytes, dims ' + dimsText + ' need ' + count * 4);
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = buf.readFloatLE(i * 4);
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims);
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  const outBuf = Buffer.alloc(out.data.length * 4);
  for (let i = 0; i < out.data.length; ++i) outBuf.writeFloatLE(out.data[i], i * 4);
  fs.writeFileSync(outputPath, outBuf);
  process.stdout.write(out.dims.join(',') + '\n');
}

main().catch((e) => fail(1, e.message || String(e)));
