#include "exporter/cuda_codegen.h"

#include <climits>
#include <sstream>

#include "core/error.h"
#include "exporter/backend_util.h"

namespace hwnas {

namespace bd = backend_detail;
namespace rt = runtime;

namespace {

constexpr int kThreads = 256;  // threads per block of the elementwise-style kernels
constexpr int kTile = 16;      // GEMM tile (kTile x kTile threads)

int64_t perImage(const rt::Plan& p, int32_t t) {
  const auto& s = p.tensors[t].shape;
  return rt::shapeElements(s) / s[0];
}

std::string actCall(const std::string& v, rt::Act a) {
  if (a == rt::Act::Identity) return v;
  return "hwnas_act(" + v + ", " + std::to_string(int(a)) + " /* " + rt::actName(a) + " */)";
}

// A 1x1, stride 1, unpadded, ungrouped convolution: a GEMM per image.
bool isPointwise(const rt::PlanOp& op) {
  return op.type == rt::OpType::Conv2d && op.kernelH == 1 && op.kernelW == 1 && op.strideH == 1 && op.strideW == 1 &&
         op.padH == 0 && op.padW == 0 && op.groups == 1;
}

struct Offsets {
  std::vector<int64_t> weight, bias, weight2, bias2;  // -1: empty
  int64_t total = 0;
};

Offsets weightOffsets(const rt::Plan& p) {
  Offsets o;
  auto take = [&](const std::vector<float>& v, std::vector<int64_t>& dst) {
    dst.push_back(v.empty() ? -1 : o.total);
    o.total += int64_t(v.size());
  };
  for (const rt::PlanOp& op : p.ops) {
    take(op.weight, o.weight);
    take(op.bias, o.bias);
    take(op.weight2, o.weight2);
    take(op.bias2, o.bias2);
  }
  return o;
}

struct KernelText {
  std::string code;     // the __global__ function
  std::string launch;   // host statement(s)
};

// Emits kernel + launch for op i. Params: inputs x0.., then weight pointers that exist, then y, n.
KernelText emitOp(const rt::Plan& p, size_t i, const Offsets& off) {
  const rt::PlanOp& op = p.ops[i];
  const std::string kname = "op" + std::to_string(i) + "_" + bd::identifier(rt::opTypeName(op.type));
  const auto& is = p.tensors[op.inputs[0]].shape;
  const auto& os = p.tensors[op.output].shape;
  const int64_t outPer = perImage(p, op.output);
  std::ostringstream k, l;
  // signature
  std::vector<std::string> params, args;
  for (size_t j = 0; j < op.inputs.size(); ++j) {
    params.push_back("const float* __restrict__ x" + std::to_string(j));
    args.push_back("buffers_[" + std::to_string(op.inputs[j]) + "]");
  }
  auto weightParam = [&](const char* name, int64_t o) {
    if (o < 0) return;
    params.push_back(std::string("const float* __restrict__ ") + name);
    args.push_back("weights_ + " + std::to_string(o));
  };
  weightParam("w", off.weight[i]);
  weightParam("b", off.bias[i]);
  weightParam("w2", off.weight2[i]);
  weightParam("b2", off.bias2[i]);
  params.push_back("float* __restrict__ y");
  params.push_back("int n");
  args.push_back("buffers_[" + std::to_string(op.output) + "]");
  args.push_back("int(batch)");
  const bool hasBias = off.bias[i] >= 0, hasBias2 = off.bias2[i] >= 0;
  k << "// op " << i << " '" << op.name << "': " << op.key << "\n__global__ void " << kname << "(";
  for (size_t j = 0; j < params.size(); ++j) k << (j ? ", " : "") << params[j];
  k << ") {\n";
  std::string argList;
  for (size_t j = 0; j < args.size(); ++j) argList += ", " + args[j];
  auto flatLaunch = [&](int64_t per) {
    l << "  HWNAS_LAUNCH(" << kname << ", dim3(unsigned((batch * " << per << " + " << kThreads - 1 << ") / "
      << kThreads << ")), dim3(" << kThreads << ")" << argList << ");\n";
  };
  auto flatIndex = [&](int64_t per) {
    k << "  const int idx = int(blockIdx.x * blockDim.x + threadIdx.x);\n"
      << "  if (idx >= n * " << per << ") return;\n";
  };
  const std::string bias0 = hasBias ? "b[o]" : "0.f";
  switch (op.type) {
    case rt::OpType::Conv2d:
    case rt::OpType::DepthwiseConv2d: {
      const int64_t C = is[1], H = is[2], W = is[3], M = os[1], OH = os[2], OW = os[3];
      if (isPointwise(op)) {
        const int64_t K = C, P = H * W;
        k << "  // Y[m, p] = act(b[m] + sum_k W[m, k] X[k, p]) per image, " << kTile << "x" << kTile << " tiles in shared memory\n"
          << "  __shared__ float ws[" << kTile << "][" << kTile + 1 << "];\n"
          << "  __shared__ float xs[" << kTile << "][" << kTile + 1 << "];\n"
          << "  const int img = int(blockIdx.z);\n"
          << "  const int row = int(blockIdx.y) * " << kTile << " + int(threadIdx.y);\n"
          << "  const int col = int(blockIdx.x) * " << kTile << " + int(threadIdx.x);\n"
          << "  const float* xi = x0 + (long long)img * " << K * P << ";\n"
          << "  float s = " << (hasBias ? "row < " + std::to_string(M) + " ? b[row] : 0.f" : "0.f") << ";\n"
          << "  for (int k0 = 0; k0 < " << K << "; k0 += " << kTile << ") {\n"
          << "    const int wk = k0 + int(threadIdx.x), xk = k0 + int(threadIdx.y);\n"
          << "    ws[threadIdx.y][threadIdx.x] = (row < " << M << " && wk < " << K << ") ? w[row * " << K
          << " + wk] : 0.f;\n"
          << "    xs[threadIdx.y][threadIdx.x] = (xk < " << K << " && col < " << P << ") ? xi[xk * " << P
          << " + col] : 0.f;\n"
          << "    __syncthreads();\n"
          << "    for (int kk = 0; kk < " << kTile << "; ++kk) s += ws[threadIdx.y][kk] * xs[kk][threadIdx.x];\n"
          << "    __syncthreads();\n"
          << "  }\n"
          << "  if (row < " << M << " && col < " << P << ") y[((long long)img * " << M << " + row) * " << P
          << " + col] = " << actCall("s", op.act) << ";\n";
        l << "  HWNAS_LAUNCH_SYNC(" << kname << ", dim3(" << (P + kTile - 1) / kTile << ", "
          << (M + kTile - 1) / kTile << ", unsigned(batch)), dim3(" << kTile << ", " << kTile << ")" << argList
          << ");\n";
        break;
      }
      const bool dw = op.type == rt::OpType::DepthwiseConv2d;
      const int64_t G = dw ? C : op.groups, CG = C / G, MG = M / G;
      flatIndex(outPer);
      k << "  const int ow = idx % " << OW << ", oh = (idx / " << OW << ") % " << OH << ";\n"
        << "  const int o = (idx / " << OW * OH << ") % " << M << ", img = idx / " << OW * OH * M << ";\n"
        << "  const int g = o / " << MG << ";\n"
        << "  float s = " << bias0 << ";\n"
        << "  for (int ci = 0; ci < " << CG << "; ++ci) {\n"
        << "    const float* xp = x0 + ((long long)img * " << C << " + g * " << CG << " + ci) * " << H * W << ";\n"
        << "    const float* wp = w + (o * " << CG << " + ci) * " << op.kernelH * op.kernelW << ";\n"
        << "    for (int i = 0; i < " << op.kernelH << "; ++i) {\n"
        << "      const int ih = oh * " << op.strideH << " - " << op.padH << " + i * " << op.dilationH << ";\n"
        << "      if (ih < 0 || ih >= " << H << ") continue;\n"
        << "      for (int j = 0; j < " << op.kernelW << "; ++j) {\n"
        << "        const int iw = ow * " << op.strideW << " - " << op.padW << " + j * " << op.dilationW << ";\n"
        << "        if (iw < 0 || iw >= " << W << ") continue;\n"
        << "        s += xp[ih * " << W << " + iw] * wp[i * " << op.kernelW << " + j];\n"
        << "      }\n    }\n  }\n"
        << "  y[idx] = " << actCall("s", op.act) << ";\n";
      flatLaunch(outPer);
      break;
    }
    case rt::OpType::Linear: {
      const int64_t F = perImage(p, op.inputs[0]), M = op.outChannels;
      flatIndex(M);
      k << "  const int o = idx % " << M << ", img = idx / " << M << ";\n"
        << "  const float* xi = x0 + (long long)img * " << F << ";\n"
        << "  const float* wo = w + (long long)o * " << F << ";\n"
        << "  float s = " << bias0 << ";\n"
        << "  for (int f = 0; f < " << F << "; ++f) s += wo[f] * xi[f];\n"
        << "  y[idx] = " << actCall("s", op.act) << ";\n";
      flatLaunch(M);
      break;
    }
    case rt::OpType::Add:
      flatIndex(outPer);
      k << "  y[idx] = " << actCall("x0[idx] + x1[idx]", op.act) << ";\n";
      flatLaunch(outPer);
      break;
    case rt::OpType::Mul:
      flatIndex(outPer);
      if (op.broadcastChannels)
        k << "  y[idx] = x0[idx] * x1[idx / " << os[2] * os[3] << "];\n";
      else
        k << "  y[idx] = x0[idx] * x1[idx];\n";
      flatLaunch(outPer);
      break;
    case rt::OpType::AvgPool:
    case rt::OpType::MaxPool: {
      const bool mx = op.type == rt::OpType::MaxPool;
      const int64_t H = is[2], W = is[3], OH = os[2], OW = os[3];
      flatIndex(outPer);
      k << "  const int ow = idx % " << OW << ", oh = (idx / " << OW << ") % " << OH << ", q = idx / " << OW * OH
        << ";\n"
        << "  const float* xp = x0 + (long long)q * " << H * W << ";\n"
        << "  float s = " << (mx ? "-INFINITY" : "0.f") << ";\n"
        << "  for (int i = 0; i < " << op.kernelH << "; ++i) {\n"
        << "    const int ih = oh * " << op.strideH << " - " << op.padH << " + i;\n"
        << "    if (ih < 0 || ih >= " << H << ") continue;\n"
        << "    for (int j = 0; j < " << op.kernelW << "; ++j) {\n"
        << "      const int iw = ow * " << op.strideW << " - " << op.padW << " + j;\n"
        << "      if (iw < 0 || iw >= " << W << ") continue;\n"
        << (mx ? "      s = fmaxf(s, xp[ih * " + std::to_string(W) + " + iw]);\n"
               : "      s += xp[ih * " + std::to_string(W) + " + iw];\n")
        << "    }\n  }\n"
        << "  y[idx] = " << (mx ? "s" : "s / " + bd::floatLiteral(float(op.kernelH * op.kernelW))) << ";\n";
      flatLaunch(outPer);
      break;
    }
    case rt::OpType::GlobalAvgPool: {
      const int64_t HW = is[2] * is[3];
      flatIndex(outPer);
      k << "  const float* xp = x0 + (long long)idx * " << HW << ";\n"
        << "  float s = 0.f;\n"
        << "  for (int i = 0; i < " << HW << "; ++i) s += xp[i];\n"
        << "  y[idx] = s / " << bd::floatLiteral(float(HW)) << ";\n";
      flatLaunch(outPer);
      break;
    }
    case rt::OpType::SqueezeExcite: {
      const int64_t C = is[1], HW = is[2] * is[3], R = op.outChannels;
      k << "  // one block per image: channel means, the reduce 1x1 + act, the expand 1x1 + gate, the scale\n"
        << "  __shared__ float mean[" << C << "];\n  __shared__ float hidden[" << R << "];\n"
        << "  __shared__ float gate[" << C << "];\n"
        << "  const long long img = blockIdx.x;\n"
        << "  const float* xi = x0 + img * " << C * HW << ";\n  float* yi = y + img * " << C * HW << ";\n"
        << "  for (int c = int(threadIdx.x); c < " << C << "; c += int(blockDim.x)) {\n"
        << "    float s = 0.f;\n    for (int i = 0; i < " << HW << "; ++i) s += xi[c * " << HW << " + i];\n"
        << "    mean[c] = s / " << bd::floatLiteral(float(HW)) << ";\n  }\n"
        << "  __syncthreads();\n"
        << "  for (int j = int(threadIdx.x); j < " << R << "; j += int(blockDim.x)) {\n"
        << "    float s = " << (hasBias ? "b[j]" : "0.f") << ";\n"
        << "    for (int c = 0; c < " << C << "; ++c) s += w[j * " << C << " + c] * mean[c];\n"
        << "    hidden[j] = " << actCall("s", op.act) << ";\n  }\n"
        << "  __syncthreads();\n"
        << "  for (int c = int(threadIdx.x); c < " << C << "; c += int(blockDim.x)) {\n"
        << "    float s = " << (hasBias2 ? "b2[c]" : "0.f") << ";\n"
        << "    for (int j = 0; j < " << R << "; ++j) s += w2[c * " << R << " + j] * hidden[j];\n"
        << "    gate[c] = " << actCall("s", op.gate) << ";\n  }\n"
        << "  __syncthreads();\n"
        << "  for (int i = int(threadIdx.x); i < " << C * HW << "; i += int(blockDim.x)) yi[i] = xi[i] * gate[i / "
        << HW << "];\n";
      l << "  HWNAS_LAUNCH_SYNC(" << kname << ", dim3(unsigned(batch)), dim3(" << kThreads << ")" << argList
        << ");\n";
      break;
    }
    case rt::OpType::Concat: {
      const int64_t Ct = os[1], inner = outPer / Ct;
      flatIndex(outPer);
      k << "  const int r = idx % " << inner << ", c = (idx / " << inner << ") % " << Ct << ", img = idx / "
        << inner * Ct << ";\n";
      int64_t c0 = 0;
      for (size_t j = 0; j < op.inputs.size(); ++j) {
        const int64_t cj = p.tensors[op.inputs[j]].shape[1];
        k << "  " << (j ? "else " : "") << "if (c < " << c0 + cj << ") y[idx] = x" << j << "[((long long)img * " << cj
          << " + c - " << c0 << ") * " << inner << " + r];\n";
        c0 += cj;
      }
      flatLaunch(outPer);
      break;
    }
    case rt::OpType::Flatten:
      flatIndex(outPer);
      k << "  y[idx] = x0[idx];\n";
      flatLaunch(outPer);
      break;
    case rt::OpType::Activation:
      flatIndex(outPer);
      k << "  y[idx] = " << actCall("x0[idx]", op.act) << ";\n";
      flatLaunch(outPer);
      break;
    case rt::OpType::Quantize:
    case rt::OpType::Dequantize:  // requireFloatPlan refuses int8 plans before code is generated
    case rt::OpType::Count:
      throw Error("cuda backend: op #" + std::to_string(i) + " '" + op.name + "' (" + rt::opTypeName(op.type) +
                  ") has no fp32 kernel");
  }
  k << "}\n\n";
  return {k.str(), l.str()};
}

}  // namespace

std::string cudaWeightsFile(const rt::Plan& plan) {
  std::vector<float> all;
  for (const rt::PlanOp& op : plan.ops)
    for (const auto* v : {&op.weight, &op.bias, &op.weight2, &op.bias2}) all.insert(all.end(), v->begin(), v->end());
  std::string s = "HWNASCUW";
  auto u32 = [&](uint32_t v) {
    for (int b = 0; b < 4; ++b) s += char((v >> (8 * b)) & 0xff);
  };
  auto u64 = [&](uint64_t v) {
    for (int b = 0; b < 8; ++b) s += char((v >> (8 * b)) & 0xff);
  };
  u32(1);
  u32(0);
  u64(all.size());
  s += bd::floatBytes(all);
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  u64(h);
  return s;
}

std::string cudaModelSource(const rt::Plan& plan, const std::string& modelName, int64_t maxBatch) {
  bd::requireFloatPlan(plan, "cuda");
  const Offsets off = weightOffsets(plan);
  for (size_t t = 0; t < plan.tensors.size(); ++t)
    if (double(perImage(plan, int32_t(t))) * double(maxBatch) >= double(INT_MAX))
      throw InputError("cuda backend: tensor " + std::to_string(t) + " (" + rt::shapeText(plan.tensors[t].shape) +
                       ") at max batch " + std::to_string(maxBatch) +
                       " has more than 2^31 elements (the kernels index with int); lower --max-batch");
  std::ostringstream o, launches;
  o << "// Generated by hwnas (target cuda) for model '" << modelName << "': " << plan.ops.size()
    << " kernels, fp32, one per fused plan op (BN folded, activations fused).\n"
    << "// nvcc -O3 -std=c++17 -o example model.cu main.cpp        (a GPU)\n"
    << "// g++ -O2 -std=c++17 -DHWNAS_CUDA_HOST_SHIM -x c++ model.cu -x none main.cpp -o example_host\n"
    << "#include \"model.h\"\n\n"
    << "#include <cstdint>\n#include <fstream>\n#include <iterator>\n#include <stdexcept>\n#include <string>\n\n"
    << "#ifdef HWNAS_CUDA_HOST_SHIM\n#include \"cuda_host_shim.h\"\n"
    << "#define HWNAS_LAUNCH(kernel, grid, block, ...) \\\n"
    << "  ::hwnas_shim::launch(grid, block, false, [&] { kernel(__VA_ARGS__); })\n"
    << "#define HWNAS_LAUNCH_SYNC(kernel, grid, block, ...) \\\n"
    << "  ::hwnas_shim::launch(grid, block, true, [&] { kernel(__VA_ARGS__); })\n"
    << "#else\n#include <cuda_runtime.h>\n"
    << "#define HWNAS_LAUNCH(kernel, grid, block, ...) kernel<<<grid, block>>>(__VA_ARGS__)\n"
    << "#define HWNAS_LAUNCH_SYNC(kernel, grid, block, ...) kernel<<<grid, block>>>(__VA_ARGS__)\n"
    << "#endif\n\n"
    << "#define HWNAS_CUDA_CHECK(call)                                                              \\\n"
    << "  do {                                                                                    \\\n"
    << "    const cudaError_t e_ = (call);                                                        \\\n"
    << "    if (e_ != cudaSuccess)                                                                \\\n"
    << "      throw std::runtime_error(std::string(\"cuda: \") + #call + \": \" + cudaGetErrorString(e_)); \\\n"
    << "  } while (0)\n\n"
    << "namespace hwnas_model {\nnamespace {\n\n"
    << "// The runtime's activations (runtime/kernels.cpp), by runtime::Act value.\n"
    << "__device__ __forceinline__ float hwnas_act(float v, int act) {\n"
    << "  switch (act) {\n"
    << "    case 1: return v > 0.f ? v : 0.f;\n"
    << "    case 2: return fminf(fmaxf(v, 0.f), 6.f);\n"
    << "    case 3: return v * fminf(fmaxf(v + 3.f, 0.f), 6.f) / 6.f;\n"
    << "    case 4: return fminf(fmaxf(v + 3.f, 0.f), 6.f) / 6.f;\n"
    << "    case 5: return v / (1.f + expf(-v));\n"
    << "    case 6: return 1.f / (1.f + expf(-v));\n"
    << "    default: return v;\n"
    << "  }\n}\n\n";
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const KernelText kt = emitOp(plan, i, off);
    o << kt.code;
    launches << kt.launch;
  }
  o << "constexpr int64_t kTensorFloats[" << plan.tensors.size() << "] = {";
  for (size_t t = 0; t < plan.tensors.size(); ++t) o << (t ? ", " : "") << perImage(plan, int32_t(t));
  o << "};  // per image\n"
    << "constexpr uint64_t kWeightFloats = " << off.total << ";\n\n"
    << "uint64_t fnv1a(const std::string& s, size_t n) {\n"
    << "  uint64_t h = 14695981039346656037ull;\n"
    << "  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 1099511628211ull;\n"
    << "  return h;\n}\n\n"
    << "uint64_t readU64(const std::string& s, size_t at) {\n"
    << "  uint64_t v = 0;\n  for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(s[at + b]);\n"
    << "  return v;\n}\n\n"
    << "}  // namespace\n\n"
    << "CudaModel::CudaModel(const std::string& weightsPath) {\n"
    << "  std::ifstream f(weightsPath, std::ios::binary);\n"
    << "  if (!f) throw std::runtime_error(weightsPath + \": cannot open the weights file\");\n"
    << "  const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());\n"
    << "  const size_t expected = 24 + kWeightFloats * 4 + 8;\n"
    << "  if (s.size() != expected || s.compare(0, 8, \"HWNASCUW\") != 0 || readU64(s, 16) != kWeightFloats)\n"
    << "    throw std::runtime_error(weightsPath + \": not the weights.bin of this model (expected \" +\n"
    << "                             std::to_string(expected) + \" bytes, magic HWNASCUW); regenerate\");\n"
    << "  if (fnv1a(s, s.size() - 8) != readU64(s, s.size() - 8))\n"
    << "    throw std::runtime_error(weightsPath + \": checksum mismatch (corrupt file)\");\n"
    << "  std::vector<float> host(kWeightFloats);\n"
    << "  for (uint64_t i = 0; i < kWeightFloats; ++i) {\n"
    << "    uint32_t u = 0;\n"
    << "    for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<unsigned char>(s[24 + i * 4 + b]);\n"
    << "    std::memcpy(&host[i], &u, 4);\n  }\n"
    << "  HWNAS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&weights_), (kWeightFloats ? kWeightFloats : 1) * sizeof(float)));\n"
    << "  HWNAS_CUDA_CHECK(cudaMemcpy(weights_, host.data(), kWeightFloats * sizeof(float), cudaMemcpyHostToDevice));\n"
    << "  buffers_.assign(" << plan.tensors.size() << ", nullptr);\n"
    << "  for (size_t t = 0; t < buffers_.size(); ++t)\n"
    << "    HWNAS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&buffers_[t]), kMaxBatch * kTensorFloats[t] * sizeof(float)));\n"
    << "}\n\n"
    << "CudaModel::~CudaModel() {\n"
    << "  for (float* b : buffers_) cudaFree(b);\n  cudaFree(weights_);\n}\n\n"
    << "void CudaModel::run(const float* in, float* out, int64_t batch) {\n"
    << "  if (batch < 1 || batch > kMaxBatch)\n"
    << "    throw std::runtime_error(\"CudaModel::run: batch \" + std::to_string(batch) + \" is outside 1..\" +\n"
    << "                             std::to_string(kMaxBatch) + \" (the buffers' size; regenerate with a larger max batch)\");\n"
    << "  HWNAS_CUDA_CHECK(cudaMemcpy(buffers_[" << plan.inputs[0] << "], in, batch * kInputSize * sizeof(float), cudaMemcpyHostToDevice));\n"
    << launches.str()
    << "  HWNAS_CUDA_CHECK(cudaGetLastError());\n"
    << "  HWNAS_CUDA_CHECK(cudaMemcpy(out, buffers_[" << plan.outputs[0] << "], batch * kOutputSize * sizeof(float), cudaMemcpyDeviceToHost));\n"
    << "}\n\n}  // namespace hwnas_model\n";
  (void)maxBatch;
  return o.str();
}

namespace {

std::string cudaHeader(const std::string& modelName, const rt::Plan& plan, int64_t maxBatch) {
  std::ostringstream o;
  o << "// Generated by hwnas (target cuda) for model '" << modelName << "'. Host API: no CUDA types.\n"
    << "#pragma once\n#include <cstdint>\n#include <cstring>\n#include <string>\n#include <vector>\n\n"
    << "namespace hwnas_model {\n\n"
    << "class CudaModel {\n public:\n"
    << "  static constexpr int64_t kInputSize = " << perImage(plan, plan.inputs[0]) << ";   // floats per image\n"
    << "  static constexpr int64_t kOutputSize = " << perImage(plan, plan.outputs[0]) << ";  // floats per image\n"
    << "  static constexpr int64_t kMaxBatch = " << maxBatch << ";\n"
    << "  // Reads weights.bin (std::runtime_error naming it when missing or not this model's) and\n"
    << "  // allocates the device buffers.\n"
    << "  explicit CudaModel(const std::string& weightsPath);\n  ~CudaModel();\n"
    << "  CudaModel(const CudaModel&) = delete;\n  CudaModel& operator=(const CudaModel&) = delete;\n"
    << "  // Host pointers: in batch x kInputSize floats (NCHW), out batch x kOutputSize; 1 <= batch <= kMaxBatch.\n"
    << "  void run(const float* in, float* out, int64_t batch);\n\n"
    << " private:\n  float* weights_ = nullptr;        // device\n"
    << "  std::vector<float*> buffers_;     // device, one per plan tensor\n};\n\n}  // namespace hwnas_model\n";
  return o.str();
}

std::string cudaMain(const std::string& modelName) {
  std::ostringstream o;
  o << "// Example for model '" << modelName << "' (generated by hwnas, target cuda).\n"
    << "// usage: example [--weights weights.bin] [--input in.f32] [--batch N]\n"
    << "// in.f32 holds batch x kInputSize little-endian float32 values; without it the input is the fixed\n"
    << "// pattern x[i] = ((i * 37) % 101) / 50.0 - 1. Prints one output value per line.\n"
    << "#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <exception>\n#include <fstream>\n"
    << "#include <string>\n#include <vector>\n\n#include \"model.h\"\n\n"
    << "int main(int argc, char** argv) {\n"
    << "  std::string weightsPath = \"weights.bin\", inputPath;\n  long batch = 1;\n"
    << "  for (int i = 1; i + 1 < argc; i += 2) {\n"
    << "    if (!std::strcmp(argv[i], \"--weights\")) weightsPath = argv[i + 1];\n"
    << "    else if (!std::strcmp(argv[i], \"--input\")) inputPath = argv[i + 1];\n"
    << "    else if (!std::strcmp(argv[i], \"--batch\")) batch = std::atol(argv[i + 1]);\n"
    << "    else { std::fprintf(stderr, \"example: unknown flag %s\\n\", argv[i]); return 2; }\n"
    << "  }\n"
    << "  try {\n"
    << "    hwnas_model::CudaModel model(weightsPath);\n"
    << "    std::vector<float> x(size_t(batch * hwnas_model::CudaModel::kInputSize));\n"
    << "    if (!inputPath.empty()) {\n"
    << "      std::ifstream f(inputPath, std::ios::binary);\n"
    << "      if (!f.read(reinterpret_cast<char*>(x.data()), std::streamsize(x.size() * sizeof(float)))) {\n"
    << "        std::fprintf(stderr, \"example: %s: cannot read %zu floats\\n\", inputPath.c_str(), x.size());\n"
    << "        return 2;\n      }\n"
    << "    } else {\n"
    << "      for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 37) % 101) / 50.0f - 1.0f;\n"
    << "    }\n"
    << "    std::vector<float> y(size_t(batch * hwnas_model::CudaModel::kOutputSize));\n"
    << "    model.run(x.data(), y.data(), batch);\n"
    << "    for (float v : y) std::printf(\"%.9g\\n\", double(v));\n"
    << "  } catch (const std::exception& e) {\n"
    << "    std::fprintf(stderr, \"example: %s\\n\", e.what());\n    return 1;\n  }\n"
    << "  return 0;\n}\n";
  return o.str();
}

std::string cudaReadme(const std::string& modelName, const rt::Plan& plan, int64_t maxBatch) {
  std::ostringstream o;
  o << "# " << modelName << ": CUDA source (generated by hwnas)\n\n"
    << "fp32 kernels, one per fused op of the lowered plan (" << plan.ops.size() << " ops; BN folded, activations\n"
    << "fused), device buffers for up to " << maxBatch << " images.\n\n"
    << "```sh\n# with a GPU and the CUDA toolkit\nnvcc -O3 -std=c++17 -o example model.cu main.cpp\n"
    << "./example --weights weights.bin\n\n# without a GPU: the same kernels as host C++ through cuda_host_shim.h\n"
    << "g++ -O2 -std=c++17 -DHWNAS_CUDA_HOST_SHIM -x c++ model.cu -x none main.cpp -o example_host\n"
    << "./example_host --weights weights.bin --input x.f32 --batch 4\n```\n\n"
    << "- `model.h`: `hwnas_model::CudaModel(weightsPath)`, `run(hostIn, hostOut, batch)`.\n"
    << "- `weights.bin`: magic `HWNASCUW`, u32 version 1, u32 0, u64 float count, float32 values,\n"
    << "  u64 FNV-1a 64 checksum (little-endian).\n"
    << "- int8 (`__dp4a`) kernels are not generated yet: this backend writes fp32 only.\n\n"
    << "| # | kernel | key |\n|---|---|---|\n";
  for (size_t i = 0; i < plan.ops.size(); ++i)
    o << "| " << i << " | op" << i << "_" << bd::identifier(rt::opTypeName(plan.ops[i].type)) << " | `"
      << plan.ops[i].key << "` |\n";
  return o.str();
}

}  // namespace

BackendResult CudaBackend::write(const ExportModel& model, const std::string& outDir,
                                 const BackendOptions& options) const {
  if (options.maxBatch < 1) throw InputError("cuda backend: max batch must be >= 1");
  const rt::Plan plan = bd::lowerForBackend(model, "cuda", options);
  bd::requireFloatPlan(plan, "cuda");
  const std::string src = backendSourceDir(options);
  const std::string cu = cudaModelSource(plan, model.name, options.maxBatch);
  bd::StagedOutput out(outDir, options.replace);
  out.write("model.cu", cu);
  out.write("model.h", cudaHeader(model.name, plan, options.maxBatch));
  out.write("main.cpp", cudaMain(model.name));
  out.write("weights.bin", cudaWeightsFile(plan));
  out.copyFrom(src + "/exporter/cuda_host_shim.h", "cuda_host_shim.h");
  out.write("README.md", cudaReadme(model.name, plan, options.maxBatch));
  return out.commit({"cuda: " + std::to_string(plan.ops.size()) +
                     " fp32 kernels; int8 (dp4a) kernels not generated yet (fp32 only)"});
}

}  // namespace hwnas
