// onnxruntime-node timing server for bench/runtime_bench.cpp: loads one ONNX model into a session
// per thread count, then answers commands on stdin, one per line, so the C++ bench can interleave
// its own runs with onnxruntime's (A B A B) in one process tree:
//   check B        -> the model's output on the fixed input x[i] = sin(0.01 i) (batch B), one line
//   time T B N     -> ms per call over N calls of session T (batch B; same input), one line
//   quit
// usage: node ort_refnet.js MODEL.onnx THREADS[,THREADS...]
// The module is looked up in $HWNAS_CACHE (default ~/.cache/hwnas)/onnxruntime-node/node_modules.
// Exit codes: 0 ok, 2 bad usage, 3 onnxruntime-node not installed, 1 any other failure.
'use strict';
const os = require('os');
const path = require('path');
const readline = require('readline');

function fail(code, msg) {
  process.stderr.write('ort_refnet.js: ' + msg + '\n');
  process.exit(code);
}

const args = process.argv.slice(2);
if (args.length !== 2) fail(2, 'usage: node ort_refnet.js MODEL.onnx THREADS[,THREADS...]');
const cache = process.env.HWNAS_CACHE || path.join(os.homedir(), '.cache', 'hwnas');
const modDir = path.join(cache, 'onnxruntime-node', 'node_modules', 'onnxruntime-node');
let ort;
try {
  ort = require(modDir);
} catch (e) {
  fail(3, 'onnxruntime-node is not installed in ' + modDir + ' (scripts/install-deps.sh --bench): ' + e.message);
}

async function main() {
  const threadsList = args[1].split(',').map((t) => parseInt(t, 10));
  if (threadsList.some((t) => !(t >= 1))) fail(2, 'THREADS must be positive integers, got ' + args[1]);
  const sessions = {};
  for (const t of threadsList) {
    sessions[t] = await ort.InferenceSession.create(args[0], {
      intraOpNumThreads: t, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  }
  const first = sessions[threadsList[0]];
  const inputName = first.inputNames[0], outputName = first.outputNames[0];
  const feedsCache = {};
  function feeds(b) {
    if (!feedsCache[b]) {
      const x = new Float32Array(b * 784);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(0.01 * i);
      feedsCache[b] = { [inputName]: new ort.Tensor('float32', x, [b, 1, 28, 28]) };
    }
    return feedsCache[b];
  }
  process.stdout.write('ready ' + inputName + ' ' + outputName + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'quit') break;
    if (w[0] === 'check') {
      const out = await first.run(feeds(parseInt(w[1], 10)));
      process.stdout.write(Array.from(out[outputName].data).map((v) => v.toPrecision(9)).join(' ') + '\n');
    } else if (w[0] === 'time') {
      const s = sessions[parseInt(w[1], 10)];
      if (!s) fail(2, 'no session for ' + w[1] + ' threads');
      const f = feeds(parseInt(w[2], 10)), n = parseInt(w[3], 10);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await s.run(f);
      process.stdout.write((Number(process.hrtime.bigint() - t0) / 1e6 / n).toString() + '\n');
    } else {
      fail(2, 'unknown command: ' + line);
    }
  }
}
main().catch((e) => fail(1, e.stack || String(e)));
