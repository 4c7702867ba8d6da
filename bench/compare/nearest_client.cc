// winnow_bench_nearest: the Nearest rows of bench/compare/run.sh --nearest
// (docs/benchmarks.md, "Nearest (issue 12)").
//
// It reads the workload that bench.py generated in --data (domain.u8,
// length.i64, quality.f32 as for winnow_bench_client, plus emb.f32: N x D
// float32 embeddings, and queries.f32: Q x D query vectors) and prints one
// JSON line per operation, as winnow_bench_client does:
//
//   ingest            the documents with their embeddings into a fresh
//                     collection --collection of a running winnowd
//   bandwidth         two threads summing a buffer of N x D floats (the
//                     matrix's size): the machine's two-thread read
//                     bandwidth; result = bytes read
//   nearest1          Nearest, query 0, k = 10, dot product
//   nearest100        Nearest, queries 0..99 in one request
//   nearest1_filtered Nearest, query 0, with the protocol's filter
//   count_filtered    Count with the same filter (result = matches)
//   engine1, engine100, engine1_filtered
//                     the same searches in this process on a matrix built
//                     from emb.f32 (selection/nearest.h alone: no RPC, no
//                     storage)
//
// nearest100 also writes the neighbours' ordinals, Q x k uint32, to
// --data/nearest100.u32 for the driver to compare with FAISS's.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench/compare/bench_util.h"
#include "selection/nearest.h"
#include "winnow/client/client.h"

namespace winnow_bench {
namespace {

struct Args {
  std::string target;
  std::string data;
  std::string collection = "emb";
  std::vector<std::string> ops;
  int reps = 3;
  int warmup = 1;
  int k = 10;
  int batch_queries = 100;
  int ingest_batch = 2048;
};

struct Workload {
  uint32_t n = 0;
  uint32_t dim = 0;
  std::vector<uint8_t> domain;
  std::vector<int64_t> length;
  std::vector<float> quality;
  std::vector<float> emb;
  std::vector<float> queries;
};

Workload Load(const std::string& dir) {
  Workload w;
  w.domain = ReadFile<uint8_t>(dir + "/domain.u8");
  w.length = ReadFile<int64_t>(dir + "/length.i64");
  w.quality = ReadFile<float>(dir + "/quality.f32");
  w.emb = ReadFile<float>(dir + "/emb.f32");
  w.queries = ReadFile<float>(dir + "/queries.f32");
  w.n = static_cast<uint32_t>(w.domain.size());
  if (w.n == 0 || w.emb.size() % w.n != 0) Die("emb.f32 is not N x D");
  w.dim = static_cast<uint32_t>(w.emb.size() / w.n);
  if (w.queries.size() % w.dim != 0) Die("queries.f32 is not Q x D");
  return w;
}

void Ingest(const Args& args, const Workload& w, winnow::Client& client) {
  winnow::v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name(args.collection);
  create.mutable_collection()->set_embedding_dimension(
      static_cast<int32_t>(w.dim));
  Check(client.CreateCollection(create).status(), "CreateCollection");
  static const char* kDomains[] = {"d0", "d1", "d2", "d3",
                                   "d4", "d5", "d6", "d7"};
  std::vector<winnow::v1::UpsertDocumentsRequest> batches;
  for (uint32_t begin = 0; begin < w.n; begin += args.ingest_batch) {
    const uint32_t end = std::min<uint32_t>(
        w.n, begin + static_cast<uint32_t>(args.ingest_batch));
    winnow::v1::UpsertDocumentsRequest& b = batches.emplace_back();
    b.set_collection(args.collection);
    winnow::v1::DocumentColumns* c = b.mutable_columns();
    for (uint32_t i = begin; i < end; ++i) {
      c->add_ids(Id(i));
      c->add_domains(kDomains[w.domain[i] & 7]);
    }
    c->mutable_lengths()->Assign(w.length.begin() + begin,
                                 w.length.begin() + end);
    winnow::v1::ScoreColumn* s = c->add_scores();
    s->set_name("quality");
    s->mutable_values()->Assign(w.quality.begin() + begin,
                                w.quality.begin() + end);
    c->mutable_embeddings()->Assign(w.emb.begin() + size_t{begin} * w.dim,
                                    w.emb.begin() + size_t{end} * w.dim);
  }
  winnow::WriterOptions options;
  options.max_in_flight = 8;
  const Clock::time_point start = Clock::now();
  winnow::DocumentWriter writer =
      client.UpsertDocuments(args.collection, options);
  for (auto& b : batches) Check(writer.Write(std::move(b)), "Write");
  Check(writer.Close(), "Close");
  Print("ingest", {Seconds(start)}, writer.stats().documents_acked);
}

// Sums [begin, end) of `words`; the sum keeps the loads from being dropped.
uint64_t SumWords(const uint64_t* words, size_t begin, size_t end) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = begin;
  for (; i + 4 <= end; i += 4) {
    a += words[i];
    b += words[i + 1];
    c += words[i + 2];
    d += words[i + 3];
  }
  for (; i < end; ++i) a += words[i];
  return a + b + c + d;
}

void Bandwidth(const Args& args, const Workload& w) {
  const size_t words = size_t{w.n} * w.dim * sizeof(float) / sizeof(uint64_t);
  std::vector<uint64_t> buffer(words);
  for (size_t i = 0; i < words; ++i) buffer[i] = i;
  uint64_t sink = 0;
  Repeat(args, "bandwidth", [&](int) -> int64_t {
    uint64_t sums[2] = {0, 0};
    std::thread helper(
        [&] { sums[1] = SumWords(buffer.data(), words / 2, words); });
    sums[0] = SumWords(buffer.data(), 0, words / 2);
    helper.join();
    sink += sums[0] + sums[1];
    return static_cast<int64_t>(words * sizeof(uint64_t));
  });
  if (sink == 1) std::fprintf(stderr, "\n");
}

winnow::v1::NearestRequest Request(const Args& args, const Workload& w,
                                   int queries, bool filtered) {
  winnow::v1::NearestRequest r;
  r.set_collection(args.collection);
  r.set_k(args.k);
  r.set_metric(winnow::v1::SIMILARITY_METRIC_DOT_PRODUCT);
  if (filtered) r.set_filter(kFilter);
  r.mutable_query_vectors()->Assign(
      w.queries.begin(), w.queries.begin() + size_t{w.dim} * queries);
  return r;
}

int64_t Neighbours(const winnow::v1::NearestResponse& r) {
  int64_t n = 0;
  for (const auto& q : r.results()) n += q.neighbors_size();
  return n;
}

void RemoteNearest(const Args& args, const Workload& w, winnow::Client& client,
                   const std::string& op) {
  const int queries = op == "nearest100" ? args.batch_queries : 1;
  const winnow::v1::NearestRequest request =
      Request(args, w, queries, op == "nearest1_filtered");
  winnow::v1::NearestResponse last;
  Repeat(args, op, [&](int) -> int64_t {
    absl::StatusOr<winnow::v1::NearestResponse> r = client.Nearest(request);
    Check(r.status(), "Nearest");
    last = *std::move(r);
    return Neighbours(last);
  });
  if (op != "nearest100") return;
  std::vector<uint32_t> ordinals;
  for (const auto& q : last.results()) {
    for (const auto& n : q.neighbors()) {
      ordinals.push_back(static_cast<uint32_t>(n.ordinal()));
    }
  }
  std::ofstream out(args.data + "/nearest100.u32", std::ios::binary);
  out.write(reinterpret_cast<const char*>(ordinals.data()),
            static_cast<std::streamsize>(ordinals.size() * sizeof(uint32_t)));
}

// The matrix storage would build from the same rows.
std::shared_ptr<winnow::EmbeddingMatrix> BuildMatrix(const Workload& w) {
  auto m = std::make_shared<winnow::EmbeddingMatrix>();
  m->type = winnow::VectorType::kFloat32;
  m->dim = w.dim;
  m->num_rows = w.n;
  m->present = winnow::Bitmap(w.n, true);
  for (uint32_t first = 0; first < w.n; first += winnow::kEmbeddingBlockRows) {
    auto block = std::make_shared<winnow::EmbeddingBlock>();
    block->first_ordinal = first;
    block->rows = std::min(winnow::kEmbeddingBlockRows, w.n - first);
    block->f32.assign(w.emb.begin() + size_t{first} * w.dim,
                      w.emb.begin() + size_t{first + block->rows} * w.dim);
    for (uint32_t r = 0; r < block->rows; ++r) {
      double sum = 0;
      for (uint32_t d = 0; d < w.dim; ++d) {
        const double v = block->f32[size_t{r} * w.dim + d];
        sum += v * v;
      }
      block->norms.push_back(static_cast<float>(std::sqrt(sum)));
    }
    m->blocks.push_back(std::move(block));
  }
  return m;
}

void EngineNearest(const Args& args, const Workload& w,
                   const winnow::EmbeddingMatrix& m, const std::string& op) {
  const size_t queries = op == "engine100" ? args.batch_queries : 1;
  winnow::Bitmap candidates(w.n, true);
  if (op == "engine1_filtered") {
    for (uint32_t o = 0; o < w.n; ++o) {
      candidates.Assign(
          o, w.quality[o] > 0.5f && w.domain[o] <= 1 && w.length[o] < 2048);
    }
  }
  winnow::NearestQuery q;
  q.matrix = &m;
  q.candidates = &candidates;
  q.queries = std::span<const float>(w.queries.data(), queries * w.dim);
  q.metric = winnow::Similarity::kDotProduct;
  q.k = static_cast<size_t>(args.k);
  Repeat(args, op, [&](int) -> int64_t {
    std::vector<std::vector<winnow::Neighbor>> found =
        winnow::NearestWithTies(q);
    int64_t total = 0;
    for (auto& list : found) {
      // Ids are doc-%07d: they sort as the ordinals do.
      winnow::BreakTies(&list, q.k,
                        [](uint32_t a, uint32_t b) { return a < b; });
      total += static_cast<int64_t>(list.size());
    }
    return total;
  });
}

void Count(const Args& args, winnow::Client& client) {
  winnow::v1::CountRequest request;
  request.set_collection(args.collection);
  request.set_filter(kFilter);
  Repeat(args, "count_filtered", [&](int) -> int64_t {
    absl::StatusOr<winnow::v1::CountResponse> r = client.Count(request);
    Check(r.status(), "Count");
    return r->count();
  });
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--target") {
      args.target = value();
    } else if (a == "--data") {
      args.data = value();
    } else if (a == "--collection") {
      args.collection = value();
    } else if (a == "--ops") {
      args.ops = absl::StrSplit(value(), ',');
    } else if (a == "--reps") {
      args.reps = std::atoi(value().c_str());
    } else if (a == "--warmup") {
      args.warmup = std::atoi(value().c_str());
    } else if (a == "--k") {
      args.k = std::atoi(value().c_str());
    } else {
      Die("unknown flag " + a);
    }
  }
  if (args.data.empty() || args.ops.empty()) {
    Die("usage: --data DIR --ops OP[,OP...] [--target HOST:PORT] [--reps R]");
  }
  const Workload w = Load(args.data);
  std::unique_ptr<winnow::Client> client;
  std::shared_ptr<winnow::EmbeddingMatrix> matrix;
  for (const std::string& op : args.ops) {
    if (op == "bandwidth") {
      Bandwidth(args, w);
      continue;
    }
    if (op.starts_with("engine")) {
      if (matrix == nullptr) matrix = BuildMatrix(w);
      EngineNearest(args, w, *matrix, op);
      continue;
    }
    if (client == nullptr) {
      winnow::ClientOptions options;
      options.default_timeout = absl::Seconds(600);
      absl::StatusOr<winnow::Client> c =
          winnow::Client::Connect(args.target, options);
      Check(c.status(), "Connect");
      client = std::make_unique<winnow::Client>(*std::move(c));
    }
    if (op == "ingest") {
      Ingest(args, w, *client);
    } else if (op == "count_filtered") {
      Count(args, *client);
    } else if (op == "nearest1" || op == "nearest100" ||
               op == "nearest1_filtered") {
      RemoteNearest(args, w, *client, op);
    } else {
      Die("unknown op " + op);
    }
  }
  return 0;
}

}  // namespace
}  // namespace winnow_bench

int main(int argc, char** argv) { return winnow_bench::Main(argc, argv); }
