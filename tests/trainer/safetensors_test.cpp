#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs_util.h"
#include "trainer/safetensors.h"

using namespace hwnas;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes readBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void writeBytes(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), (std::streamsize)b.size());
}

// A file made of the given header text (not padded) followed by `dataBytes` bytes.
Bytes rawFile(const std::string& header, size_t dataBytes) {
  Bytes b(8 + header.size() + dataBytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) b[i] = (uint8_t)(n >> (8 * i));
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

Tensor ramp(Shape shape, float scale) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = scale * (float)i - 0.5f + 1e-7f * (float)(i * i);
  return t;
}

SafetensorsData sample() {
  SafetensorsData d;
  d.tensors["stem.conv.weight"] = ramp({8, 1, 3, 3}, 0.013f);
  d.tensors["head.bias"] = ramp({10}, -1.5f);
  d.tensors["scalar"] = Tensor::full({}, 3.25f);
  d.tensors["empty"] = Tensor::empty({0, 4});
  d.tensors["bn.running_var"] = Tensor::fromVector({3}, {1e-30f, -0.f, 3.4e38f});
  d.int64s["step"] = Int64Array{{1}, {123456789012345ll}};
  d.int64s["counts"] = Int64Array{{2, 2}, {-1, 0, 1, (int64_t)1 << 62}};
  d.metadata["format"] = "pt";
  d.metadata["arch"] = "{\"blocks\": [1, 2]}";
  return d;
}

void expectSame(const SafetensorsData& a, const SafetensorsData& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& kv : a.tensors) {
    auto it = b.tensors.find(kv.first);
    ASSERT_NE(it, b.tensors.end()) << kv.first;
    ASSERT_EQ(it->second.shape(), kv.second.shape()) << kv.first;
    EXPECT_EQ(0, std::memcmp(it->second.data(), kv.second.data(), kv.second.numel() * sizeof(float))) << kv.first;
  }
  ASSERT_EQ(a.int64s.size(), b.int64s.size());
  for (const auto& kv : a.int64s) {
    auto it = b.int64s.find(kv.first);
    ASSERT_NE(it, b.int64s.end()) << kv.first;
    EXPECT_EQ(it->second.shape, kv.second.shape);
    EXPECT_EQ(it->second.values, kv.second.values);
  }
  EXPECT_EQ(a.metadata, b.metadata);
}

template <class F>
void expectCorrupt(F fn, const std::string& path, const std::string& what) {
  try {
    fn();
    FAIL() << "expected IoError for " << what;
  } catch (const IoError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_NE(msg.find("corrupt or truncated"), std::string::npos) << msg;
    EXPECT_EQ(e.exitCode(), 2);
  }
}

}  // namespace

TEST(Safetensors, RoundTripIsExact) {
  TempDir tmp("hwnas-safetensors-test-");
  const std::string path = tmp.file("w.safetensors");
  SafetensorsData d = sample();
  saveSafetensors(path, d);
  expectSame(d, loadSafetensors(path));
  // Overwriting an existing file works and leaves no temp files behind.
  d.tensors["head.bias"] = ramp({10}, 2.f);
  saveSafetensors(path, d);
  expectSame(d, loadSafetensors(path));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(Safetensors, VectorAndMapOverloads) {
  TempDir tmp("hwnas-safetensors-test-");
  std::vector<std::pair<std::string, Tensor>> v{{"b", ramp({2, 3}, 1.f)}, {"a", ramp({4}, 2.f)}};
  saveSafetensors(tmp.file("v.safetensors"), v, {{"k", "v"}});
  SafetensorsData got = loadSafetensors(tmp.file("v.safetensors"));
  ASSERT_EQ(got.tensors.size(), 2u);
  EXPECT_EQ(got.tensors.begin()->first, "a");
  EXPECT_EQ(got.tensors.at("b").toVector(), v[0].second.toVector());
  EXPECT_EQ(got.metadata.at("k"), "v");
  std::map<std::string, Tensor> m{{"x", ramp({3}, 1.f)}};
  saveSafetensors(tmp.file("m.safetensors"), m);
  EXPECT_EQ(loadSafetensors(tmp.file("m.safetensors")).tensors.at("x").toVector(), m["x"].toVector());
  EXPECT_TRUE(loadSafetensors(tmp.file("m.safetensors")).metadata.empty());

  v.push_back({"a", ramp({1}, 1.f)});
  EXPECT_THROW(saveSafetensors(tmp.file("dup.safetensors"), v), InputError);
  EXPECT_THROW(saveSafetensors(tmp.file("meta.safetensors"), std::map<std::string, Tensor>{{"__metadata__", ramp({1}, 1.f)}}),
               InputError);
  EXPECT_FALSE(std::filesystem::exists(tmp.file("dup.safetensors")));
  EXPECT_THROW(saveSafetensors(tmp.file("no-such-dir/x.safetensors"), m), IoError);
}

TEST(Safetensors, HeaderIsAlignedSortedJson) {
  TempDir tmp("hwnas-safetensors-test-");
  const std::string path = tmp.file("w.safetensors");
  SafetensorsData d = sample();
  saveSafetensors(path, d);
  Bytes b = readBytes(path);
  ASSERT_GE(b.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)b[i] << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_LE(8 + n, b.size());
  std::string text(b.begin() + 8, b.begin() + 8 + n);
  nlohmann::json h = nlohmann::json::parse(text);  // trailing spaces are valid JSON whitespace
  EXPECT_EQ(h["__metadata__"]["format"], "pt");
  EXPECT_EQ(h["stem.conv.weight"]["dtype"], "F32");
  EXPECT_EQ(h["stem.conv.weight"]["shape"], nlohmann::json::array({8, 1, 3, 3}));
  EXPECT_EQ(h["step"]["dtype"], "I64");
  EXPECT_EQ(h["scalar"]["shape"], nlohmann::json::array());
  // Data is laid out in sorted-name order, contiguous, and fills the rest of the file exactly.
  uint64_t expect = 0;
  std::vector<std::string> keys;
  for (auto it = h.begin(); it != h.end(); ++it)
    if (it.key() != "__metadata__") keys.push_back(it.key());
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  for (const std::string& k : keys) {
    EXPECT_EQ(h[k]["data_offsets"][0].get<uint64_t>(), expect) << k;
    expect = h[k]["data_offsets"][1].get<uint64_t>();
  }
  EXPECT_EQ(8 + n + expect, b.size());
  // The bytes of head.bias are the little-endian floats.
  const uint64_t off = 8 + n + h["head.bias"]["data_offsets"][0].get<uint64_t>();
  float first;
  std::memcpy(&first, b.data() + off, 4);
  EXPECT_EQ(first, d.tensors["head.bias"][0]);
}

TEST(Safetensors, TruncatedAndBogusFilesThrowIoError) {
  TempDir tmp("hwnas-safetensors-test-");
  const std::string good = tmp.file("good.safetensors");
  saveSafetensors(good, sample());
  Bytes b = readBytes(good);
  const std::string bad = tmp.file("bad.safetensors");

  writeBytes(bad, Bytes(b.begin(), b.begin() + 5));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "8-byte header length");
  writeBytes(bad, Bytes(b.begin(), b.begin() + 40));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "exceeds the file size");
  writeBytes(bad, Bytes(b.begin(), b.end() - 4));  // data cut short
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "beyond");
  Bytes huge = b;
  huge[6] = 0x7f;  // header length ~ 2^55
  writeBytes(bad, huge);
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "header length");

  writeBytes(bad, rawFile("{\"a\": {\"dtype\": \"F32\", ", 16));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "not valid JSON");
  writeBytes(bad, rawFile("[1, 2]  ", 0));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "not a JSON object");
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", 12));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "needs 8");
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 12));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "beyond");
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 12));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "backwards");
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "overlap");
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "shape");
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F32","shape":[2]}})", 8));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "data_offsets");
  writeBytes(bad, rawFile(R"({"__metadata__":{"k":1}})", 0));
  expectCorrupt([&] { loadSafetensors(bad); }, bad, "__metadata__");

  // An unsupported dtype is named; a missing file says so.
  writeBytes(bad, rawFile(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4));
  try {
    loadSafetensors(bad);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("F16"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos);
  }
  EXPECT_THROW(loadSafetensors(tmp.file("missing.safetensors")), IoError);
  // A valid hand-written file (no padding, zero-size tensor) loads.
  writeBytes(bad, rawFile(R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                         R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                         4));
  SafetensorsData ok = loadSafetensors(bad);
  EXPECT_EQ(ok.tensors.at("a")[0], 0.f);
  EXPECT_EQ(ok.tensors.at("z").numel(), 0);
}

namespace {

// Which Python module can read safetensors files: "safetensors", "torch", or "" (none).
std::string pythonReader() {
  if (std::system("/usr/bin/python3 -c 'import safetensors.numpy' >/dev/null 2>&1") == 0) return "safetensors";
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) return "torch";
  return "";
}

}  // namespace

TEST(Safetensors, PythonReadsOurFiles) {
  const std::string reader = pythonReader();
  if (reader.empty()) GTEST_SKIP() << "/usr/bin/python3 has neither safetensors nor torch";
  TempDir tmp("hwnas-safetensors-test-");
  const std::string path = tmp.file("w.safetensors");
  SafetensorsData d = sample();
  saveSafetensors(path, d);
  // The expected F32 values go to Python as JSON doubles (exact for every float), apart from
  // the file under test.
  nlohmann::json expected = nlohmann::json::object();
  for (const auto& kv : d.tensors) {
    nlohmann::json values = nlohmann::json::array();
    for (int64_t i = 0; i < kv.second.numel(); ++i) values.push_back((double)kv.second[i]);
    expected[kv.first] = {{"shape", kv.second.shape()}, {"values", values}};
  }
  {
    std::ofstream e(tmp.file("expected.json"));
    e << expected.dump();
  }
  const std::string script = tmp.file("check.py");
  {
    std::ofstream s(script);
    s << "import sys, json, struct\n"
         "path, reader, expected_path = sys.argv[1], sys.argv[2], sys.argv[3]\n"
         "if reader == 'safetensors':\n"
         "    from safetensors.numpy import load_file\n"
         "    from safetensors import safe_open\n"
         "    t = load_file(path)\n"
         "    with safe_open(path, framework='numpy') as f: meta = f.metadata()\n"
         "else:\n"
         "    import torch, numpy as np\n"
         "    raw = open(path, 'rb').read()\n"
         "    (n,) = struct.unpack('<Q', raw[:8])\n"
         "    assert n % 8 == 0\n"
         "    h = json.loads(raw[8:8 + n].decode('utf-8'))\n"
         "    meta = h.pop('__metadata__', None)\n"
         "    data = bytearray(raw[8 + n:])\n"
         "    dt = {'F32': torch.float32, 'I64': torch.int64}\n"
         "    t = {}\n"
         "    for k, v in h.items():\n"
         "        b, e = v['data_offsets']\n"
         "        x = torch.frombuffer(data[b:e], dtype=dt[v['dtype']]) if e > b else torch.empty(0, dtype=dt[v['dtype']])\n"
         "        t[k] = x.reshape(v['shape']).numpy()\n"
         "import numpy as np\n"
         "expected = json.load(open(expected_path))\n"
         "for k, v in expected.items():\n"
         "    assert t[k].dtype == np.float32, k\n"
         "    assert list(t[k].shape) == v['shape'], (k, t[k].shape)\n"
         "    assert t[k].astype(np.float64).flatten().tolist() == v['values'], k\n"
         "assert meta == {'format': 'pt', 'arch': '{\"blocks\": [1, 2]}'}, meta\n"
         "assert t['scalar'].shape == () and float(t['scalar']) == 3.25\n"
         "assert t['empty'].shape == (0, 4)\n"
         "assert t['bn.running_var'].tolist() == [np.float32(1e-30), 0.0, np.float32(3.4e38)]\n"
         "assert t['step'].dtype == np.int64 and t['step'].tolist() == [123456789012345]\n"
         "assert t['counts'].tolist() == [[-1, 0], [1, 1 << 62]]\n"
         "print('OK')\n";
  }
  const std::string cmd = "/usr/bin/python3 " + script + " " + path + " " + reader + " " + tmp.file("expected.json") +
                          " > " + tmp.file("out.txt") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(tmp.file("out.txt"));
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << "python (" << reader << ") failed:\n" << text;
  EXPECT_NE(text.find("OK"), std::string::npos) << text;
}

TEST(Safetensors, WeReadPythonFiles) {
  if (std::system("/usr/bin/python3 -c 'import safetensors.numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no safetensors module";
  TempDir tmp("hwnas-safetensors-test-");
  const std::string path = tmp.file("py.safetensors");
  const std::string cmd = "/usr/bin/python3 -c \"import numpy as np; from safetensors.numpy import save_file; "
                          "save_file({'w': np.arange(6, dtype=np.float32).reshape(2, 3) / 4, "
                          "'n': np.array([7, -8], dtype=np.int64)}, '" +
                          path + "', metadata={'who': 'python'})\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  SafetensorsData d = loadSafetensors(path);
  EXPECT_EQ(d.tensors.at("w").shape(), (Shape{2, 3}));
  EXPECT_EQ(d.tensors.at("w").toVector(), (std::vector<float>{0.f, 0.25f, 0.5f, 0.75f, 1.f, 1.25f}));
  EXPECT_EQ(d.int64s.at("n").values, (std::vector<int64_t>{7, -8}));
  EXPECT_EQ(d.metadata.at("who"), "python");
}
