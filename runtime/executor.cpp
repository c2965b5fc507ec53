#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace hwnas::runtime {

using kernels::Isa;

struct Executor::Prepared {
  // conv2d (GEMM): per group packed weights and padded bias
  std::vector<std::vector<float>> packed, bias8;
  kernels::ConvGeom geom;
  bool direct = false;      // 1x1, stride 1, no padding: the input is the GEMM's X
  kernels::DwGeom dw;
  // int8 conv / linear: per group packed weights (int16 for the AVX2 path), per group bias
  // padded to 8 rows with the zero-point and u8-shift corrections folded in; the epilogue.
  std::vector<std::vector<int8_t>> qpacked;
  std::vector<std::vector<int16_t>> qpacked16;
  std::vector<std::vector<int32_t>> qbias8;
  int8::PackGeom pack;
  int8::DwGeom8 dw8;
  int8::Epilogue epi;
  int64_t packBytes = 0;  // packed X of one image and group
  // channels-last int8 (VNNI): per group weights [M/16][K/4][16][4] (taps before channels),
  // bias (zero-point corrections folded in) and the fused epilogue's per-channel scales
  // (int8::clScales: mult or deq) padded to 16.
  std::vector<std::vector<int8_t>> clw;
  std::vector<std::vector<int32_t>> clbias;
  std::vector<std::vector<float>> clmult;
  bool clDirect = false;  // 1x1 stride 1 unpadded: the input rows are the GEMM's X
  int64_t clLdk = 0;      // im2col row bytes
  // kxk without groups or dilation: no im2col; per task a band of input rows padded with the
  // zero point (rows clRowBytes apart), quad (i, jq) of output pixel p at clQoff[i * nq + jq].
  bool clPadded = false;
  int64_t clRowBytes = 0, clBand = 0;
  std::vector<int64_t> clQoff;
  int8::DwCl dwcl;
  std::vector<float> dwf;
  int64_t sharedFloats = 0;  // op scratch shared by all threads (SE gates, batch-1 im2col)
};

namespace {

constexpr int64_t kElemChunk = 16384;  // elements per task of elementwise ops
constexpr int64_t kPlaneWork = 4096;   // elements per task when grouping small planes
constexpr int64_t kClPixels = 96;      // output pixels (or linear rows) per channels-last GEMM task
constexpr int64_t kClChannels = 64;    // linear output channels per task

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

Executor::Executor(Plan plan, const ExecutorOptions& options)
    : plan_(std::move(plan)),
      isa_(options.isa < 0 ? kernels::bestIsa() : Isa(options.isa)),
      int8Isa_(options.int8Isa < 0 ? int8::bestInt8Isa() : int8::Int8Isa(options.int8Isa)),
      pool_(std::max(1, options.threads)) {
  plan_.validate("executor");
  if (options.int8Isa >= 0 && !int8::int8IsaSupported(int8Isa_))
    throw RuntimeError(std::string("executor: this CPU does not support the ") + int8::int8IsaName(int8Isa_) +
                       " int8 kernels");
  for (const auto* ids : {&plan_.inputs, &plan_.outputs})
    for (int32_t id : *ids)
      if (plan_.tensors[id].dtype != DType::F32)
        throw RuntimeError("executor: plan input/output tensor " + std::to_string(id) +
                           " is i8; plans take and give f32 (add quantize / dequantize ops)");
  cl_ = int8Isa_ == int8::Int8Isa::Vnni && options.int8ChannelsLast != 0;
  if (options.isa >= 0 && !kernels::isaSupported(isa_))
    throw RuntimeError(std::string("executor: this CPU does not support the ") + kernels::isaName(isa_) + " kernels");
  if (options.batch < 0 || options.microBatch < 0) throw RuntimeError("executor: batch must be >= 1");
  batch_ = options.batch > 0 ? options.batch : plan_.batch();
  int64_t micro = options.microBatch;
  if (micro == 0) {
    const int64_t perImage = std::max<int64_t>(1, planMemory(plan_, 1).arenaBytes);
    micro = std::max<int64_t>(1, kMicroBatchBytes / perImage);
  }
  memory_ = planMemory(plan_, std::min(micro, batch_));
  const int64_t n = memory_.batch;

  prepared_.resize(plan_.ops.size());
  int64_t perThread = 0, shared = 0;
  for (size_t i = 0; i < plan_.ops.size(); ++i) {
    const PlanOp& op = plan_.ops[i];
    Prepared& pr = prepared_[i];
    const auto in = op.inputs.empty() ? std::vector<int64_t>() : shapeOf(op.inputs[0]);
    const auto out = shapeOf(op.output);
    if (cl_ && isInt8Op(plan_, op)) {
      perThread = std::max(perThread, ceilDiv(prepareInt8Cl(i), 4));
      continue;
    }
    if (isInt8Op(plan_, op) && (op.type == OpType::Conv2d || op.type == OpType::DepthwiseConv2d ||
                                op.type == OpType::Linear)) {
      const TensorInfo& xt = plan_.tensors[op.inputs[0]];
      pr.epi = int8::makeEpilogue(xt.scale, op.weightScales, plan_.tensors[op.output], op.act);
      if (op.type == OpType::DepthwiseConv2d) {
        pr.dw8 = {in[2], in[3], out[2], out[3], op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW};
        perThread = std::max(perThread, ceilDiv(int8::depthwiseScratchBytes(pr.dw8), 4));
        continue;
      }
      const bool linear = op.type == OpType::Linear;
      const int64_t g = linear ? 1 : op.groups, cg = linear ? shapeElements(in) / in[0] : in[1] / g;
      const int64_t mg = op.outChannels / g, k = linear ? cg : cg * op.kernelH * op.kernelW;
      const bool vnni = int8Isa_ == int8::Int8Isa::Vnni;
      for (int64_t gi = 0; gi < g; ++gi) {
        const int8_t* w = op.qweight.data() + gi * mg * k;
        pr.qpacked.push_back(int8::packWeights(w, mg, k));
        if (int8Isa_ == int8::Int8Isa::Avx2) {
          pr.qpacked16.push_back(int8::widenWeights(pr.qpacked.back()));
          pr.qpacked.back().clear();
        }
        const std::vector<int32_t> sums = int8::rowSums(w, mg, k);
        std::vector<int32_t> b(size_t(ceilDiv(mg, int8::kRows) * int8::kRows), 0);
        for (int64_t r = 0; r < mg; ++r)
          b[r] = (op.qbias.empty() ? 0 : op.qbias[gi * mg + r]) - xt.zeroPoint * sums[r] - (vnni ? 128 * sums[r] : 0);
        pr.qbias8.push_back(std::move(b));
      }
      const int64_t cols = linear ? n : out[2] * out[3];
      const int64_t ppad = int8::paddedCols(cols);
      pr.packBytes = int8::quads(k) * ppad * 4;
      const int64_t accFloats = int64_t(int8::kRows) * ppad;
      if (!linear)
        pr.pack = {cg, in[2], in[3], op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW,
                   op.dilationH, op.dilationW, out[2], out[3]};
      if (linear || n * g == 1) {
        pr.sharedFloats = ceilDiv(pr.packBytes, 64) * 16;
        perThread = std::max(perThread, accFloats);
      } else {
        perThread = std::max(perThread, ceilDiv(pr.packBytes, 64) * 16 + accFloats);
      }
      shared = std::max(shared, pr.sharedFloats);
      continue;
    }
    if (op.type == OpType::Conv2d) {
      const int64_t g = op.groups, cg = in[1] / g, mg = op.outChannels / g;
      const int64_t k = cg * op.kernelH * op.kernelW;
      for (int64_t gi = 0; gi < g; ++gi) {
        pr.packed.push_back(kernels::packGemmWeights(op.weight.data() + gi * mg * k, mg, k));
        pr.bias8.push_back(kernels::padGemmBias(op.bias.empty() ? nullptr : op.bias.data() + gi * mg, mg));
      }
      pr.geom = {cg, in[2], in[3], op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW,
                 op.dilationH, op.dilationW, out[2], out[3]};
      pr.direct = op.kernelH == 1 && op.kernelW == 1 && op.strideH == 1 && op.strideW == 1 && op.padH == 0 &&
                  op.padW == 0;
      if (!pr.direct) {
        const int64_t col = k * out[2] * out[3];
        if (n * g == 1)
          pr.sharedFloats = col;
        else
          perThread = std::max(perThread, col);
      }
    } else if (op.type == OpType::DepthwiseConv2d) {
      pr.dw = {in[2], in[3], out[2], out[3], op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW};
      perThread = std::max(perThread, kernels::depthwiseScratchFloats(pr.dw));
    } else if (op.type == OpType::SqueezeExcite) {
      pr.sharedFloats = n * (in[1] + op.outChannels);
    }
    shared = std::max(shared, pr.sharedFloats);
  }
  perThread = ceilDiv(perThread, 16) * 16;
  perThreadScratch_ = perThread;
  const int64_t scratchFloats = perThread * pool_.threads() + shared;
  scratchBytes_ = scratchFloats * 4;
  scratchStorage_.reset(new char[size_t(scratchBytes_ + 64)]);
  scratch_ = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratchStorage_.get()) + 63) & ~uintptr_t(63));

  arenaBytes_ = memory_.arenaBytes;
  arenaStorage_.reset(new char[size_t(arenaBytes_ + 64)]);
  arena_ = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(arenaStorage_.get()) + 63) & ~uintptr_t(63));
}

Executor::~Executor() = default;

std::vector<int64_t> Executor::inputShape(size_t i) const { return shapeOf(plan_.inputs.at(i), batch_); }
std::vector<int64_t> Executor::outputShape(size_t i) const { return shapeOf(plan_.outputs.at(i), batch_); }

void Executor::run(const std::vector<const float*>& inputs, const std::vector<float*>& outputs) {
  if (inputs.size() != plan_.inputs.size() || outputs.size() != plan_.outputs.size())
    throw RuntimeError("executor: the plan takes " + std::to_string(plan_.inputs.size()) + " inputs and " +
                       std::to_string(plan_.outputs.size()) + " outputs, got " + std::to_string(inputs.size()) +
                       " and " + std::to_string(outputs.size()));
  const int64_t micro = memory_.batch;
  if (opNs_) opNs_->assign(plan_.ops.size(), 0);
  for (int64_t start = 0; start < batch_; start += micro) {
    const int64_t n = std::min(micro, batch_ - start);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int32_t id = plan_.inputs[i];
      const int64_t per = memory_.bytes[id] / micro;
      std::memcpy(tensor(id), reinterpret_cast<const char*>(inputs[i]) + start * per, size_t(n * per));
    }
    if (opNs_) {
      using Clock = std::chrono::steady_clock;
      Clock::time_point t0 = Clock::now();
      for (size_t i = 0; i < plan_.ops.size(); ++i) {
        runOp(i, n);
        const Clock::time_point t1 = Clock::now();
        (*opNs_)[i] += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        t0 = t1;
      }
    } else {
      for (size_t i = 0; i < plan_.ops.size(); ++i) runOp(i, n);
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const int32_t id = plan_.outputs[i];
      const int64_t per = memory_.bytes[id] / micro;
      std::memcpy(reinterpret_cast<char*>(outputs[i]) + start * per, tensor(id), size_t(n * per));
    }
  }
}

std::vector<float> Executor::run(const std::vector<float>& input) {
  if (plan_.inputs.size() != 1 || plan_.outputs.size() != 1)
    throw RuntimeError("executor: run(vector) needs a plan with one input and one output");
  const int64_t want = shapeElements(inputShape());
  if (int64_t(input.size()) != want)
    throw RuntimeError("executor: input has " + std::to_string(input.size()) + " values, expected " +
                       std::to_string(want) + " (" + shapeText(inputShape()) + ")");
  std::vector<float> out(size_t(shapeElements(outputShape())));
  run({input.data()}, {out.data()});
  return out;
}

int64_t Executor::prepareInt8Cl(size_t index) {
  const PlanOp& op = plan_.ops[index];
  Prepared& pr = prepared_[index];
  const auto in = op.inputs.empty() ? std::vector<int64_t>() : shapeOf(op.inputs[0]);
  const auto out = shapeOf(op.output);
  const TensorInfo& xt = plan_.tensors[op.inputs[0]];
  auto padded = [](const float* v, int64_t m) {
    std::vector<float> r(size_t(int8::round16(m)), 0.f);
    std::copy(v, v + m, r.begin());
    return r;
  };
  switch (op.type) {
    case OpType::Quantize:
      return out.size() == 4 && out[1] > 1 && out[2] * out[3] > 1 ? out[1] * out[2] * out[3] : 0;
    case OpType::Dequantize: return shapeElements(in) / in[0];
    case OpType::DepthwiseConv2d: {
      pr.epi = int8::makeEpilogue(xt.scale, op.weightScales, plan_.tensors[op.output], op.act);
      pr.dwcl = {in[1], in[2], in[3], out[2], out[3], op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW};
      pr.dwf = int8::depthwiseClWeights(op.qweight.data(), in[1], op.kernelH, op.kernelW);
      std::vector<int32_t> b(size_t(int8::round16(in[1])), 0);
      for (int64_t c = 0; c < in[1] && !op.qbias.empty(); ++c) b[c] = op.qbias[c];
      pr.clbias = {std::move(b)};
      pr.clmult = {padded(int8::clScales(pr.epi).data(), in[1])};
      return int8::depthwiseClScratchBytes(pr.dwcl);
    }
    case OpType::Conv2d:
    case OpType::Linear: {
      pr.epi = int8::makeEpilogue(xt.scale, op.weightScales, plan_.tensors[op.output], op.act);
      const bool linear = op.type == OpType::Linear;
      const int64_t g = linear ? 1 : op.groups, cg = linear ? shapeElements(in) / in[0] : in[1] / g;
      const int64_t mg = op.outChannels / g, kh = linear ? 1 : op.kernelH, kw = linear ? 1 : op.kernelW;
      const int64_t k = cg * kh * kw;
      // Reorder each row to the channels-last im2col order (tap, channel); a linear layer on a
      // 4-D input reads it as [pixel][channel].
      const int64_t hw = linear && in.size() == 4 ? in[2] * in[3] : 1, c4 = linear && in.size() == 4 ? in[1] : cg;
      const bool direct = !linear && kh == 1 && kw == 1 && op.strideH == 1 && op.strideW == 1 && op.padH == 0 &&
                          op.padW == 0;
      pr.clPadded = !linear && !direct && g == 1 && op.dilationH == 1 && op.dilationW == 1;
      const int64_t nq = int8::quads(kw * cg);  // quads per kernel row (padded layout)
      const int64_t kw8 = pr.clPadded ? kh * nq * 4 : k;  // the GEMM's K
      std::vector<int8_t> w(size_t(mg * kw8));
      for (int64_t gi = 0; gi < g; ++gi) {
        const int8_t* src = op.qweight.data() + gi * mg * k;
        std::fill(w.begin(), w.end(), int8_t(0));
        for (int64_t r = 0; r < mg; ++r)
          for (int64_t i = 0; i < k; ++i) {
            int64_t j;
            const int64_t c = i / (kh * kw), t = i % (kh * kw);
            if (linear)
              j = (i % hw) * c4 + i / hw;  // NCHW feature i = c * hw + p -> p * C + c
            else if (pr.clPadded)
              j = (t / kw) * nq * 4 + (t % kw) * cg + c;  // kernel row, then the row's kw x C bytes
            else
              j = t * cg + c;
            w[size_t(r * kw8 + j)] = src[r * k + i];
          }
        pr.clw.push_back(int8::packWeightsCl(w.data(), mg, kw8));
        const std::vector<int32_t> sums = int8::rowSums(w.data(), mg, kw8);
        std::vector<int32_t> b(size_t(int8::round16(mg)), 0);
        for (int64_t r = 0; r < mg; ++r)
          b[r] = (op.qbias.empty() ? 0 : op.qbias[gi * mg + r]) - (xt.zeroPoint + 128) * sums[r];
        pr.clbias.push_back(std::move(b));
        pr.clmult.push_back(padded(int8::clScales(pr.epi).data() + gi * mg, mg));
      }
      if (linear) return kClPixels * kClChannels * 4;
      pr.pack = {cg, in[2], in[3], op.kernelH, op.kernelW, op.strideH, op.strideW, op.padH, op.padW,
                 op.dilationH, op.dilationW, out[2], out[3]};
      pr.clDirect = direct;
      if (pr.clPadded) {
        // Padded rows: (W + 2 pw) pixels and 4 bytes so the last quad stays inside the row.
        pr.clRowBytes = (in[3] + 2 * op.padW) * cg + 4;
        pr.clBand = std::min<int64_t>(out[2], std::max<int64_t>(1, kClPixels / out[3]));
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t q = 0; q < nq; ++q) pr.clQoff.push_back(i * pr.clRowBytes + 4 * q);
        const int64_t rows = (pr.clBand - 1) * op.strideH + kh;
        return ceilDiv(rows * pr.clRowBytes, 64) * 64 + out[3] * int8::round16(mg) * 4;
      }
      pr.clLdk = pr.clDirect ? 0 : int8::quads(k) * 4;
      return kClPixels * pr.clLdk + 64 + kClPixels * int8::round16(mg) * 4;
    }
    default: return 0;
  }
}

void Executor::runInt8OpCl(size_t index, int64_t batch) {
  const PlanOp& op = plan_.ops[index];
  Prepared& pr = prepared_[index];
  const auto in = shapeOf(op.inputs[0], batch);
  const auto out = shapeOf(op.output, batch);
  const TensorInfo& xt = plan_.tensors[op.inputs[0]];
  const TensorInfo& yt = plan_.tensors[op.output];
  const uint8_t* x = reinterpret_cast<const uint8_t*>(raw(op.inputs[0]));
  char* y = raw(op.output);
  uint8_t* yu = reinterpret_cast<uint8_t*>(y);
  float* yf = reinterpret_cast<float*>(y);
  const int64_t ysize = dtypeBytes(yt.dtype);
  const int64_t n = out[0];
  auto threadScratch = [&](int thread) { return reinterpret_cast<char*>(scratch_ + perThreadScratch_ * thread); };
  // Per image: channels and pixels of a rank-4 tensor, (elements, 1) otherwise.
  auto cw = [](const std::vector<int64_t>& s) {
    return s.size() == 4 ? std::pair<int64_t, int64_t>(s[1], s[2] * s[3]) : std::pair<int64_t, int64_t>(shapeElements(s) / s[0], 1);
  };
  const bool requant = (op.type == OpType::Conv2d || op.type == OpType::Linear) && int8::clFusable(pr.epi);

  switch (op.type) {
    case OpType::Quantize: {
      const auto [c, hw] = cw(out);
      const float* xf = reinterpret_cast<const float*>(x);
      pool_.parallelFor(n, [&](int64_t img, int thread) {
        int8::quantizeCl(xf + img * c * hw, c, hw, yt.scale, yt.zeroPoint, yu + img * c * hw,
                         reinterpret_cast<int8_t*>(threadScratch(thread)));
      });
      return;
    }
    case OpType::Dequantize: {
      const auto [c, hw] = cw(in);
      pool_.parallelFor(n, [&](int64_t img, int thread) {
        int8::dequantizeCl(x + img * c * hw, c, hw, xt.scale, xt.zeroPoint, yf + img * c * hw,
                           reinterpret_cast<uint8_t*>(threadScratch(thread)));
      });
      return;
    }
    case OpType::Conv2d: {
      const int64_t g = op.groups, c = in[1], cg = c / g, m = op.outChannels, mg = m / g;
      const int64_t hw = in[2] * in[3], p = out[2] * out[3], chunks = ceilDiv(p, kClPixels);
      const int64_t k = cg * op.kernelH * op.kernelW, ldacc = int8::round16(mg);
      const uint8_t zu = uint8_t(xt.zeroPoint + 128);
      if (pr.clPadded) {
        // Tasks: bands of output rows of one image; each pads the input rows it reads.
        const int64_t oh = out[2], ow = out[3], bands = ceilDiv(oh, pr.clBand), rs = pr.clRowBytes;
        const int64_t w = in[3], padL = int64_t(op.padW) * c;
        pool_.parallelFor(n * bands, [&](int64_t t, int thread) {
          const int64_t img = t / bands, oh0 = (t % bands) * pr.clBand, oh1 = std::min(oh, oh0 + pr.clBand);
          const int64_t rows = (oh1 - oh0 - 1) * op.strideH + op.kernelH;
          uint8_t* buf = reinterpret_cast<uint8_t*>(threadScratch(thread));
          int32_t* acc = reinterpret_cast<int32_t*>(threadScratch(thread) + ceilDiv(((pr.clBand - 1) * op.strideH + op.kernelH) * rs, 64) * 64);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t ih = oh0 * op.strideH - op.padH + r;
            uint8_t* dst = buf + r * rs;
            if (ih < 0 || ih >= in[2]) {
              std::memset(dst, zu, size_t(rs));
              continue;
            }
            std::memset(dst, zu, size_t(padL));
            std::memcpy(dst + padL, x + (img * in[2] + ih) * w * c, size_t(w * c));
            std::memset(dst + padL + w * c, zu, size_t(rs - padL - w * c));
          }
          for (int64_t r = oh0; r < oh1; ++r) {
            int8::GemmCl gm;
            gm.x = buf + (r - oh0) * op.strideH * rs;
            gm.ldx = op.strideW * c;
            gm.np = ow;
            gm.k = int64_t(pr.clQoff.size()) * 4;
            gm.m = m;
            gm.w = pr.clw[0].data();
            gm.bias = pr.clbias[0].data();
            gm.qoff = pr.clQoff.data();
            uint8_t* yr = yu + (img * p + r * ow) * m;
            if (requant) {
              int8::gemmClRequant(gm, pr.clmult[0].data(), pr.epi, yr, m);
              continue;
            }
            int8::gemmClAcc(gm, acc, ldacc);
            if (yt.dtype == DType::I8)
              int8::epilogueCl(pr.epi, 0, acc, ldacc, ow, m, yr, m, 1);
            else
              int8::epilogueCl(pr.epi, 0, acc, ldacc, ow, m, yf + img * m * p + r * ow, 1, p);
          }
        });
        return;
      }
      pool_.parallelFor(n * chunks, [&](int64_t t, int thread) {
        const int64_t img = t / chunks, p0 = (t % chunks) * kClPixels, p1 = std::min(p, p0 + kClPixels);
        const uint8_t* xi = x + img * c * hw;
        uint8_t* cols = reinterpret_cast<uint8_t*>(threadScratch(thread));
        int32_t* acc = reinterpret_cast<int32_t*>(threadScratch(thread) + kClPixels * pr.clLdk + 64);
        for (int64_t gi = 0; gi < g; ++gi) {
          int8::GemmCl gm;
          gm.np = p1 - p0;
          gm.k = k;
          gm.m = mg;
          gm.w = pr.clw[gi].data();
          gm.bias = pr.clbias[gi].data();
          if (pr.clDirect) {
            gm.x = xi + p0 * c + gi * cg;
            gm.ldx = c;
          } else {
            int8::im2colCl(xi, c, gi * cg, pr.pack, zu, p0, p1, cols, pr.clLdk);
            gm.x = cols;
            gm.ldx = pr.clLdk;
            gm.k = pr.clLdk;  // zero bytes to a whole quad (the weights are zero there too)
          }
          if (requant) {
            int8::gemmClRequant(gm, pr.clmult[gi].data(), pr.epi, yu + (img * p + p0) * m + gi * mg, m);
            continue;
          }
          int8::gemmClAcc(gm, acc, ldacc);
          if (yt.dtype == DType::I8)
            int8::epilogueCl(pr.epi, gi * mg, acc, ldacc, gm.np, mg, yu + (img * p + p0) * m + gi * mg, m, 1);
          else
            int8::epilogueCl(pr.epi, gi * mg, acc, ldacc, gm.np, mg, yf + (img * m + gi * mg) * p + p0, 1, p);
        }
      });
      return;
    }
    case OpType::Linear: {
      const int64_t f = shapeElements(in) / n, o = op.outChannels;
      const int64_t rows = ceilDiv(n, kClPixels), groups = ceilDiv(o, kClChannels), kq = int8::quads(f);
      pool_.parallelFor(rows * groups, [&](int64_t t, int thread) {
        const int64_t r0 = (t / groups) * kClPixels, o0 = (t % groups) * kClChannels;
        int8::GemmCl gm;
        gm.x = x + r0 * f;
        gm.ldx = f;
        gm.np = std::min(kClPixels, n - r0);
        gm.k = f;
        gm.m = std::min(kClChannels, o - o0);
        gm.w = pr.clw[0].data() + (o0 / int8::kClBlock) * kq * int8::kClBlock * 4;
        gm.bias = pr.clbias[0].data() + o0;
        if (requant) return int8::gemmClRequant(gm, pr.clmult[0].data() + o0, pr.epi, yu + r0 * o + o0, o);
        int32_t* acc = reinterpret_cast<int32_t*>(threadScratch(thread));
        int8::gemmClAcc(gm, acc, kClChannels);
        int8::epilogueCl(pr.epi, o0, acc, kClChannels, gm.np, gm.m, y + (r0 * o + o0) * ysize, o, 1);
      });
      return;
    }
    case OpType::DepthwiseConv2d: {
      const int64_t c = in[1], hw = in[2] * in[3], p = out[2] * out[3];
      const int64_t band = int8::depthwiseClBand(pr.dwcl), bands = ceilDiv(out[2], band);
      pool_.parallelFor(n * bands, [&](int64_t t, int thread) {
        const int64_t img = t / bands, oh0 = (t % bands) * band, oh1 = std::min(out[2], oh0 + band);
        int8::depthwiseCl(x + img * c * hw, xt.zeroPoint + 128, op.qweight.data(), pr.dwf.data(),
                          pr.clbias[0].data(), pr.clmult[0].data(), pr.dwcl, pr.epi, oh0, oh1,
                          y + img * c * p * ysize, threadScratch(thread));
      });
      return;
    }
    case OpType::Add: {
      const uint8_t* b = reinterpret_cast<const uint8_t*>(raw(op.inputs[1]));
      const TensorInfo& bt = plan_.tensors[op.inputs[1]];
      if (yt.dtype == DType::I8) {
        const int64_t total = shapeElements(out);
        pool_.parallelFor(ceilDiv(total, kElemChunk), [&](int64_t t, int) {
          const int64_t i0 = t * kElemChunk, len = std::min(kElemChunk, total - i0);
          int8::addCl(x + i0, xt, b + i0, bt, len, 1, op.act, yt, yu + i0);
        });
      } else {
        const auto [c, hw] = cw(out);
        pool_.parallelFor(n, [&](int64_t img, int) {
          int8::addCl(x + img * c * hw, xt, b + img * c * hw, bt, c, hw, op.act, yt, yf + img * c * hw);
        });
      }
      return;
    }
    case OpType::MaxPool:
    case OpType::GlobalAvgPool: {
      const int64_t c = in[1], hw = in[2] * in[3], ohw = out[2] * out[3];
      pool_.parallelFor(n, [&](int64_t img, int) {
        if (op.type == OpType::GlobalAvgPool)
          int8::meanCl(x + img * c * hw, c, hw, xt, yt, yu + img * c);
        else
          int8::maxPoolCl(x + img * c * hw, c, in[2], in[3], op, out[2], out[3], yu + img * c * ohw);
      });
      return;
    }
    case OpType::Flatten: {
      const auto [c, hw] = cw(in);
      if (hw == 1) {
        std::memcpy(y, x, size_t(shapeElements(out)));
        return;
      }
      pool_.parallelFor(n, [&](int64_t img, int) { int8::toChannelsFirst(x + img * c * hw, c, hw, yu + img * c * hw); });
      return;
    }
    default: break;
  }
  throw RuntimeError("executor: op #" + std::to_string(index) + " '" + op.name + "' (" + opTypeName(op.type) +
                     ") has no int8 kernel");
}

void Executor::runInt8Op(size_t index, int64_t batch) {
  const PlanOp& op = plan_.ops[index];
  if (cl_) return runInt8OpCl(index, batch);
  Prepared& pr = prepared_[index];
  const auto in = shapeOf(op.inputs[0], batch);
  const auto out = shapeOf(op.output, batch);
  const TensorInfo& xt = plan_.tensors[op.inputs[0]];
  const TensorInfo& yt = plan_.tensors[op.output];
  const int8_t* x = reinterpret_cast<const int8_t*>(raw(op.inputs[0]));
  char* y = raw(op.output);
  const int64_t ysize = dtypeBytes(yt.dtype);
  const int64_t n = out[0];
  const int8::Int8Isa isa = int8Isa_;
  const bool vnni = isa == int8::Int8Isa::Vnni;
  char* shared = reinterpret_cast<char*>(scratch_ + perThreadScratch_ * pool_.threads());
  auto threadScratch = [&](int thread) { return reinterpret_cast<char*>(scratch_ + perThreadScratch_ * thread); };
  auto weights = [&](int64_t gi, int64_t b, int64_t kq) -> const void* {
    if (isa == int8::Int8Isa::Avx2) return pr.qpacked16[gi].data() + b * kq * int8::kRows * 4;
    return pr.qpacked[gi].data() + b * kq * int8::kRows * 4;
  };

  switch (op.type) {
    case OpType::Conv2d: {
      const int64_t g = op.groups, c = in[1], cg = c / g, mg = op.outChannels / g;
      const int64_t hw = in[2] * in[3], p = out[2] * out[3], ppad = int8::paddedCols(p);
      const int64_t kq = int8::quads(cg * op.kernelH * op.kernelW);
      const int64_t blocks = ceilDiv(mg, int8::kRows);
      auto block = [&](int64_t img, int64_t gi, int64_t b, const int8_t* cols, int32_t* acc) {
        const int64_t rows = std::min<int64_t>(int8::kRows, mg - b * int8::kRows);
        const int64_t c0 = gi * mg + b * int8::kRows;
        if (int8::gemmBlockRequant(isa, weights(gi, b, kq), pr.qbias8[gi].data() + b * int8::kRows, kq, cols, ppad,
                                   p, pr.epi, c0, int(rows),
                                   reinterpret_cast<int8_t*>(y) + (img * op.outChannels + c0) * p, p))
          return;
        int8::gemmBlock(isa, weights(gi, b, kq), pr.qbias8[gi].data() + b * int8::kRows, kq, cols, ppad, acc);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t ch = gi * mg + b * int8::kRows + r;
          int8::epilogueRow(pr.epi, ch, acc + r * ppad, p, y + ((img * op.outChannels + ch) * p) * ysize, 1, isa);
        }
      };
      const int8_t pad = int8_t(xt.zeroPoint);
      if (memory_.batch * g == 1) {
        int8_t* cols = reinterpret_cast<int8_t*>(shared);
        int8::packConv(x, hw, pr.pack, pad, vnni, cols);
        pool_.parallelFor(blocks, [&](int64_t b, int thread) {
          block(0, 0, b, cols, reinterpret_cast<int32_t*>(threadScratch(thread)));
        });
      } else {
        const int64_t packAligned = ceilDiv(pr.packBytes, 64) * 64;
        pool_.parallelFor(n * g, [&](int64_t t, int thread) {
          const int64_t img = t / g, gi = t % g;
          int8_t* cols = reinterpret_cast<int8_t*>(threadScratch(thread));
          int32_t* acc = reinterpret_cast<int32_t*>(threadScratch(thread) + packAligned);
          int8::packConv(x + (img * c + gi * cg) * hw, hw, pr.pack, pad, vnni, cols);
          for (int64_t b = 0; b < blocks; ++b) block(img, gi, b, cols, acc);
        });
      }
      return;
    }
    case OpType::Linear: {
      const int64_t f = shapeElements(in) / n, o = op.outChannels, ppad = int8::paddedCols(n);
      const int64_t kq = int8::quads(f), blocks = ceilDiv(o, int8::kRows);
      int8_t* cols = reinterpret_cast<int8_t*>(shared);
      int8::packLinear(x, n, f, vnni, cols);
      pool_.parallelFor(blocks, [&](int64_t b, int thread) {
        int32_t* acc = reinterpret_cast<int32_t*>(threadScratch(thread));
        int8::gemmBlock(isa, weights(0, b, kq), pr.qbias8[0].data() + b * int8::kRows, kq, cols, ppad, acc);
        const int64_t rows = std::min<int64_t>(int8::kRows, o - b * int8::kRows);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t ch = b * int8::kRows + r;
          int8::epilogueRow(pr.epi, ch, acc + r * ppad, n, y + ch * ysize, o);
        }
      });
      return;
    }
    case OpType::DepthwiseConv2d: {
      const int64_t c = in[1], hw = in[2] * in[3], p = out[2] * out[3], kk = int64_t(op.kernelH) * op.kernelW;
      pool_.parallelFor(n * c, [&](int64_t t, int thread) {
        const int64_t ch = t % c;
        int8::depthwisePlane(isa, x + t * hw, xt.zeroPoint, op.qweight.data() + ch * kk,
                             op.qbias.empty() ? 0 : op.qbias[ch], pr.dw8, pr.epi, ch, y + t * p * ysize,
                             threadScratch(thread));
      });
      return;
    }
    case OpType::Quantize:
    case OpType::Dequantize:
    case OpType::Add: {
      const int64_t total = shapeElements(out);
      const int8_t* b = op.type == OpType::Add ? reinterpret_cast<const int8_t*>(raw(op.inputs[1])) : nullptr;
      const float* xf = reinterpret_cast<const float*>(raw(op.inputs[0]));
      pool_.parallelFor(ceilDiv(total, kElemChunk), [&](int64_t t, int) {
        const int64_t i0 = t * kElemChunk, len = std::min(kElemChunk, total - i0);
        if (op.type == OpType::Quantize)
          int8::quantize(xf + i0, len, yt.scale, yt.zeroPoint, reinterpret_cast<int8_t*>(y) + i0);
        else if (op.type == OpType::Dequantize)
          int8::dequantize(x + i0, len, xt.scale, xt.zeroPoint, reinterpret_cast<float*>(y) + i0);
        else
          int8::addInt8(x + i0, xt, b + i0, plan_.tensors[op.inputs[1]], len, op.act, yt, y + i0 * ysize);
      });
      return;
    }
    case OpType::MaxPool:
    case OpType::GlobalAvgPool: {
      const int64_t planes = in[0] * in[1], hw = in[2] * in[3], ohw = out[2] * out[3];
      const int64_t per = std::max<int64_t>(1, kPlaneWork / hw);
      int8_t* yq = reinterpret_cast<int8_t*>(y);
      pool_.parallelFor(ceilDiv(planes, per), [&](int64_t t, int) {
        for (int64_t q = t * per; q < std::min(planes, (t + 1) * per); ++q) {
          if (op.type == OpType::GlobalAvgPool)
            yq[q] = int8::meanPlane(x + q * hw, hw, xt, yt);
          else
            int8::maxPoolPlane(x + q * hw, in[2], in[3], op, out[2], out[3], yq + q * ohw);
        }
      });
      return;
    }
    case OpType::Flatten:
      std::memcpy(y, x, size_t(shapeElements(out)));
      return;
    default: break;
  }
  throw RuntimeError("executor: op #" + std::to_string(index) + " '" + op.name + "' (" + opTypeName(op.type) +
                     ") has no int8 kernel");
}

void Executor::runOp(size_t index, int64_t batch) {
  const PlanOp& op = plan_.ops[index];
  if (isInt8Op(plan_, op)) return runInt8Op(index, batch);
  Prepared& pr = prepared_[index];
  const auto in = shapeOf(op.inputs[0], batch);
  const auto out = shapeOf(op.output, batch);
  const float* x = tensor(op.inputs[0]);
  float* y = tensor(op.output);
  const int64_t n = out[0];
  const Isa isa = isa_;
  float* shared = scratch_ + perThreadScratch_ * pool_.threads();

  switch (op.type) {
    case OpType::Conv2d: {
      const int64_t g = op.groups, c = in[1], cg = c / g, mg = op.outChannels / g;
      const int64_t hw = in[2] * in[3], p = out[2] * out[3];
      const int64_t k = cg * op.kernelH * op.kernelW;
      const int64_t blocks = ceilDiv(mg, kernels::kGemmRows);
      auto gemmTask = [&, k, p](int64_t img, int64_t gi, int64_t b, const float* cols, int64_t ldx) {
        const int rows = int(std::min<int64_t>(kernels::kGemmRows, mg - b * kernels::kGemmRows));
        float* yb = y + (img * op.outChannels + gi * mg + b * kernels::kGemmRows) * p;
        kernels::gemmBlock(isa, pr.packed[gi].data() + b * k * kernels::kGemmRows, pr.bias8[gi].data() + b * 8, rows,
                           k, cols, ldx, p, op.act, yb, p);
      };
      if (pr.direct) {
        pool_.parallelFor(n * g * blocks, [&](int64_t t, int) {
          const int64_t img = t / (g * blocks), gi = (t / blocks) % g, b = t % blocks;
          gemmTask(img, gi, b, x + (img * c + gi * cg) * hw, hw);
        });
      } else if (memory_.batch * g == 1) {  // scratch was sized for this case
        kernels::im2col(x, hw, pr.geom, shared);
        pool_.parallelFor(blocks, [&](int64_t b, int) { gemmTask(0, 0, b, shared, p); });
      } else {
        pool_.parallelFor(n * g, [&](int64_t t, int thread) {
          const int64_t img = t / g, gi = t % g;
          float* cols = scratch_ + perThreadScratch_ * thread;
          kernels::im2col(x + (img * c + gi * cg) * hw, hw, pr.geom, cols);
          for (int64_t b = 0; b < blocks; ++b) gemmTask(img, gi, b, cols, p);
        });
      }
      return;
    }
    case OpType::DepthwiseConv2d: {
      const int64_t c = in[1], hw = in[2] * in[3], p = out[2] * out[3], kk = int64_t(op.kernelH) * op.kernelW;
      pool_.parallelFor(n * c, [&](int64_t t, int thread) {
        const int64_t ch = t % c;
        kernels::depthwisePlane(isa, x + t * hw, op.weight.data() + ch * kk, op.bias.empty() ? 0.f : op.bias[ch],
                                pr.dw, op.act, y + t * p, scratch_ + perThreadScratch_ * thread);
      });
      return;
    }
    case OpType::Linear: {
      const int64_t f = shapeElements(in) / n, o = op.outChannels, chunks = ceilDiv(o, 16);
      pool_.parallelFor(n * chunks, [&](int64_t t, int) {
        const int64_t img = t / chunks, o0 = (t % chunks) * 16, o1 = std::min(o, o0 + 16);
        float* yi = y + img * o;
        for (int64_t j = o0; j < o1; ++j)
          yi[j] = kernels::dot(op.weight.data() + j * f, x + img * f, f) + (op.bias.empty() ? 0.f : op.bias[j]);
        kernels::applyAct(yi + o0, o1 - o0, op.act);
      });
      return;
    }
    case OpType::Add:
    case OpType::Activation: {
      const float* b = op.type == OpType::Add ? tensor(op.inputs[1]) : nullptr;
      const int64_t total = shapeElements(out);
      pool_.parallelFor(ceilDiv(total, kElemChunk), [&](int64_t t, int) {
        const int64_t i0 = t * kElemChunk, len = std::min(kElemChunk, total - i0);
        if (b) {
          kernels::addAct(x + i0, b + i0, len, op.act, y + i0);
        } else {
          std::memmove(y + i0, x + i0, size_t(len) * 4);
          kernels::applyAct(y + i0, len, op.act);
        }
      });
      return;
    }
    case OpType::Mul: {
      const float* b = tensor(op.inputs[1]);
      if (op.broadcastChannels) {
        const int64_t planes = out[0] * out[1], hw = out[2] * out[3];
        const int64_t per = std::max<int64_t>(1, kPlaneWork / hw);
        pool_.parallelFor(ceilDiv(planes, per), [&](int64_t t, int) {
          for (int64_t q = t * per; q < std::min(planes, (t + 1) * per); ++q)
            kernels::mulScalar(x + q * hw, b[q], hw, y + q * hw);
        });
      } else {
        const int64_t total = shapeElements(out);
        pool_.parallelFor(ceilDiv(total, kElemChunk), [&](int64_t t, int) {
          const int64_t i0 = t * kElemChunk;
          kernels::mul(x + i0, b + i0, std::min(kElemChunk, total - i0), y + i0);
        });
      }
      return;
    }
    case OpType::AvgPool:
    case OpType::MaxPool:
    case OpType::GlobalAvgPool: {
      const int64_t planes = in[0] * in[1], hw = in[2] * in[3], ohw = out[2] * out[3];
      const int64_t per = std::max<int64_t>(1, kPlaneWork / hw);
      pool_.parallelFor(ceilDiv(planes, per), [&](int64_t t, int) {
        for (int64_t q = t * per; q < std::min(planes, (t + 1) * per); ++q) {
          if (op.type == OpType::GlobalAvgPool)
            y[q] = kernels::planeMean(x + q * hw, hw);
          else if (op.type == OpType::AvgPool)
            kernels::avgPoolPlane(x + q * hw, in[2], in[3], op, out[2], out[3], y + q * ohw);
          else
            kernels::maxPoolPlane(x + q * hw, in[2], in[3], op, out[2], out[3], y + q * ohw);
        }
      });
      return;
    }
    case OpType::SqueezeExcite: {
      const int64_t c = in[1], r = op.outChannels, hw = in[2] * in[3];
      float* gates = shared;           // [n, c]
      float* hidden = shared + n * c;  // [n, r]
      pool_.parallelFor(n, [&](int64_t img, int) {
        float* s = gates + img * c;
        float* h = hidden + img * r;
        for (int64_t ch = 0; ch < c; ++ch) s[ch] = kernels::planeMean(x + (img * c + ch) * hw, hw);
        for (int64_t j = 0; j < r; ++j)
          h[j] = kernels::dot(op.weight.data() + j * c, s, c) + (op.bias.empty() ? 0.f : op.bias[j]);
        kernels::applyAct(h, r, op.act);
        for (int64_t ch = 0; ch < c; ++ch)
          s[ch] = kernels::dot(op.weight2.data() + ch * r, h, r) + (op.bias2.empty() ? 0.f : op.bias2[ch]);
        kernels::applyAct(s, c, op.gate);
      });
      const int64_t planes = n * c, per = std::max<int64_t>(1, kPlaneWork / hw);
      pool_.parallelFor(ceilDiv(planes, per), [&](int64_t t, int) {
        for (int64_t q = t * per; q < std::min(planes, (t + 1) * per); ++q)
          kernels::mulScalar(x + q * hw, gates[q], hw, y + q * hw);
      });
      return;
    }
    case OpType::Concat: {
      const int64_t inner = shapeElements(out) / (out[0] * out[1]);
      const int64_t parts = int64_t(op.inputs.size());
      pool_.parallelFor(n * parts, [&](int64_t t, int) {
        const int64_t img = t / parts, part = t % parts;
        int64_t c0 = 0;
        for (int64_t j = 0; j < part; ++j) c0 += plan_.tensors[op.inputs[j]].shape[1];
        const int64_t cj = plan_.tensors[op.inputs[part]].shape[1];
        const float* src = tensor(op.inputs[part]) + img * cj * inner;
        std::memcpy(y + (img * out[1] + c0) * inner, src, size_t(cj * inner) * 4);
      });
      return;
    }
    case OpType::Flatten:
      std::memcpy(y, x, size_t(shapeElements(out)) * 4);
      return;
    case OpType::Quantize:
    case OpType::Dequantize:
    case OpType::Count:
      break;
  }
  throw RuntimeError("executor: op #" + std::to_string(index) + " has an unknown type");
}

}  // namespace hwnas::runtime
