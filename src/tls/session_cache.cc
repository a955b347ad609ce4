#include "mailtap/tls/session_cache.h"

#include <openssl/ssl.h>

#include <string>
#include <unordered_map>

namespace mailtap::tls {
namespace {

// A bounded number of upstreams per context; beyond it the cache starts over.
constexpr size_t kMaxSessions = 1024;

struct SessionCache {
  std::unordered_map<std::string, SSL_SESSION*> sessions;
  ~SessionCache() {
    for (auto& [key, session] : sessions) SSL_SESSION_free(session);
  }
  void store(const std::string& key, SSL_SESSION* session) {
    if (sessions.size() >= kMaxSessions && !sessions.contains(key)) {
      for (auto& [k, s] : sessions) SSL_SESSION_free(s);
      sessions.clear();
    }
    auto [it, inserted] = sessions.try_emplace(key, session);
    if (!inserted) {
      SSL_SESSION_free(it->second);
      it->second = session;
    }
  }
};

void free_cache(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<SessionCache*>(ptr);
}

int cache_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_cache);
  return index;
}

SessionCache* cache_of(SSL_CTX* ctx) {
  return static_cast<SessionCache*>(SSL_CTX_get_ex_data(ctx, cache_index()));
}

// Called for every session (TLS 1.3: every NewSessionTicket) of a successful handshake.
// Returning 1 keeps the reference OpenSSL hands over.
int on_new_session(SSL* ssl, SSL_SESSION* session) noexcept {
  const std::string* key = client_session_key(ssl);
  SessionCache* cache = cache_of(SSL_get_SSL_CTX(ssl));
  if (!key || key->empty() || !cache || !SSL_SESSION_is_resumable(session)) return 0;
  try {
    cache->store(*key, session);
    return 1;
  } catch (...) {
    return 0;  // out of memory: simply no resumption
  }
}

}  // namespace

bool enable_client_session_cache(SSL_CTX* ctx) {
  auto* cache = new SessionCache();
  if (SSL_CTX_set_ex_data(ctx, cache_index(), cache) != 1) {
    delete cache;
    return false;
  }
  // OpenSSL's internal store is for servers; clients get sessions through the callback only.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  return true;
}

void resume_client_session(SSL* ssl, const std::string& key) {
  if (key.empty()) return;
  SessionCache* cache = cache_of(SSL_get_SSL_CTX(ssl));
  if (!cache) return;
  auto it = cache->sessions.find(key);
  if (it == cache->sessions.end()) return;
  // OpenSSL marks a session not resumable when its connection was freed without our
  // close_notify (the peer may have seen a truncated stream); such a session is dropped.
  if (!SSL_SESSION_is_resumable(it->second)) {
    SSL_SESSION_free(it->second);
    cache->sessions.erase(it);
    return;
  }
  SSL_set_session(ssl, it->second);  // takes its own reference
}

size_t cached_client_sessions(SSL_CTX* ctx) {
  SessionCache* cache = cache_of(ctx);
  return cache ? cache->sessions.size() : 0;
}

}  // namespace mailtap::tls
