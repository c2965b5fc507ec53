// nas-lut: device latency lookup tables: `profile` this machine into a table, `validate` a
// table against whole networks, `predict` one network, `import` published tables, `export`
// CSV, `merge` tables, `list` devices, `add-device`. Flags in, library calls (hwnas_latency) out.
#include <boost/program_options.hpp>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/json_util.h"
#include "core/log.h"
#include "latency_luts/importers.h"
#include "latency_luts/latency_model.h"
#include "latency_luts/latency_store.h"
#include "latency_luts/probe_path.h"
#include "latency_luts/profiler.h"
#include "latency_luts/validate.h"
#include "search_spaces/search_space.h"
#include "trainer/model_def.h"
#include "tools/tool_main.h"

namespace po = boost::program_options;
using namespace hwnas;

static const char* kExamples = R"(Commands:
  add-device  register a device: --device NAME --kind cpu|gpu|fpga|mobile|asic [--description TEXT]
  profile     time the fused ops of sampled networks of --space on this machine, in place inside
              whole networks run by the runtime; writes op rows, the networks' own rows and the
              device's calibration (per-run overhead, FLOPs slope). Keys already measured are kept
              (--remeasure to replace them), so a second run resumes.
  validate    sample --samples networks with --seed (use one never used to profile), predict them,
              run each twice with the runtime and print accuracy figures (JSON with --json)
  plan        the on-board path, step 1: write a profiling plan (--out plan.txt) listing every
              distinct fused op any network of the space can hold (within --resolution), for
              hwnas-probe to time on the board (--batch, --threads, --repeats, --warmup go into
              its header)
  predict     latency (ms) and energy (mJ) of one network: --space S --arch A.json, or --model M.yaml;
              devices analytic:fpga and analytic:gpu need no table
  import      --format ofa-note10|proxyless|nb201-hwnasbench|nb201-help|nb201-nnmeter FILE.csv, or
              --format nb201-hwnasbench-ref FILE.json (HW-NAS-Bench reference rows with energy), or
              hwnas-probe results: --device NAME [--kind K] RESULTS.json (the format is detected;
              --format hwnas-probe to insist; latency_ms is --statistic of the probe's samples)
  export      CSV of the rows (filter with --device, --level)
  merge       --db INTO.db OTHER.db...: copy devices, rows and calibrations (newer rows win)
  list        devices with kind, row counts per level and settings (JSON with --json)

Examples:
  nas-lut add-device --db lut.db --device host-cpu --kind cpu --description "this machine"
  nas-lut profile --db lut.db --device host-cpu --space configs/spaces/fmnist_small.yaml --samples 60 --threads 1
  nas-lut profile --db lut.db --device host-cpu --space configs/spaces/ofa_mbv3.yaml --resolution 128,144,160 --samples 80
  nas-lut validate --db lut.db --device host-cpu --space configs/spaces/ofa_mbv3.yaml --resolution 128,144,160 --samples 100 --seed 7 --json
  nas-lut plan --space configs/spaces/fmnist_small.yaml --out plan.txt --threads 1 --repeats 40
  hwnas-probe plan.txt results.json              # on the board (hwnas-probe-static or an ARM build)
  nas-lut import --db lut.db --device raspi4 --kind mobile results.json
  nas-lut predict --db lut.db --device host-cpu --space configs/spaces/fmnist_small.yaml --arch arch.json
  nas-lut predict --device analytic:fpga --model configs/models/refnet.yaml
  nas-lut import --db lut.db --format nb201-hwnasbench data/nb201/hwnasbench_nb201_cifar10_latency_via_help.csv
  nas-lut predict --db lut.db --device fpga --space configs/spaces/nb201.yaml --arch '{"index": 6111}'
  nas-lut export --db lut.db --device host-cpu --out host.csv
  nas-lut merge --db all.db board1.db board2.db
  nas-lut list --db lut.db

Exit codes: 0 ok, 1 runtime failure, 2 bad input.
)";

namespace {

std::vector<int> parseIntList(const std::string& s, const std::string& flag) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t pos = 0;
      const int v = std::stoi(item, &pos);
      if (pos != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw InputError(flag + ": '" + item + "' is not a positive integer (e.g. " + flag + " 128,144,160)");
    }
  }
  return out;
}

ArchConfig readArch(const SearchSpace& space, const std::string& arg) {
  Json j = (!arg.empty() && (arg[0] == '{' || arg[0] == '[')) ? parseJson(arg, "--arch") : readJsonFile(arg);
  try {
    return space.normalize(j);
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError& e) {
    throw InputError((arg[0] == '{' ? std::string("--arch") : arg) + ": " + e.what());
  }
}

void require(bool ok, const std::string& msg) {
  if (!ok) throw InputError(msg);
}

int run(int argc, char** argv) {
  Logger::instance().setProgramName("nas-lut");
  std::string command, db, device, kind, description, spacePath, archArg, modelPath, format, out, level, resolution,
      prefix, stat;
  int threads = 1, burst = 4, samples = 0, runs = 0, warmup = 3, group = 0, batch = 1, repeats = 40;
  uint64_t seed = 0;
  bool noDrift = false, json = false, quiet = false, allowFallback = false, remeasure = false, noComplete = false, noOps = false, perNetwork = false;
  std::vector<std::string> files;
  po::options_description desc("nas-lut: device latency lookup tables\n\nUsage: nas-lut <command> [options] [files]\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("db", po::value(&db), "the latency table (SQLite file)")
    ("device", po::value(&device), "device name in the table, or analytic:fpga / analytic:gpu")
    ("kind", po::value(&kind), "add-device: cpu, gpu, fpga, mobile or asic")
    ("description", po::value(&description), "add-device: free text")
    ("space", po::value(&spacePath), "search space YAML")
    ("resolution", po::value(&resolution), "profile/validate: restrict sampled input resolutions, e.g. 128,144,160")
    ("samples", po::value(&samples), "profile: networks to run (default 60); validate: networks (default 100)")
    ("runs", po::value(&runs), "timed runs per network (profile default 20, validate default 15 per measurement)")
    ("warmup", po::value(&warmup)->default_value(3), "untimed runs per network first")
    ("group", po::value(&group), "networks interleaved (default 6)")
    ("burst", po::value(&burst)->default_value(4), "timed runs per visit of a network (after one untimed run)")
    ("statistic", po::value(&stat)->default_value("min"), "profile/validate: min or median of the timed runs")
    ("threads", po::value(&threads)->default_value(1), "runtime threads (a table's rows are per thread count)")
    ("batch", po::value(&batch)->default_value(1), "predict: batch of the table's rows to use; plan: batch to run the ops at")
    ("repeats", po::value(&repeats)->default_value(40), "plan: timed runs per op on the board")
    ("seed", po::value(&seed)->default_value(0), "random seed (profile default 1, validate default 1000)")
    ("arch", po::value(&archArg), "predict: an architecture of --space (JSON file or inline JSON)")
    ("model", po::value(&modelPath), "predict: a model YAML instead of --space/--arch")
    ("format", po::value(&format), "import: ofa-note10, proxyless, nb201-hwnasbench, nb201-hwnasbench-ref, nb201-help, nb201-nnmeter")
    ("prefix", po::value(&prefix), "import (NB201 formats): prefix for device names")
    ("level", po::value(&level), "export: op, block or arch only")
    ("out", po::value(&out), "export: write the CSV here (atomically) instead of stdout; plan: the plan file")
    ("allow-fallback", po::bool_switch(&allowFallback), "predict/validate: estimate missing op keys (flagged in the output)")
    ("no-drift-correction", po::bool_switch(&noDrift), "profile/validate: do not scale groups by the speed probe")
    ("remeasure", po::bool_switch(&remeasure), "profile: replace keys already in the table")
    ("no-complete", po::bool_switch(&noComplete), "profile: run only the sampled networks (default: also the few that hold op keys the samples missed, so the table has every key of the space)")
    ("no-ops", po::bool_switch(&noOps), "predict: leave out the per-op breakdown")
    ("per-network", po::bool_switch(&perNetwork), "validate: list every network in the JSON")
    ("json", po::bool_switch(&json), "machine-readable output")
    ("quiet,q", po::bool_switch(&quiet), "no progress bar or info messages");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("command", po::value(&command))("files", po::value(&files));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1).add("files", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(std::string(e.what()) + " (see nas-lut --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << kExamples;
    return 0;
  }
  Logger::instance().setQuiet(quiet);
  require(!command.empty(), "a command is required: profile, plan, validate, predict, import, export, merge, list, add-device (see nas-lut --help)");
  require(threads >= 1 && threads <= 256, "--threads must be between 1 and 256");
  const std::vector<int> resolutions = resolution.empty() ? std::vector<int>() : parseIntList(resolution, "--resolution");
  auto needDb = [&] { require(!db.empty(), command + ": --db is required (e.g. --db lut.db)"); };
  auto needDevice = [&] { require(!device.empty(), command + ": --device is required"); };
  auto needSpace = [&] { require(!spacePath.empty(), command + ": --space is required"); };
  auto noFiles = [&] { require(files.empty(), command + ": unexpected argument '" + (files.empty() ? "" : files[0]) + "'"); };

  if (command == "add-device") {
    needDb();
    needDevice();
    noFiles();
    require(!kind.empty(), "add-device: --kind is required (cpu, gpu, fpga, mobile or asic)");
    require(isDeviceKind(kind), "add-device: unknown --kind '" + kind + "'; use cpu, gpu, fpga, mobile or asic");
    LatencyStore store(db);
    store.addDevice({device, kind, description});
    logInfo("device '", device, "' (", kind, ") in ", db);
    return 0;
  }
  if (command == "profile") {
    needDb();
    needDevice();
    needSpace();
    noFiles();
    auto space = loadSearchSpace(spacePath);
    {
      Rng check(0);  // every --resolution must be a choice of the space, before anything is written
      restrictResolution(*space, space->smallest(), resolutions, check);
    }
    LatencyStore store(db);
    if (!store.device(device)) {
      require(kind.empty() || isDeviceKind(kind), "profile: unknown --kind '" + kind + "'");
      store.addDevice({device, kind.empty() ? "cpu" : kind, description.empty() ? "profiled by nas-lut" : description});
    }
    ProfileOptions o;
    o.device = device;
    o.threads = threads;
    if (samples) o.samples = samples;
    if (runs) o.runs = runs;
    if (group) o.groupSize = group;
    o.warmup = warmup;
    o.burst = burst;
    o.statistic = stat;
    o.seed = vm["seed"].defaulted() ? 1 : seed;
    o.resolutions = resolutions;
    o.remeasure = remeasure;
    o.complete = !noComplete;
    o.driftCorrection = !noDrift;
    o.quiet = quiet;
    const ProfileReport r = profileSpace(*space, store, o);
    Json j = {{"device", device},           {"space_id", space->spaceId()}, {"threads", threads},
              {"networks", r.networks},     {"keys_seen", r.keysSeen},      {"keys_written", r.keysWritten},
              {"keys_skipped", r.keysSkipped}, {"overhead_ms", r.overheadMs}, {"ms_per_mflop", r.msPerMflop}, {"probe_ms", r.probeMs}, {"probe_spread", r.probeSpread},
              {"seconds", r.seconds}};
    std::cout << (json ? j.dump(2) : j.dump()) << std::endl;
    return 0;
  }
  if (command == "plan") {
    needSpace();
    noFiles();
    require(!out.empty(), "plan: --out plan.txt is required");
    require(batch >= 1 && repeats >= 1 && warmup >= 0, "plan: --batch and --repeats must be >= 1, --warmup >= 0");
    auto space = loadSearchSpace(spacePath);
    ProbePlanOptions o;
    o.coverage.resolutions = resolutions;
    {
      Rng check(0);
      restrictResolution(*space, space->smallest(), resolutions, check);
    }
    o.batch = batch;
    o.threads = threads;
    o.repeats = repeats;
    o.warmup = vm["warmup"].defaulted() ? 5 : warmup;
    const runtime::ProbePlan plan = makeProbePlan(*space, o);
    writeFileAtomic(out, runtime::formatProbePlan(plan));
    Json j = {{"plan", out}, {"space_id", plan.spaceId}, {"ops", plan.ops.size()}, {"batch", plan.batch},
              {"threads", plan.threads}, {"repeats", plan.repeats}, {"warmup", plan.warmup}};
    std::cout << (json ? j.dump(2) : j.dump()) << std::endl;
    return 0;
  }
  if (command == "validate") {
    needDb();
    needDevice();
    needSpace();
    noFiles();
    auto space = loadSearchSpace(spacePath);
    LatencyStore store(db, true);
    ValidateOptions o;
    if (samples) o.samples = samples;
    if (runs) o.runs = runs;
    if (group) o.groupSize = group;
    o.warmup = warmup;
    o.burst = burst;
    o.statistic = stat;
    o.seed = vm["seed"].defaulted() ? 1000 : seed;
    o.threads = threads;
    o.resolutions = resolutions;
    o.allowFallback = allowFallback;
    o.driftCorrection = !noDrift;
    o.quiet = quiet;
    const ValidateResult r = validateModel(*space, store, device, o);
    Json j = r.toJson(perNetwork);
    j["device"] = device;
    j["space_id"] = space->spaceId();
    j["threads"] = threads;
    j["seed"] = o.seed;
    if (json) {
      std::cout << j.dump(2) << std::endl;
    } else {
      std::cout << "samples " << r.model.samples << ", within 10% " << r.model.within10 << ", MAPE " << r.model.mape
                << ", Spearman " << r.model.spearman << ", Kendall " << r.model.kendall << ", repeatability(5%) "
                << r.repeatability << "; FLOPs baseline: within 10% " << r.flops.within10 << ", MAPE " << r.flops.mape
                << ", Spearman " << r.flops.spearman << (r.fallbackNetworks ? " [fallback used]" : "") << std::endl;
    }
    return 0;
  }
  if (command == "predict") {
    needDevice();
    noFiles();
    std::unique_ptr<LatencyStore> store;
    if (!db.empty()) store = std::make_unique<LatencyStore>(db, true);
    LutModelOptions mo;
    mo.threads = threads;
    mo.batch = batch;
    mo.allowFallback = allowFallback;
    auto model = makeLatencyModel(store.get(), device, mo);
    LatencyPrediction p;
    Json extra;
    if (!modelPath.empty()) {
      require(spacePath.empty() && archArg.empty(), "predict: give either --model, or --space with --arch");
      ModelDef def = loadModelDef(modelPath);
      p = model->predict(modelGraph(def));
      extra["model"] = def.name;
    } else {
      require(!spacePath.empty() && !archArg.empty(), "predict: give --space S.yaml with --arch A.json, or --model M.yaml");
      auto space = loadSearchSpace(spacePath);
      ArchConfig arch = readArch(*space, archArg);
      p = model->predictArch(*space, arch);
      extra["space_id"] = space->spaceId();
      extra["arch_hash"] = arch.hashHex();
    }
    Json j = p.toJson(!noOps);
    for (auto& [k, v] : extra.items()) j[k] = v;
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  if (command == "import" &&
      (format == "hwnas-probe" || (format.empty() && !files.empty() && isProbeResultsFile(files[0])))) {
    needDb();
    needDevice();
    require(!files.empty(), "import: give the hwnas-probe results file(s)");
    for (const auto& file : files) require(fileExists(file), "import: no such file '" + file + "'");
    LatencyStore store(db);
    ProbeImportOptions io;
    io.device = device;
    if (!kind.empty()) io.kind = kind;
    io.description = description;
    io.statistic = stat;
    Json j = Json::object();
    for (const auto& file : files) {
      const ProbeImportReport r = importProbeResults(store, file, io);
      j[device] = j.value(device, int64_t(0)) + r.rows;
      if (r.deviceCreated) j["device_created"] = true;
      if (r.calibrationWritten) j["calibration_written"] = true;
    }
    std::cout << (json ? j.dump(2) : j.dump()) << std::endl;
    return 0;
  }
  if (command == "import") {
    needDb();
    require(!format.empty(), "import: --format is required (ofa-note10, proxyless, nb201-hwnasbench, nb201-help, nb201-nnmeter; hwnas-probe results are detected)");
    require(!files.empty(), "import: give the CSV file(s) to import");
    const ImportFormat f = parseImportFormat(format);
    for (const auto& file : files) require(fileExists(file), "import: no such file '" + file + "'");
    LatencyStore store(db);
    ImportOptions io;
    io.device = device;
    io.devicePrefix = prefix;
    Json j = Json::object();
    for (const auto& file : files) {
      const ImportReport r = importTable(store, file, f, io);
      for (const auto& [d, n] : r.rows) j[d] = j.value(d, int64_t(0)) + n;
    }
    std::cout << (json ? j.dump(2) : j.dump()) << std::endl;
    return 0;
  }
  if (command == "export") {
    needDb();
    noFiles();
    LatencyStore store(db, true);
    MeasurementFilter f;
    if (!device.empty()) f.device = store.requireDevice(device).name;
    if (!level.empty()) f.level = parseKeyLevel(level);
    const std::string csv = exportCsv(store, f);
    if (out.empty())
      std::cout << csv;
    else
      writeFileAtomic(out, csv);
    return 0;
  }
  if (command == "merge") {
    needDb();
    require(!files.empty(), "merge: give the tables to merge into --db");
    for (const auto& file : files) require(fileExists(file), "merge: no such file '" + file + "'");
    std::vector<std::unique_ptr<LatencyStore>> others;
    for (const auto& file : files) others.push_back(std::make_unique<LatencyStore>(file, true));
    LatencyStore store(db);
    int64_t n = 0;
    for (auto& o : others) n += store.merge(*o);
    std::cout << Json({{"rows_written", n}}).dump() << std::endl;
    return 0;
  }
  if (command == "list") {
    needDb();
    noFiles();
    LatencyStore store(db, true);
    Json arr = Json::array();
    for (const auto& d : store.devices()) {
      Json e = {{"name", d.name},
                {"kind", d.kind},
                {"description", d.description},
                {"op", store.count(d.name, KeyLevel::Op)},
                {"block", store.count(d.name, KeyLevel::Block)},
                {"arch", store.count(d.name, KeyLevel::Arch)},
                {"settings", store.settings(d.name)}};
      arr.push_back(e);
    }
    if (json) {
      std::cout << arr.dump(2) << std::endl;
    } else {
      for (const auto& e : arr) {
        std::string s;
        for (const auto& x : e["settings"]) s += (s.empty() ? "" : " ") + x.get<std::string>();
        std::cout << e["name"].get<std::string>() << "\t" << e["kind"].get<std::string>() << "\top "
                  << e["op"].get<int64_t>() << "\tblock " << e["block"].get<int64_t>() << "\tarch "
                  << e["arch"].get<int64_t>() << "\t" << s << "\n";
      }
    }
    return 0;
  }
  throw InputError("unknown command '" + command +
                   "' (known: profile, plan, validate, predict, import, export, merge, list, add-device; see nas-lut --help)");
}

}  // namespace

int main(int argc, char** argv) { return hwnas::toolMain("nas-lut", run, argc, argv); }
