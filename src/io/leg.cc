#include "mailtap/io/leg.h"

namespace mailtap::io {
namespace {

// One read buffer per thread: reads are consumed synchronously inside the read callback, so a
// session holds no read buffer of its own while idle.
constexpr size_t kReadBufferSize = 64 << 10;
thread_local char g_read_buffer[kReadBufferSize];

struct WriteRequest {
  uv_write_t req;
  std::string data;  // data[sent..] is queued: what uv_try_write took is not copied again
  size_t sent;
  Leg* leg;
  size_t queued() const { return data.size() - sent; }
};

}  // namespace

Leg::Leg(uv_loop_t* loop, Side side, LegOwner& owner) : side_(side), owner_(owner) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
}

Leg::~Leg() = default;

void Leg::allow_reading() {
  read_allowed_ = true;
  update_reading();
}

void Leg::set_paused(bool paused) {
  paused_ = paused;
  update_reading();
}

void Leg::update_reading() {
  if (closing_) return;  // a lingering close manages reading itself
  bool want = read_allowed_ && !paused_ && !eof_;
  if (want && !reading_) {
    if (uv_read_start(stream(), &Leg::on_alloc, &Leg::on_read) == 0) reading_ = true;
  } else if (!want && reading_) {
    uv_read_stop(stream());
    reading_ = false;
  }
}

void Leg::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(g_read_buffer, kReadBufferSize);
}

void Leg::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  Leg* leg = static_cast<Leg*>(s->data);
  if (n == 0) return;
  if (leg->closing_) {
    // Lingering close: discard input until the peer closes.
    if (n < 0) {
      leg->eof_ = true;
      uv_read_stop(s);
      leg->reading_ = false;
      leg->maybe_close_handle();
    }
    return;
  }
  if (n < 0) {
    leg->eof_ = true;
    leg->update_reading();
    // A reset that a write met first (ECONNRESET, or EPIPE once the socket is down) was consumed
    // by that write, as Linux reports a socket error once: the read then sees a plain end of
    // stream, but the peer did reset.
    if (n == UV_EOF && leg->write_error_ != 0) n = UV_ECONNRESET;
    bool reset = n != UV_EOF;
    leg->owner_.on_eof(leg->side_, reset, reset ? uv_strerror(static_cast<int>(n)) : "");
    return;
  }
  leg->wire_in_ += static_cast<uint64_t>(n);
  leg->handle_bytes(std::string_view(buf->base, static_cast<size_t>(n)));
}

void Leg::handle_bytes(std::string_view bytes) {
  if (!tls_) {
    owner_.on_plaintext(side_, bytes);
    return;
  }
  tls_->feed_encrypted(bytes);
  flush_tls();
  if (tls_->failed()) {
    owner_.on_tls_failed(side_, tls_->error());
    return;
  }
  if (!tls_reported_ && tls_->handshake_complete()) {
    tls_reported_ = true;
    owner_.on_tls_established(side_, tls_->info());
    if (closing_ || !tls_) return;
  }
  if (tls_->has_plaintext()) {
    // Read in place: the endpoint decrypted into a buffer it hands back once we are done.
    tls::TlsEndpoint* endpoint = tls_.get();
    owner_.on_plaintext(side_, endpoint->plaintext());
    if (tls_.get() == endpoint) endpoint->discard_plaintext();
    if (closing_ || !tls_) return;
  }
  if (tls_->peer_closed() && !eof_) {
    eof_ = true;
    update_reading();
    owner_.on_eof(side_, false, "TLS close_notify");
  }
}

void Leg::write(std::string bytes) {
  if (closing_ || bytes.empty()) return;
  if (hold_depth_ > 0) {
    // Small pieces (a reply's lines) join into one TLS record and one system call; a large one
    // is taken as it is (moved, not copied) after what came before.
    if (!held_) {
      held_ = std::make_unique<std::string>(std::move(bytes));
    } else if (held_->size() + bytes.size() <= kCoalesceBytes) {
      held_->append(bytes);
    } else {
      send_held();
      held_ = std::make_unique<std::string>(std::move(bytes));
    }
    return;
  }
  if (!tls_) {
    write_wire(std::move(bytes));
    return;
  }
  tls_->write_plaintext(bytes);
  flush_tls();
}

void Leg::hold_writes() {
  ++hold_depth_;
}

void Leg::release_writes() {
  if (hold_depth_ == 0 || --hold_depth_ > 0) return;
  send_held();
  flush_tls();
}

// Hands the held bytes on: encrypted into the TLS output (written by the next flush_tls), or to
// the socket.
void Leg::send_held() {
  if (!held_) return;
  std::string bytes = std::move(*held_);
  held_.reset();
  if (tls_) {
    tls_->write_plaintext(bytes);
  } else {
    write_wire(std::move(bytes));
  }
}

void Leg::flush_tls() {
  if (!tls_ || !tls_->has_encrypted()) return;
  std::string out;
  tls_->take_encrypted(out);
  write_wire(std::move(out));
}

void Leg::write_wire(std::string bytes) {
  if (bytes.empty() || uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) return;
  wire_out_ += bytes.size();
  size_t offset = 0;
  if (pending_write_bytes_ == 0) {
    // Fast path: most writes complete at once and need no request or copy.
    uv_buf_t b = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
    int n = uv_try_write(stream(), &b, 1);
    if (n > 0) offset = static_cast<size_t>(n);
    note_write_error(n);
    if (offset == bytes.size()) return;
  }
  auto* req = new WriteRequest{{}, std::move(bytes), offset, this};
  req->req.data = req;
  pending_write_bytes_ += req->queued();
  uv_buf_t b = uv_buf_init(req->data.data() + offset, static_cast<unsigned>(req->queued()));
  int rc = uv_write(&req->req, stream(), &b, 1, &Leg::on_write);
  if (rc != 0) {
    note_write_error(rc);
    pending_write_bytes_ -= req->queued();
    delete req;
  }
}

void Leg::note_write_error(int status) {
  if ((status == UV_ECONNRESET || status == UV_EPIPE) && write_error_ == 0) write_error_ = status;
}

void Leg::on_write(uv_write_t* r, int status) {
  auto* req = static_cast<WriteRequest*>(r->data);
  Leg* leg = req->leg;
  leg->note_write_error(status);
  size_t before = leg->pending_write_bytes_;
  leg->pending_write_bytes_ -= req->queued();
  delete req;
  if (before >= kLowWatermark && leg->pending_write_bytes_ < kLowWatermark && !leg->closing_)
    leg->owner_.on_write_drained(leg->side_);
}

void Leg::start_tls(std::unique_ptr<tls::TlsEndpoint> endpoint) {
  // What was written before (a positive STARTTLS reply) leaves as it was, before the handshake.
  send_held();
  flush_tls();
  tls_ = std::move(endpoint);
  tls_reported_ = false;
  tls_->start();
  flush_tls();
}

void Leg::shutdown_write() {
  if (closing_ || shutdown_sent_) return;
  send_held();
  flush_tls();
  if (tls_ && tls_->handshake_complete()) {
    tls_->close_notify();
    flush_tls();
  }
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, stream(), &Leg::on_shutdown) != 0) {
    delete req;
    shutdown_done_ = true;
  }
  shutdown_sent_ = true;
}

void Leg::on_shutdown(uv_shutdown_t* req, int) {
  Leg* leg = static_cast<Leg*>(req->data);
  delete req;
  leg->shutdown_done_ = true;
  leg->maybe_close_handle();
}

// A lingering close: our last words (a "421 ..." say) are queued, then the write side is shut
// down, and what the peer still sends is read and discarded until it closes too (or the
// connection's close deadline passes). Closing at once with unread input would send a reset,
// which can destroy our last words before the peer reads them.
void Leg::close() {
  if (closing_) return;
  send_held();  // our last words
  flush_tls();
  closing_ = true;
  if (tls_ && tls_->handshake_complete() && !shutdown_sent_) {
    tls_->close_notify();
    flush_tls();
  }
  if (!shutdown_sent_) {
    shutdown_sent_ = true;
    auto* req = new uv_shutdown_t;
    req->data = this;
    if (uv_shutdown(req, stream(), &Leg::on_shutdown) != 0) {
      delete req;
      shutdown_done_ = true;
    }
  }
  if (!eof_ && !reading_) {
    if (uv_read_start(stream(), &Leg::on_alloc, &Leg::on_read) == 0) {
      reading_ = true;
    } else {
      eof_ = true;  // never connected, or already gone
    }
  }
  maybe_close_handle();
}

void Leg::maybe_close_handle() {
  if (!closing_ || !shutdown_done_ || !eof_) return;
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Leg::on_close);
}

void Leg::force_close() {
  closing_ = true;
  held_.reset();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Leg::on_close);
}

void Leg::on_close(uv_handle_t* h) {
  Leg* leg = static_cast<Leg*>(h->data);
  leg->owner_.on_leg_closed(leg->side_);
}

}  // namespace mailtap::io
