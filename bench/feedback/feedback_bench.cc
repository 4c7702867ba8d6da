// The training-feedback bench (docs/benchmarks.md, "Training feedback"):
// against a running winnowd, through the C++ client.
//
//  1. sampling under reports: a Sample stream's samples/s for --seconds
//     idle, then while 4 reporters each send one message of 4,096 reports
//     every 100 ms; prints both and their ratio. Target: >= 0.70.
//  2. ingestion: one TrainingReporter sends --messages messages of
//     --per-message per-sample reports (random documents, by ordinal and
//     then by id), each durable before its acknowledgement; prints
//     reports/s. Target: >= 1,000,000 with 4,096 per message.
//
//   feedback_bench --target 127.0.0.1:PORT [--docs 1000000]
//       [--messages 500] [--per-message 4096] [--in-flight 8] [--seconds 5]
//       [--load-per-message 4096] [--skip-ingest]
//
// bench/feedback/run.sh starts winnowd on a free port with a fresh data
// directory and runs it. Output: one JSON object per line.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "winnow/client/client.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string target;
  std::string collection = "feedback-bench";
  int64_t docs = 1000000;
  int64_t messages = 500;
  int64_t per_message = 4096;
  int in_flight = 8;
  double seconds = 5;
  int64_t load_per_message = 4096;  // the reporters' messages in phase 2
  bool skip_ingest = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "feedback_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Id(int64_t i) { return "doc-" + std::to_string(i); }

void Setup(const Args& args, winnow::Client& client) {
  winnow::v1::DeleteCollectionRequest del;
  del.set_name(args.collection);
  del.set_allow_missing(true);
  Check(client.DeleteCollection(del).status(), "DeleteCollection");
  winnow::v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name(args.collection);
  Check(client.CreateCollection(create).status(), "CreateCollection");
  winnow::DocumentWriter writer = client.UpsertDocuments(args.collection);
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < args.docs;) {
    winnow::v1::UpsertDocumentsRequest batch;
    winnow::v1::DocumentColumns* c = batch.mutable_columns();
    for (int64_t k = 0; k < 16384 && i < args.docs; ++k, ++i) {
      c->add_ids(Id(i));
      c->add_lengths(512);
      c->add_domains(i % 3 == 0 ? "code" : "web");
    }
    Check(writer.Write(std::move(batch)), "UpsertDocuments");
  }
  Check(writer.Close(), "UpsertDocuments");
  std::printf("{\"op\": \"setup\", \"docs\": %" PRId64 ", \"seconds\": %.3f}\n",
              args.docs, Since(start));
  std::fflush(stdout);
}

// One message of `n` random documents at one step.
winnow::v1::ReportTrainingRequest MakeMessage(const Args& args, int64_t n,
                                              int64_t step, bool by_id,
                                              std::mt19937_64& rng) {
  winnow::v1::ReportTrainingRequest m;
  std::uniform_int_distribution<int64_t> doc(0, args.docs - 1);
  std::uniform_real_distribution<float> loss(0.5f, 6.0f);
  if (by_id) {
    m.mutable_ids()->Reserve(static_cast<int>(n));
  } else {
    m.mutable_ordinals()->Reserve(static_cast<int>(n));
  }
  m.mutable_losses()->Reserve(static_cast<int>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (by_id) {
      m.add_ids(Id(doc(rng)));
    } else {
      m.add_ordinals(static_cast<uint64_t>(doc(rng)));
    }
    m.add_losses(loss(rng));
  }
  m.add_steps(step);
  return m;
}

// Sends args.messages messages on one reporter; prints reports/s. The
// messages are built before the clock starts (a trainer has its losses
// already).
void Ingest(const Args& args, winnow::Client& client, bool by_id) {
  std::mt19937_64 rng(by_id ? 2 : 1);
  std::vector<winnow::v1::ReportTrainingRequest> messages;
  for (int64_t k = 0; k < args.messages; ++k) {
    messages.push_back(MakeMessage(args, args.per_message, k, by_id, rng));
  }
  winnow::WriterOptions o;
  o.stream_id = std::string("bench/") + (by_id ? "ids" : "ordinals");
  o.max_in_flight = args.in_flight;
  winnow::TrainingReporter reporter = client.ReportTraining(args.collection, o);
  int64_t applied = 0;
  reporter.set_on_ack([&](const winnow::v1::ReportTrainingResponse& ack) {
    applied += ack.applied_count();
  });
  const Clock::time_point start = Clock::now();
  for (auto& m : messages) Check(reporter.Write(std::move(m)), "Write");
  Check(reporter.Close(), "Close");
  const double s = Since(start);
  if (applied != args.messages * args.per_message) {
    Die("applied " + std::to_string(applied) + " reports, sent " +
        std::to_string(args.messages * args.per_message));
  }
  std::printf("{\"op\": \"ingest_by_%s\", \"messages\": %" PRId64
              ", \"per_message\": %" PRId64
              ", \"in_flight\": %d, \"seconds\": %.3f, "
              "\"reports_per_second\": %.0f}\n",
              by_id ? "id" : "ordinal", args.messages, args.per_message,
              args.in_flight, s, static_cast<double>(applied) / s);
  std::fflush(stdout);
}

// Samples for args.seconds on one unbounded Sample stream; returns
// samples/s.
double SampleRate(const Args& args, winnow::Client& client, int run) {
  winnow::v1::SampleRequest request;
  request.set_collection(args.collection);
  request.mutable_strategy()->mutable_uniform();
  request.set_run_id("feedback-bench-" + std::to_string(run));
  request.set_seed(static_cast<uint64_t>(run + 1));
  request.set_num_epochs(0);
  request.set_batch_size(1024);
  request.set_world_size(1);
  request.set_rank(0);
  request.set_view(winnow::v1::RESULT_VIEW_IDS);
  winnow::SampleReader reader = client.Sample(request);
  winnow::v1::SampleResponse response;
  // The first batch builds the plan: not timed.
  if (!reader.Next(&response)) Check(reader.Finish(), "Sample");
  int64_t samples = 0;
  const Clock::time_point start = Clock::now();
  while (Since(start) < args.seconds && reader.Next(&response)) {
    samples += response.batch().ids_size();
  }
  const double s = Since(start);
  reader.Cancel();
  return static_cast<double>(samples) / s;
}

void SampleUnderReports(const Args& args, winnow::Client& client) {
  const double idle = SampleRate(args, client, 1);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reported{0};
  std::vector<std::thread> reporters;
  for (int r = 0; r < 4; ++r) {
    reporters.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      winnow::WriterOptions o;
      o.stream_id = "bench/rank-" + std::to_string(r);
      winnow::TrainingReporter reporter =
          client.ReportTraining(args.collection, o);
      reporter.set_on_ack([&](const winnow::v1::ReportTrainingResponse& ack) {
        reported += ack.applied_count();
      });
      Clock::time_point next = Clock::now();
      for (int64_t step = 0; !stop.load(); ++step) {
        Check(reporter.Write(
                  MakeMessage(args, args.load_per_message, step, false, rng)),
              "Write");
        next += std::chrono::milliseconds(100);
        std::this_thread::sleep_until(next);
      }
      Check(reporter.Close(), "Close");
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t before = reported.load();
  const Clock::time_point start = Clock::now();
  const double loaded = SampleRate(args, client, 2);
  const double report_rate =
      static_cast<double>(reported.load() - before) / Since(start);
  stop = true;
  for (std::thread& t : reporters) t.join();
  std::printf(
      "{\"op\": \"sample_under_reports\", \"seconds\": %.1f, "
      "\"idle_samples_per_second\": %.0f, "
      "\"loaded_samples_per_second\": %.0f, \"ratio\": %.3f, "
      "\"reports_per_second_meanwhile\": %.0f, \"load_per_message\": "
      "%" PRId64 "}\n",
      args.seconds, idle, loaded, loaded / idle, report_rate,
      args.load_per_message);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value of " + a);
      return argv[++i];
    };
    if (a == "--target") {
      args.target = value();
    } else if (a == "--docs") {
      args.docs = std::atoll(value().c_str());
    } else if (a == "--messages") {
      args.messages = std::atoll(value().c_str());
    } else if (a == "--per-message") {
      args.per_message = std::atoll(value().c_str());
    } else if (a == "--in-flight") {
      args.in_flight = std::atoi(value().c_str());
    } else if (a == "--seconds") {
      args.seconds = std::atof(value().c_str());
    } else if (a == "--load-per-message") {
      args.load_per_message = std::atoll(value().c_str());
    } else if (a == "--skip-ingest") {
      args.skip_ingest = true;
    } else {
      Die("unknown flag " + a +
          "; usage: --target HOST:PORT [--docs N] [--messages M] "
          "[--per-message K] [--in-flight W] [--seconds S]");
    }
  }
  if (args.target.empty() || args.docs < 1) Die("--target is required");
  winnow::ClientOptions options;
  options.default_timeout = absl::Seconds(60);
  absl::StatusOr<winnow::Client> client =
      winnow::Client::Connect(args.target, options);
  Check(client.status(), "Connect");
  Setup(args, *client);
  // Sampling first, in steady state: after the ingestion phase, RocksDB
  // compacts its log for a while and the next checkpoint is due with every
  // block dirty, which would land in the sampling window.
  SampleUnderReports(args, *client);
  if (!args.skip_ingest) {
    Ingest(args, *client, /*by_id=*/false);
    Ingest(args, *client, /*by_id=*/true);
  }
  return 0;
}
