// winnow_bench_client: the Winnow side of bench/compare/run.sh.
//
// It reads the workload that bench/compare/bench.py generated (raw column
// files in --data), talks to a running winnowd through the C++ client
// library (winnow::client), and prints one JSON line per operation:
//
//   {"op": "count", "seconds": [0.0012, 0.0011, 0.0013], "result": 53912}
//
// Each query operation runs --warmup untimed repetitions, then --reps timed
// ones. "ingest" runs once (the driver restarts winnowd on a fresh data dir
// for each repetition). Every timing is wall-clock from the first byte sent
// to the last byte received; request messages are built before the clock
// starts, as the peers' COPY buffer and RESP file are.
//
// Files in --data (little-endian, N rows unless said):
//   domain.u8 length.i64 quality.f32 perplexity.f32 edu.f32
//   lookup.u32     ordinals to look up (ids are doc-%07d of them)
//
// get_single makes one unary GetScores call per id; get_stream sends the
// same lookups on one GetScoresStream, --stream-window of them unanswered
// at most (1: lock-step).
//   update.u32 / update.f32   the score updates: ordinals and new quality
//   emb.f32        N x --emb-dim float32 embeddings (ingest_emb only)
//
// ingest_emb ingests the workload with embeddings into a collection of
// --emb-dim float32 embeddings (--collection, default "bench_emb");
// load_emb then times the first GetDocuments that asks for an embedding
// (it loads the collection's matrix) and a second one, and reports the
// collection's memory_bytes as its result.
//
// sample_load (the "serving while a job runs" rows, bench/compare/scorers.py)
// runs --streams readers, each on a plan of its own (uniform, unbounded
// epochs, batches of --load-batch, packed ids), asking for one batch per
// Sample call (its plan, the last batch's cursor, max_batches 1), so a
// call's time is the time to get the next batch. Each reader makes --rate
// calls a second (0: back to back) until --duration seconds pass or the
// file --stop-file exists, and the op prints one JSON line with the calls,
// the rate per reader and the latency percentiles in seconds.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "bench/compare/bench_util.h"
#include "winnow/client/client.h"
#include "winnow/client/packed.h"

namespace {

using winnow_bench::Check;
using winnow_bench::Clock;
using winnow_bench::Die;
using winnow_bench::Id;
using winnow_bench::kFilter;
using winnow_bench::Print;
using winnow_bench::ReadFile;
using winnow_bench::Repeat;
using winnow_bench::Seconds;

struct Args {
  std::string target;
  std::string data;
  std::string collection = "bench";
  std::vector<std::string> ops;
  int reps = 3;
  int warmup = 1;
  int64_t k = 100000;
  int ingest_batch = 16384;
  int in_flight = 8;
  int put_batch = 10000;
  int lookup_batch = 1000;
  int64_t single_lookups = 10000;
  // GetScoresStream: lookups sent ahead of their answers, at most.
  int stream_window = 1;
  int64_t seed = 1;
  // Keep every timed Sample's plan alive (for the RSS of a run's plans)
  // instead of deleting it after each repetition.
  bool keep_plans = false;
  // Embedding dimension of ingest_emb and load_emb.
  int emb_dim = 256;
  // sample_load: readers, batch size, calls/s per reader (0: back to back),
  // how long, and a file whose existence ends it early.
  int streams = 4;
  int load_batch = 1024;
  double rate = 0;
  double duration = 10;
  std::string stop_file;
};

struct Workload {
  uint32_t n = 0;
  std::vector<uint8_t> domain;
  std::vector<int64_t> length;
  std::vector<float> quality, perplexity, edu;
  std::vector<uint32_t> lookup;
  std::vector<uint32_t> update_ordinals;
  std::vector<float> update_values;
};

Workload Load(const std::string& dir) {
  Workload w;
  w.domain = ReadFile<uint8_t>(dir + "/domain.u8");
  w.length = ReadFile<int64_t>(dir + "/length.i64");
  w.quality = ReadFile<float>(dir + "/quality.f32");
  w.perplexity = ReadFile<float>(dir + "/perplexity.f32");
  w.edu = ReadFile<float>(dir + "/edu.f32");
  w.lookup = ReadFile<uint32_t>(dir + "/lookup.u32");
  w.update_ordinals = ReadFile<uint32_t>(dir + "/update.u32");
  w.update_values = ReadFile<float>(dir + "/update.f32");
  w.n = static_cast<uint32_t>(w.domain.size());
  if (w.length.size() != w.n || w.quality.size() != w.n ||
      w.perplexity.size() != w.n || w.edu.size() != w.n ||
      w.update_ordinals.size() != w.update_values.size()) {
    Die("workload files of different lengths in " + dir);
  }
  return w;
}

// The workload's documents in UpsertDocuments requests of `batch`
// documents, with `emb` (N x dim) as their embeddings when given.
std::vector<winnow::v1::UpsertDocumentsRequest> MakeBatches(
    const Args& args, const Workload& w, uint32_t batch,
    const std::vector<float>* emb, size_t dim) {
  static const char* kDomains[] = {"d0", "d1", "d2", "d3",
                                   "d4", "d5", "d6", "d7"};
  std::vector<winnow::v1::UpsertDocumentsRequest> batches;
  for (uint32_t begin = 0; begin < w.n; begin += batch) {
    const uint32_t end = std::min<uint32_t>(w.n, begin + batch);
    winnow::v1::UpsertDocumentsRequest& b = batches.emplace_back();
    b.set_collection(args.collection);
    winnow::v1::DocumentColumns* c = b.mutable_columns();
    c->mutable_ids()->Reserve(static_cast<int>(end - begin));
    c->mutable_domains()->Reserve(static_cast<int>(end - begin));
    for (uint32_t i = begin; i < end; ++i) {
      c->add_ids(Id(i));
      c->add_domains(kDomains[w.domain[i] & 7]);
    }
    c->mutable_lengths()->Assign(w.length.begin() + begin,
                                 w.length.begin() + end);
    auto add_score = [&](const char* name, const std::vector<float>& v) {
      winnow::v1::ScoreColumn* s = c->add_scores();
      s->set_name(name);
      s->mutable_values()->Assign(v.begin() + begin, v.begin() + end);
    };
    add_score("quality", w.quality);
    add_score("perplexity", w.perplexity);
    add_score("edu", w.edu);
    if (emb != nullptr) {
      c->mutable_embeddings()->Assign(emb->begin() + size_t{begin} * dim,
                                      emb->begin() + size_t{end} * dim);
    }
  }
  return batches;
}

// Creates the collection, then sends `batches` on one stream, --in-flight
// unacknowledged at most, and prints the time to the last acknowledgement.
void SendBatches(const Args& args, const std::string& op, int embedding_dim,
                 std::vector<winnow::v1::UpsertDocumentsRequest> batches,
                 winnow::Client& client) {
  winnow::v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name(args.collection);
  create.mutable_collection()->set_embedding_dimension(embedding_dim);
  Check(client.CreateCollection(create).status(), "CreateCollection");
  winnow::WriterOptions options;
  options.max_in_flight = args.in_flight;
  const Clock::time_point start = Clock::now();
  winnow::DocumentWriter writer =
      client.UpsertDocuments(args.collection, options);
  for (auto& b : batches) Check(writer.Write(std::move(b)), "Write");
  Check(writer.Close(), "Close");
  const double s = Seconds(start);
  Print(op, {s}, writer.stats().documents_acked);
}

void Ingest(const Args& args, const Workload& w, winnow::Client& client) {
  SendBatches(args, "ingest", 0,
              MakeBatches(args, w, static_cast<uint32_t>(args.ingest_batch),
                          nullptr, 0),
              client);
}

// The workload with embeddings, in batches of --ingest-batch documents
// (capped so that a request stays under 48 MiB).
void IngestEmbeddings(const Args& args, const Workload& w,
                      winnow::Client& client) {
  const std::vector<float> emb = ReadFile<float>(args.data + "/emb.f32");
  const size_t dim = static_cast<size_t>(args.emb_dim);
  if (emb.size() != size_t{w.n} * dim) {
    Die("emb.f32 holds " + std::to_string(emb.size()) + " floats, want " +
        std::to_string(size_t{w.n} * dim));
  }
  const uint32_t batch = static_cast<uint32_t>(std::min<size_t>(
      args.ingest_batch, (size_t{48} << 20) / (dim * sizeof(float) + 64)));
  SendBatches(args, "ingest_emb", args.emb_dim,
              MakeBatches(args, w, batch, &emb, dim), client);
}

// The first embedding read after an ingest loads the matrix: its time, then
// a second read's; the result is the collection's memory_bytes.
void LoadEmbeddings(const Args& args, winnow::Client& client) {
  winnow::v1::GetDocumentsRequest request;
  request.set_collection(args.collection);
  request.add_ids(Id(0));
  request.mutable_read_mask()->add_paths("embedding");
  std::vector<double> seconds;
  for (int i = 0; i < 2; ++i) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<winnow::v1::GetDocumentsResponse> r =
        client.GetDocuments(request);
    seconds.push_back(Seconds(start));
    Check(r.status(), "GetDocuments");
    if (r->documents_size() != 1 ||
        r->documents(0).embedding_size() != args.emb_dim) {
      Die("GetDocuments returned no embedding");
    }
  }
  winnow::v1::GetCollectionRequest get;
  get.set_name(args.collection);
  absl::StatusOr<winnow::v1::GetCollectionResponse> c =
      client.GetCollection(get);
  Check(c.status(), "GetCollection");
  Print("load_emb", seconds, c->collection().stats().memory_bytes());
}

int64_t Count(const Args& args, winnow::Client& client) {
  winnow::v1::CountRequest request;
  request.set_collection(args.collection);
  request.set_filter(kFilter);
  absl::StatusOr<winnow::v1::CountResponse> response = client.Count(request);
  Check(response.status(), "Count");
  return response->count();
}

int64_t FilterIds(const Args& args, winnow::Client& client) {
  winnow::v1::FilterRequest request;
  request.set_collection(args.collection);
  request.set_filter(kFilter);
  request.set_view(winnow::v1::RESULT_VIEW_IDS);
  winnow::FilterReader reader = client.Filter(request);
  winnow::v1::FilterResponse response;
  int64_t ids = 0;
  while (reader.Next(&response)) ids += response.ids_size();
  Check(reader.Finish(), "Filter");
  return ids;
}

void DeletePlan(winnow::Client& client, std::string* plan_id);

// How a timed Sample reads its plan.
struct SampleMode {
  bool weighted = false;
  winnow::v1::ResultView view = winnow::v1::RESULT_VIEW_PACKED;
  bool first_batch_only = false;  // stop at the first message
  bool whole_epoch = false;       // every document, not k: a long plan
};

// The bench's Sample request: k samples of one epoch, a fresh plan every
// repetition (a new run_id and seed).
winnow::v1::SampleRequest SampleRequestFor(const Args& args, bool weighted,
                                           int rep, const std::string& op) {
  winnow::v1::SampleRequest request;
  request.set_collection(args.collection);
  if (weighted) {
    winnow::v1::WeightedStrategy* s =
        request.mutable_strategy()->mutable_weighted();
    s->set_score("quality");
    s->set_weight_function(winnow::v1::WEIGHT_FUNCTION_POWER);
    s->set_alpha(2.0);
  } else {
    request.mutable_strategy()->mutable_uniform();
  }
  request.set_seed(static_cast<uint64_t>(args.seed * 1000 + rep + 100));
  // The op in the run_id: with --keep-plans, no op reuses another's plan.
  request.set_run_id("bench-" + std::to_string(getpid()) + "-" + op + "-" +
                     std::to_string(rep + 100));
  request.set_num_epochs(1);
  request.set_samples_per_epoch(args.k);
  request.set_batch_size(static_cast<int32_t>(std::min<int64_t>(args.k, 4096)));
  request.set_drop_last(false);  // every one of the k samples
  request.set_world_size(1);
  request.set_rank(0);
  return request;
}

// Every id the client reads is folded into this sum (its size and its first
// and last byte), so that each id is really looked at, as a user that
// trains on the ids would; volatile, so that the compiler cannot skip it.
volatile uint64_t touched_ids_sum = 0;

uint64_t TouchId(std::string_view id) {
  if (id.empty()) return 1;
  return id.size() * 31 + static_cast<unsigned char>(id.front()) * 7 +
         static_cast<unsigned char>(id.back());
}

// Ids in a batch, in whichever view it came; each one is touched: the IDS
// view's strings, the packed view's as winnow::PackedIds string_views into
// the message (the way docs/api.md reads them, without a copy).
int64_t BatchIds(const winnow::v1::SampleBatch& batch) {
  uint64_t sum = 0;
  for (const std::string& id : batch.ids()) sum += TouchId(id);
  const winnow::PackedIds packed(batch.packed());
  for (size_t i = 0; i < packed.size(); ++i) sum += TouchId(packed[i]);
  touched_ids_sum = touched_ids_sum + sum;
  return batch.ids_size() + static_cast<int64_t>(packed.size());
}

// Reads `request`'s stream to the last id at the client; the plan's id
// goes to *plan_id. With `first_only`, it returns at the first message and
// leaves the stream in *first_only, to be cancelled after the clock stops.
int64_t ReadSample(winnow::Client& client,
                   const winnow::v1::SampleRequest& request,
                   std::optional<winnow::SampleReader>* first_only,
                   std::string* plan_id) {
  winnow::SampleReader reader = client.Sample(request);
  winnow::v1::SampleResponse response;
  int64_t ids = 0;
  while (reader.Next(&response)) {
    ids += BatchIds(response.batch());
    if (!response.plan_id().empty()) *plan_id = response.plan_id();
    if (first_only != nullptr) {
      *first_only = std::move(reader);
      return ids;
    }
  }
  Check(reader.Finish(), "Sample");
  return ids;
}

// Samples k ids with a fresh plan, in `mode`'s view. The plan's id goes to
// *plan_id, for deleting it untimed.
int64_t SampleIds(const Args& args, const std::string& op,
                  winnow::Client& client, SampleMode mode, int rep,
                  std::optional<winnow::SampleReader>* open,
                  std::string* plan_id) {
  winnow::v1::SampleRequest request =
      SampleRequestFor(args, mode.weighted, rep, op);
  request.set_view(mode.view);
  if (mode.whole_epoch) request.set_samples_per_epoch(0);
  return ReadSample(client, request, mode.first_batch_only ? open : nullptr,
                    plan_id);
}

// Streams a whole existing plan (a uniform epoch of every document, made
// untimed first) by its id, in `view`.
void StreamExisting(const Args& args, const std::string& op,
                    winnow::Client& client, winnow::v1::ResultView view) {
  winnow::v1::SampleRequest create = SampleRequestFor(args, false, 900, op);
  create.set_samples_per_epoch(0);  // every document
  create.set_max_batches(1);
  create.set_view(winnow::v1::RESULT_VIEW_ORDINALS);
  std::string plan_id;
  ReadSample(client, create, nullptr, &plan_id);
  winnow::v1::SampleRequest request;
  request.set_plan_id(plan_id);
  request.set_world_size(1);
  request.set_view(view);
  Repeat(args, op, [&](int) {
    std::string ignored;
    return ReadSample(client, request, nullptr, &ignored);
  });
  DeletePlan(client, &plan_id);
}

// Deletes the plan a timed Sample made, so that plans do not pile up in the
// server's memory between repetitions.
void DeletePlan(winnow::Client& client, std::string* plan_id) {
  if (plan_id->empty()) return;
  winnow::v1::DeletePlanRequest request;
  request.set_plan_id(*plan_id);
  request.set_allow_missing(true);
  Check(client.DeletePlan(request).status(), "DeletePlan");
  plan_id->clear();
}

void GetSingle(const Args& args, const Workload& w, winnow::Client& client) {
  const size_t calls = std::min<size_t>(
      w.lookup.size(), static_cast<size_t>(args.single_lookups));
  std::vector<winnow::v1::GetScoresRequest> requests(calls);
  for (size_t i = 0; i < calls; ++i) {
    requests[i].set_collection(args.collection);
    requests[i].add_ids(Id(w.lookup[i]));
  }
  Repeat(args, "get_single", [&](int) {
    int64_t found = 0;
    for (const auto& request : requests) {
      absl::StatusOr<winnow::v1::GetScoresResponse> r =
          client.GetScores(request);
      Check(r.status(), "GetScores");
      found += r->ids_size();
    }
    return found;
  });
}

// The one-id lookups of get_single on one GetScoresStream: a writer thread
// sends each lookup once fewer than --stream-window are unanswered; this
// thread reads the answers. With a window of 1 each lookup waits for the
// previous answer, as a unary caller does.
void GetStream(const Args& args, const Workload& w) {
  const size_t calls = std::min<size_t>(
      w.lookup.size(), static_cast<size_t>(args.single_lookups));
  std::vector<winnow::v1::GetScoresStreamRequest> requests(calls);
  for (size_t i = 0; i < calls; ++i) {
    requests[i].set_sequence(i);
    requests[i].mutable_request()->set_collection(args.collection);
    requests[i].mutable_request()->add_ids(Id(w.lookup[i]));
  }
  auto stub = winnow::v1::ScoreService::NewStub(
      grpc::CreateChannel(args.target, grpc::InsecureChannelCredentials()));
  Repeat(args, "get_stream", [&](int) {
    grpc::ClientContext context;
    auto stream = stub->GetScoresStream(&context);
    std::mutex mu;
    std::condition_variable answered;
    size_t in_flight = 0;
    std::thread writer([&] {
      for (const auto& request : requests) {
        {
          std::unique_lock<std::mutex> lock(mu);
          answered.wait(lock, [&] {
            return in_flight < static_cast<size_t>(args.stream_window);
          });
          ++in_flight;
        }
        if (!stream->Write(request)) break;
      }
      stream->WritesDone();
    });
    winnow::v1::GetScoresStreamResponse response;
    int64_t found = 0;
    uint64_t expected = 0;
    while (stream->Read(&response)) {
      if (response.sequence() != expected++)
        Die("GetScoresStream: out of order");
      found += response.response().ids_size();
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      answered.notify_one();
    }
    writer.join();
    grpc::Status status = stream->Finish();
    if (!status.ok()) Die("GetScoresStream: " + status.error_message());
    return found;
  });
}

void GetBatch(const Args& args, const Workload& w, winnow::Client& client) {
  std::vector<winnow::v1::GetScoresRequest> requests;
  for (size_t begin = 0; begin + args.lookup_batch <= w.lookup.size();
       begin += args.lookup_batch) {
    winnow::v1::GetScoresRequest& request = requests.emplace_back();
    request.set_collection(args.collection);
    for (size_t i = begin; i < begin + args.lookup_batch; ++i) {
      request.add_ids(Id(w.lookup[i]));
    }
  }
  Repeat(args, "get_batch", [&](int) {
    int64_t found = 0;
    for (const auto& request : requests) {
      absl::StatusOr<winnow::v1::GetScoresResponse> r =
          client.GetScores(request);
      Check(r.status(), "GetScores");
      found += r->ids_size() * r->scores_size() / 3;
    }
    return found;
  });
}

void PutScores(const Args& args, const Workload& w, winnow::Client& client) {
  // Messages are built before each repetition's clock starts; the timing
  // runs from the first batch sent to the last one acknowledged (durable).
  auto build = [&] {
    std::vector<winnow::v1::PutScoresRequest> batches;
    const size_t n = w.update_ordinals.size();
    for (size_t begin = 0; begin < n; begin += args.put_batch) {
      const size_t end = std::min(n, begin + args.put_batch);
      winnow::v1::PutScoresRequest& b = batches.emplace_back();
      b.set_collection(args.collection);
      b.mutable_ids()->Reserve(static_cast<int>(end - begin));
      for (size_t i = begin; i < end; ++i) b.add_ids(Id(w.update_ordinals[i]));
      winnow::v1::ScoreColumn* s = b.add_scores();
      s->set_name("quality");
      s->mutable_values()->Assign(w.update_values.begin() + begin,
                                  w.update_values.begin() + end);
    }
    return batches;
  };
  std::vector<double> seconds;
  int64_t result = 0;
  for (int r = -args.warmup; r < args.reps; ++r) {
    std::vector<winnow::v1::PutScoresRequest> batches = build();
    winnow::WriterOptions options;
    options.max_in_flight = args.in_flight;
    const Clock::time_point start = Clock::now();
    winnow::ScoreWriter writer = client.PutScores(args.collection, options);
    for (auto& b : batches) Check(writer.Write(std::move(b)), "PutScores");
    Check(writer.Close(), "PutScores Close");
    const double s = Seconds(start);
    if (r < 0) continue;
    seconds.push_back(s);
    result = writer.stats().documents_acked;
  }
  Print("put_scores", seconds, result);
}

// One sample_load reader: `calls` Sample calls of one batch each, their
// latencies into *latencies.
void LoadReader(const Args& args, int reader, const Clock::time_point end,
                std::vector<double>* latencies) {
  winnow::ClientOptions options;
  options.default_timeout = absl::Seconds(60);
  absl::StatusOr<winnow::Client> client =
      winnow::Client::Connect(args.target, options);
  Check(client.status(), "Connect");
  winnow::v1::SampleRequest request;
  request.set_collection(args.collection);
  request.mutable_strategy()->mutable_uniform();
  request.set_seed(static_cast<uint64_t>(args.seed * 1000 + reader));
  request.set_run_id("load-" + std::to_string(getpid()) + "-" +
                     std::to_string(reader));
  request.set_num_epochs(0);
  request.set_batch_size(args.load_batch);
  request.set_world_size(1);
  request.set_max_batches(1);
  request.set_view(winnow::v1::RESULT_VIEW_PACKED);
  const auto period =
      std::chrono::duration<double>(args.rate > 0 ? 1.0 / args.rate : 0.0);
  Clock::time_point next = Clock::now();
  bool first = true;
  std::string plan_id;
  while (Clock::now() < end) {
    if (!args.stop_file.empty() && access(args.stop_file.c_str(), F_OK) == 0) {
      break;
    }
    std::this_thread::sleep_until(next);
    const Clock::time_point start = Clock::now();
    winnow::SampleReader stream = client->Sample(request);
    winnow::v1::SampleResponse response;
    int64_t ids = 0;
    std::string cursor;
    while (stream.Next(&response)) {
      ids += BatchIds(response.batch());
      cursor = response.cursor();
      if (!response.plan_id().empty()) plan_id = response.plan_id();
    }
    Check(stream.Finish(), "Sample");
    const double s = Seconds(start);
    if (ids != args.load_batch) Die("sample_load: a short batch");
    // The first call creates the plan: not a batch latency.
    if (!first) latencies->push_back(s);
    first = false;
    // Then the plan by its id, from the cursor after the last batch.
    request = winnow::v1::SampleRequest();
    request.set_plan_id(plan_id);
    request.set_cursor(cursor);
    request.set_world_size(1);
    request.set_max_batches(1);
    request.set_view(winnow::v1::RESULT_VIEW_PACKED);
    next = std::max(Clock::now(),
                    next + std::chrono::duration_cast<Clock::duration>(period));
  }
  DeletePlan(*client, &plan_id);
}

void SampleLoad(const Args& args) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(args.duration));
  std::vector<std::vector<double>> latencies(args.streams);
  std::vector<std::thread> readers;
  for (int r = 0; r < args.streams; ++r) {
    readers.emplace_back(LoadReader, std::cref(args), r, end, &latencies[r]);
  }
  for (std::thread& t : readers) t.join();
  const double elapsed = Seconds(start);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto at = [&](double q) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1,
                                      static_cast<size_t>(q * all.size()))];
  };
  std::printf(
      "{\"op\": \"sample_load\", \"calls\": %zu, \"seconds\": %.3f, "
      "\"rate_per_stream\": %.1f, \"p50\": %.6f, \"p90\": %.6f, "
      "\"p99\": %.6f, \"max\": %.6f}\n",
      all.size(), elapsed,
      static_cast<double>(all.size()) / elapsed / args.streams, at(0.5),
      at(0.9), at(0.99), all.empty() ? 0.0 : all.back());
  std::fflush(stdout);
}

// The timed Sample operations: weighted and uniform in the packed view,
// weighted in the IDS view, and a new weighted plan's first message (of k
// samples, or of a whole epoch: a long plan).
std::optional<SampleMode> SampleModeOf(const std::string& op) {
  if (op == "sample_weighted") return SampleMode{true};
  if (op == "sample_uniform") return SampleMode{false};
  if (op == "sample_weighted_ids") {
    return SampleMode{true, winnow::v1::RESULT_VIEW_IDS};
  }
  if (op == "first_batch_weighted") {
    return SampleMode{true, winnow::v1::RESULT_VIEW_PACKED, true};
  }
  if (op == "first_batch_epoch_weighted") {
    return SampleMode{true, winnow::v1::RESULT_VIEW_PACKED, true, true};
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--target")
      args.target = value();
    else if (a == "--data")
      args.data = value();
    else if (a == "--collection")
      args.collection = value();
    else if (a == "--ops")
      args.ops = absl::StrSplit(value(), ',');
    else if (a == "--reps")
      args.reps = std::atoi(value().c_str());
    else if (a == "--warmup")
      args.warmup = std::atoi(value().c_str());
    else if (a == "--k")
      args.k = std::atoll(value().c_str());
    else if (a == "--ingest-batch")
      args.ingest_batch = std::atoi(value().c_str());
    else if (a == "--in-flight")
      args.in_flight = std::atoi(value().c_str());
    else if (a == "--put-batch")
      args.put_batch = std::atoi(value().c_str());
    else if (a == "--lookup-batch")
      args.lookup_batch = std::atoi(value().c_str());
    else if (a == "--single-lookups")
      args.single_lookups = std::atoll(value().c_str());
    else if (a == "--stream-window")
      args.stream_window = std::max(1, std::atoi(value().c_str()));
    else if (a == "--seed")
      args.seed = std::atoll(value().c_str());
    else if (a == "--keep-plans")
      args.keep_plans = true;
    else if (a == "--emb-dim")
      args.emb_dim = std::atoi(value().c_str());
    else if (a == "--streams")
      args.streams = std::max(1, std::atoi(value().c_str()));
    else if (a == "--load-batch")
      args.load_batch = std::max(1, std::atoi(value().c_str()));
    else if (a == "--rate")
      args.rate = std::atof(value().c_str());
    else if (a == "--duration")
      args.duration = std::atof(value().c_str());
    else if (a == "--stop-file")
      args.stop_file = value();
    else
      Die("unknown flag " + a);
  }
  if (args.target.empty() || args.data.empty() || args.ops.empty()) {
    Die("usage: --target HOST:PORT --data DIR --ops OP[,OP...] [--reps R]");
  }
  const Workload w = Load(args.data);
  winnow::ClientOptions options;
  options.default_timeout = absl::Seconds(300);
  absl::StatusOr<winnow::Client> client =
      winnow::Client::Connect(args.target, options);
  Check(client.status(), "Connect");

  for (const std::string& op : args.ops) {
    if (op == "ingest") {
      Ingest(args, w, *client);
    } else if (op == "ingest_emb") {
      IngestEmbeddings(args, w, *client);
    } else if (op == "load_emb") {
      LoadEmbeddings(args, *client);
    } else if (op == "count") {
      Repeat(args, op, [&](int) { return Count(args, *client); });
    } else if (op == "filter_ids") {
      Repeat(args, op, [&](int) { return FilterIds(args, *client); });
    } else if (auto mode = SampleModeOf(op)) {
      std::string plan_id;
      std::optional<winnow::SampleReader> open;  // first_batch: untimed end
      Repeat(
          args, op,
          [&](int rep) {
            return SampleIds(args, op, *client, *mode, rep, &open, &plan_id);
          },
          [&] {
            if (open) {
              open->Cancel();
              open->Finish().IgnoreError();
              open.reset();
            }
            // A whole-epoch plan holds every candidate (about 20 bytes
            // each), so it goes even with --keep-plans, whose RSS row is
            // about the k-sample plans.
            if (!args.keep_plans || mode->whole_epoch) {
              DeletePlan(*client, &plan_id);
            }
          });
    } else if (op == "stream_packed" || op == "stream_ids") {
      StreamExisting(args, op, *client,
                     op == "stream_packed" ? winnow::v1::RESULT_VIEW_PACKED
                                           : winnow::v1::RESULT_VIEW_IDS);
    } else if (op == "get_single") {
      GetSingle(args, w, *client);
    } else if (op == "get_stream") {
      GetStream(args, w);
    } else if (op == "get_batch") {
      GetBatch(args, w, *client);
    } else if (op == "put_scores") {
      PutScores(args, w, *client);
    } else if (op == "sample_load") {
      SampleLoad(args);
    } else {
      Die("unknown op " + op);
    }
  }
  return 0;
}
