// TLS endpoint micro-benchmarks: bulk relay through a client/server endpoint pair (what each
// leg of a session costs per MB), handshakes with a cached minted leaf, and leaf minting.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "mailtap/tls/cert_authority.h"
#include "mailtap/tls/tls_contexts.h"
#include "mailtap/tls/tls_endpoint.h"

namespace {

using namespace mailtap::tls;

struct BenchTls {
  std::filesystem::path dir;
  std::shared_ptr<CertAuthority> ca;
  std::shared_ptr<SSL_CTX> server_ctx;
  std::shared_ptr<SSL_CTX> client_ctx;

  BenchTls() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mailtap-bench-XXXXXX").string();
    dir = mkdtemp(pattern.data());
    std::string error = CertAuthority::init(dir, false);
    ca = CertAuthority::load(dir, error);
    server_ctx = make_client_facing_context(ca, error);
    UpstreamTrust trust;
    trust.ca_file = ca->certificate_path().string();
    client_ctx = make_upstream_context(trust, error);
    if (!server_ctx || !client_ctx) abort();
  }
  ~BenchTls() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  static BenchTls& get() {
    static BenchTls instance;
    return instance;
  }
};

struct Pair {
  std::unique_ptr<TlsEndpoint> client;
  std::unique_ptr<TlsEndpoint> server;
  std::string wire;

  Pair() {
    BenchTls& tls = BenchTls::get();
    LeafSpec spec;
    spec.upstream_host = "localhost";
    server = TlsEndpoint::make_server(tls.server_ctx.get(), spec);
    ClientOptions options;
    options.server_name = "localhost";
    client = TlsEndpoint::make_client(tls.client_ctx.get(), options);
    client->start();
    pump();
  }
  void pump() {
    for (bool moved = true; moved;) {
      moved = false;
      wire.clear();
      client->take_encrypted(wire);
      if (!wire.empty()) server->feed_encrypted(wire), moved = true;
      wire.clear();
      server->take_encrypted(wire);
      if (!wire.empty()) client->feed_encrypted(wire), moved = true;
    }
  }
};

// One direction of one leg: encrypt on one endpoint, decrypt on the other, in writes of
// state.range(0) bytes. A relayed session pays this twice per direction.
void BM_EncryptDecrypt(benchmark::State& state) {
  Pair pair;
  const std::string chunk(static_cast<size_t>(state.range(0)), 'x');
  std::string plain;
  for (auto _ : state) {
    pair.client->write_plaintext(chunk);
    pair.wire.clear();
    pair.client->take_encrypted(pair.wire);
    pair.server->feed_encrypted(pair.wire);
    plain.clear();
    pair.server->take_plaintext(plain);
    benchmark::DoNotOptimize(plain.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncryptDecrypt)->Arg(64)->Arg(1024)->Arg(16 * 1024)->Arg(64 * 1024);

// The same as a leg does it: the decrypted bytes are used in place (plaintext()) and handed back
// (discard_plaintext()), without take_plaintext's copy into a string.
void BM_EncryptDecryptInPlace(benchmark::State& state) {
  Pair pair;
  const std::string chunk(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    pair.client->write_plaintext(chunk);
    pair.wire.clear();
    pair.client->take_encrypted(pair.wire);
    pair.server->feed_encrypted(pair.wire);
    benchmark::DoNotOptimize(pair.server->plaintext().data());
    pair.server->discard_plaintext();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncryptDecryptInPlace)->Arg(64)->Arg(1024)->Arg(16 * 1024)->Arg(64 * 1024);

// Full handshake between fresh endpoints; the leaf comes from the CA's cache.
void BM_Handshake(benchmark::State& state) {
  for (auto _ : state) {
    Pair pair;
    benchmark::DoNotOptimize(pair.client->handshake_complete());
  }
}
BENCHMARK(BM_Handshake)->Unit(benchmark::kMicrosecond);

// Minting a leaf for a new name (cache miss).
void BM_MintLeaf(benchmark::State& state) {
  BenchTls& tls = BenchTls::get();
  size_t n = 0;
  for (auto _ : state) {
    LeafSpec spec;
    spec.upstream_host = "host" + std::to_string(n++) + ".example";
    benchmark::DoNotOptimize(tls.ca->leaf_for(spec).cert.get());
  }
}
BENCHMARK(BM_MintLeaf)->Unit(benchmark::kMicrosecond);

// Heap held by an established, idle endpoint pair after a small exchange (one session has two
// pairs' worth of endpoints: one per leg, each with a peer here only for the test).
void BM_IdlePairMemory(benchmark::State& state) {
  std::vector<std::unique_ptr<Pair>> pairs;
  for (auto _ : state) {
    state.PauseTiming();
    pairs.clear();
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 100; ++i) {
      auto pair = std::make_unique<Pair>();
      pair->client->write_plaintext("a1 NOOP\r\n");
      pair->pump();
      std::string plain;
      pair->server->take_plaintext(plain);
      pair->server->write_plaintext("a1 OK NOOP completed\r\n");
      pair->pump();
      plain.clear();
      pair->client->take_plaintext(plain);
      pair->wire = std::string();
      pairs.push_back(std::move(pair));
    }
    state.counters["bytes_per_endpoint"] =
        static_cast<double>(mallinfo2().uordblks - before) / (2.0 * pairs.size());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_IdlePairMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
