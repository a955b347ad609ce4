// The local CA: key and certificate on disk (key mode 0600), leaves minted in memory and cached.
#include "mailtap/tls/cert_authority.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "mailtap/tls/openssl_handles.h"
#include "mailtap/tls/x509_inspect.h"

namespace mailtap::tls {
namespace fs = std::filesystem;

namespace {

constexpr const char* kKeyFile = "ca.key";
constexpr const char* kCertFile = "ca.pem";
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kCaLifetime = 3650 * kDay;
constexpr std::int64_t kDefaultLeafLifetime = 365 * kDay;
constexpr size_t kMaxCachedLeaves = 4096;  // a flood of random SNI names cannot grow memory forever
constexpr int kMaxCommonName = 64;         // ub-common-name in RFC 5280

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::string errno_text() {
  return std::strerror(errno);
}

// P-256: as strong as 3072-bit RSA, fast to generate, and the cheapest handshake signature.
EvpPkeyPtr generate_key() {
  return EvpPkeyPtr(EVP_EC_gen("P-256"));
}

std::string user_and_host() {
  std::string user;
  if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) user = pw->pw_name;
  if (user.empty()) {
    const char* env = std::getenv("USER");
    user = env ? env : "user";
  }
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::strcpy(host, "localhost");
  return user + "@" + host;
}

// Positive, non-zero, 128 random bits.
bool set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never zero, and always 16 significant bytes
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn) return false;
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  return serial && X509_set_serialNumber(cert, serial.get()) == 1;
}

bool set_validity(X509* cert, std::int64_t not_before, std::int64_t not_after) {
  Asn1TimePtr from(ASN1_TIME_set(nullptr, static_cast<time_t>(not_before)));
  Asn1TimePtr until(ASN1_TIME_set(nullptr, static_cast<time_t>(not_after)));
  return from && until && X509_set1_notBefore(cert, from.get()) == 1 &&
         X509_set1_notAfter(cert, until.get()) == 1;
}

// Adds an extension written in openssl.cnf syntax ("critical,CA:TRUE").
bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// RFC 5280 4.2.1.6: the extension is critical when the subject is empty.
bool add_subject_alt_names(X509* cert, const std::vector<std::string>& names, bool critical) {
  GeneralNamesPtr sans(sk_GENERAL_NAME_new_null());
  if (!sans) return false;
  for (const std::string& name : names) {
    GeneralNamePtr entry(GENERAL_NAME_new());
    if (!entry) return false;
    if (is_ip_literal(name)) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(strip_brackets(name).c_str());
      if (!ip) return false;
      GENERAL_NAME_set0_value(entry.get(), GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (!dns || ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        return false;
      }
      GENERAL_NAME_set0_value(entry.get(), GEN_DNS, dns);
    }
    if (!sk_GENERAL_NAME_push(sans.get(), entry.get())) return false;
    entry.release();
  }
  return X509_add1_ext_i2d(cert, NID_subject_alt_name, sans.get(), critical ? 1 : 0,
                           X509V3_ADD_DEFAULT) == 1;
}

// A name worth putting in a DNS SAN: letters, digits, '-', '.', '_' and a leading "*." wildcard.
// Real certificates often carry a CN like "Dovecot mail server"; strict clients (Go, for one)
// reject a certificate whose DNS SAN is not a host name, so such names are left out.
bool looks_like_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.front() == '.' || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

std::string normalise_name(std::string_view name) {
  if (is_ip_literal(name)) return strip_brackets(name);
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!lower.empty() && lower.back() == '.') lower.pop_back();  // "example.com." is absolute
  return lower;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string key_pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

// Writes `content` to a fresh file created with `mode` from the start (O_EXCL: never reusing a
// file someone else prepared, never briefly more readable than `mode`), then renames it into
// place so a crash leaves either the old file or the new one.
std::string write_file_atomically(const fs::path& path, const std::string& content, mode_t mode) {
  fs::path temporary = path;
  temporary += ".new";
  ::unlink(temporary.c_str());  // a leftover from an interrupted init
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return "cannot create " + temporary.string() + ": " + errno_text();
  std::string error;
  if (::fchmod(fd, mode) != 0) error = "cannot set the mode of " + temporary.string();
  size_t written = 0;
  while (error.empty() && written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      error = "cannot write " + temporary.string() + ": " + errno_text();
    else
      written += static_cast<size_t>(n);
  }
  if (error.empty() && ::fsync(fd) != 0) error = "cannot sync " + temporary.string();
  ::close(fd);
  if (error.empty() && ::rename(temporary.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + temporary.string() + " to " + path.string() + ": " + errno_text();
  }
  if (!error.empty()) ::unlink(temporary.c_str());
  return error;
}

struct CaMaterial {
  X509Ptr cert;
  EvpPkeyPtr key;
};

CaMaterial make_ca_certificate(std::string& error) {
  CaMaterial ca;
  ca.key = generate_key();
  ca.cert.reset(X509_new());
  if (!ca.key || !ca.cert) {
    error = with_openssl_errors("cannot generate the CA key");
    return {};
  }
  X509* cert = ca.cert.get();
  std::string cn = "mailtap local CA (" + user_and_host() + ")";
  if (cn.size() > kMaxCommonName) cn = cn.substr(0, kMaxCommonName - 1) + ")";
  X509_NAME* name = X509_get_subject_name(cert);
  const std::int64_t now = now_seconds();
  bool ok = X509_set_version(cert, X509_VERSION_3) == 1 && set_random_serial(cert) &&
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>("mailtap"), -1, -1,
                                       0) == 1 &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                       0) == 1 &&
            X509_set_issuer_name(cert, name) == 1 &&
            set_validity(cert, now - kHour, now + kCaLifetime) &&
            X509_set_pubkey(cert, ca.key.get()) == 1 &&
            add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
            add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
            add_extension(cert, cert, NID_subject_key_identifier, "hash") &&
            X509_sign(cert, ca.key.get(), EVP_sha256()) > 0;
  if (!ok) {
    error = with_openssl_errors("cannot create the CA certificate");
    return {};
  }
  return ca;
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "0%03o", static_cast<unsigned>(mode & 0777));
  return text;
}

}  // namespace

struct CertAuthority::Impl {
  fs::path dir;
  std::shared_ptr<X509> cert;
  std::shared_ptr<EVP_PKEY> key;
  std::string cert_pem;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  // One key for every leaf: generating a key per name would cost far more than signing.
  std::shared_ptr<EVP_PKEY> leaf_key;
  std::map<std::string, LeafCertificate> cache;
  std::string last_error;

  LeafCertificate mint(const LeafPlan& plan);
};

CertAuthority::CertAuthority() : impl_(std::make_unique<Impl>()) {}
CertAuthority::~CertAuthority() = default;

fs::path CertAuthority::default_directory() {
  auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  if (std::string home = env("MAILTAP_HOME"); !home.empty()) return home;
  // The XDG spec says relative paths in XDG_DATA_HOME are invalid and must be ignored.
  if (std::string xdg = env("XDG_DATA_HOME"); !xdg.empty() && xdg.front() == '/') {
    return fs::path(xdg) / "mailtap";
  }
  std::string home = env("HOME");
  if (home.empty()) {
    if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_dir) home = pw->pw_dir;
  }
  return fs::path(home) / ".local" / "share" / "mailtap";
}

std::string CertAuthority::init(const fs::path& dir, bool force) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return "cannot create " + dir.string() + ": " + ec.message();
    // Only a directory we created is tightened; an existing one may be shared on purpose.
    if (::chmod(dir.c_str(), 0700) != 0) return "cannot chmod 700 " + dir.string();
  } else if (!fs::is_directory(dir, ec)) {
    return dir.string() + " exists and is not a directory";
  }
  const fs::path key_path = dir / kKeyFile;
  const fs::path cert_path = dir / kCertFile;
  if (!force && (fs::exists(key_path, ec) || fs::exists(cert_path, ec))) {
    return "a mailtap CA already exists in " + dir.string() +
           " (ca.pem, ca.key); clients may already trust it. Use --force to replace it.";
  }
  ERR_clear_error();
  std::string error;
  CaMaterial ca = make_ca_certificate(error);
  if (!error.empty()) return error;
  std::string key_pem = key_pem_of(ca.key.get());
  std::string cert_pem = pem_of(ca.cert.get());
  if (key_pem.empty() || cert_pem.empty())
    return with_openssl_errors("cannot encode the CA as PEM");
  if (error = write_file_atomically(key_path, key_pem, 0600); !error.empty()) return error;
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (error = write_file_atomically(cert_path, cert_pem, 0644); !error.empty()) {
    ::unlink(key_path.c_str());
    return error;
  }
  return {};
}

std::unique_ptr<CertAuthority> CertAuthority::load(const fs::path& dir, std::string& error) {
  const fs::path key_path = dir / kKeyFile;
  const fs::path cert_path = dir / kCertFile;
  struct stat key_stat {};
  if (::stat(key_path.c_str(), &key_stat) != 0 || ::access(cert_path.c_str(), F_OK) != 0) {
    error = "no mailtap CA in " + dir.string() +
            " (ca.pem and ca.key); run `mailtap ca init` first, or point MAILTAP_HOME at the "
            "directory that holds them";
    return nullptr;
  }
  if (key_stat.st_mode & 077) {
    error = "refusing to use " + key_path.string() + ": its mode is " +
            mode_text(key_stat.st_mode) +
            ", so other users may read the CA's private key. Run `chmod 600 " + key_path.string() +
            "` (and consider `mailtap ca init --force` for a new CA if the key may have leaked)";
    return nullptr;
  }
  ERR_clear_error();
  auto read_pem = [&](const fs::path& path, auto reader) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    return bio ? reader(bio.get()) : nullptr;
  };
  X509Ptr cert(
      read_pem(cert_path, [](BIO* b) { return PEM_read_bio_X509(b, nullptr, nullptr, nullptr); }));
  if (!cert) {
    error = with_openssl_errors("cannot read the CA certificate " + cert_path.string()) +
            "; run `mailtap ca init --force` to make a new CA";
    return nullptr;
  }
  EvpPkeyPtr key(read_pem(
      key_path, [](BIO* b) { return PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr); }));
  if (!key) {
    error = with_openssl_errors("cannot read the CA key " + key_path.string()) +
            "; run `mailtap ca init --force` to make a new CA";
    return nullptr;
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    drain_openssl_errors();
    error = key_path.string() + " does not belong to " + cert_path.string() +
            "; run `mailtap ca init --force` to make a new CA";
    return nullptr;
  }
  auto not_before = asn1_time_to_seconds(X509_get0_notBefore(cert.get()));
  auto not_after = asn1_time_to_seconds(X509_get0_notAfter(cert.get()));
  if (!not_before || !not_after) {
    error = "cannot read the validity of " + cert_path.string();
    return nullptr;
  }
  if (*not_after <= now_seconds()) {
    error = "the mailtap CA in " + cert_path.string() + " expired on " +
            format_iso8601_utc(*not_after) +
            "; run `mailtap ca init --force` and install the new "
            "ca.pem in your clients";
    return nullptr;
  }
  std::unique_ptr<CertAuthority> ca(new CertAuthority());
  ca->impl_->dir = dir;
  ca->impl_->cert_pem = pem_of(cert.get());
  ca->impl_->cert = share(std::move(cert));
  ca->impl_->key = share(std::move(key));
  ca->impl_->not_before = *not_before;
  ca->impl_->not_after = *not_after;
  error.clear();
  return ca;
}

const std::string& CertAuthority::certificate_pem() const {
  return impl_->cert_pem;
}
fs::path CertAuthority::certificate_path() const {
  return impl_->dir / kCertFile;
}
X509* CertAuthority::certificate() const {
  return impl_->cert.get();
}
const std::string& CertAuthority::last_error() const {
  return impl_->last_error;
}
size_t CertAuthority::cached_leaves() const {
  return impl_->cache.size();
}

CertAuthority::LeafPlan CertAuthority::plan_for(const LeafSpec& spec) const {
  LeafPlan plan;
  auto add = [&](std::string_view raw) {
    std::string name = normalise_name(raw);
    if (!is_ip_literal(name) && !looks_like_host_name(name)) return;
    if (std::find(plan.names.begin(), plan.names.end(), name) == plan.names.end()) {
      plan.names.push_back(std::move(name));
    }
  };
  add(spec.sni);
  if (spec.real) {
    add(spec.real->common_name);
    for (const std::string& name : spec.real->names) add(name);
  }
  if (plan.names.empty()) add(spec.upstream_host);
  for (const std::string& name : spec.extra_names) add(name);
  if (plan.names.empty()) plan.names.push_back("localhost");  // nothing usable was given

  const std::int64_t now = now_seconds();
  plan.not_before = now - kHour;
  plan.not_after = now + kDefaultLeafLifetime;
  if (spec.real) {
    auto from = parse_iso8601_utc(spec.real->not_before);
    auto until = parse_iso8601_utc(spec.real->not_after);
    if (from && until && *from <= *until) {
      plan.not_before = *from;
      plan.not_after = *until;
    }
  }
  // A leaf valid outside its issuer's window fails verification; clip to the CA's.
  plan.not_before = std::max(plan.not_before, impl_->not_before);
  plan.not_after = std::min(plan.not_after, impl_->not_after);
  plan.not_after = std::max(plan.not_after, plan.not_before);
  return plan;
}

LeafCertificate CertAuthority::leaf_for(const LeafSpec& spec) {
  LeafPlan plan = plan_for(spec);
  std::string cache_key;
  for (const std::string& name : plan.names) cache_key += name + ",";
  cache_key += "|" + std::to_string(plan.not_before) + "|" + std::to_string(plan.not_after);
  if (auto it = impl_->cache.find(cache_key); it != impl_->cache.end()) return it->second;

  ERR_clear_error();
  LeafCertificate leaf = impl_->mint(plan);
  if (!leaf.cert) return leaf;
  if (impl_->cache.size() >= kMaxCachedLeaves) impl_->cache.clear();
  impl_->cache.emplace(std::move(cache_key), leaf);
  return leaf;
}

LeafCertificate CertAuthority::Impl::mint(const LeafPlan& plan) {
  if (!leaf_key) {
    leaf_key = share(generate_key());
    if (!leaf_key) {
      last_error = with_openssl_errors("cannot generate the leaf key");
      return {};
    }
  }
  X509Ptr leaf(X509_new());
  if (!leaf) {
    last_error = with_openssl_errors("cannot allocate a certificate");
    return {};
  }
  X509* cert = leaf.get();
  X509_NAME* subject = X509_get_subject_name(cert);
  const std::string& cn = plan.names.front();
  bool ok = X509_set_version(cert, X509_VERSION_3) == 1 && set_random_serial(cert) &&
            (cn.size() > kMaxCommonName ||
             X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                        0) == 1) &&
            X509_set_issuer_name(cert, X509_get_subject_name(this->cert.get())) == 1 &&
            set_validity(cert, plan.not_before, plan.not_after) &&
            X509_set_pubkey(cert, leaf_key.get()) == 1 &&
            add_extension(cert, this->cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
            add_extension(cert, this->cert.get(), NID_key_usage, "critical,digitalSignature") &&
            add_extension(cert, this->cert.get(), NID_ext_key_usage, "serverAuth") &&
            add_extension(cert, this->cert.get(), NID_subject_key_identifier, "hash") &&
            add_extension(cert, this->cert.get(), NID_authority_key_identifier, "keyid") &&
            add_subject_alt_names(cert, plan.names, cn.size() > kMaxCommonName) &&
            X509_sign(cert, key.get(), EVP_sha256()) > 0;
  if (!ok) {
    last_error = with_openssl_errors("cannot mint a leaf certificate for " + cn);
    return {};
  }
  last_error.clear();
  return LeafCertificate{share(std::move(leaf)), leaf_key};
}

}  // namespace mailtap::tls
