#include "mailtap/tls/x509_inspect.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>

#include "mailtap/tls/openssl_handles.h"

namespace mailtap::tls {
namespace {

// Certificate strings come from the network: every byte outside printable ASCII is written as
// \xHH, which keeps transcripts valid JSON and still shows what was there.
std::string printable(const unsigned char* data, int length) {
  std::string out;
  out.reserve(length > 0 ? static_cast<size_t>(length) : 0);
  for (int i = 0; i < length; ++i) {
    unsigned char c = data[i];
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string name_to_rfc2253(const X509_NAME* name) {
  if (!name) return {};
  // Readable UTF-8 first; a malformed string makes the conversion fail, and then the fully
  // escaped (pure ASCII) form is used instead.
  const unsigned long readable =
      (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
  for (unsigned long flags : {readable, static_cast<unsigned long>(XN_FLAG_RFC2253)}) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio) return {};
    if (X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) continue;
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(length));
  }
  return {};
}

std::string common_name(const X509_NAME* name) {
  if (!name) return {};
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return printable(ASN1_STRING_get0_data(value), ASN1_STRING_length(value));
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

std::string ip_to_string(const ASN1_OCTET_STRING* ip) {
  char text[INET6_ADDRSTRLEN] = {};
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  int length = ASN1_STRING_length(ip);
  if (length == 4 && inet_ntop(AF_INET, data, text, sizeof text)) return text;
  if (length == 16 && inet_ntop(AF_INET6, data, text, sizeof text)) return text;
  return "invalid-ip:" + printable(data, length);
}

std::vector<std::string> subject_alt_names(const X509* cert) {
  std::vector<std::string> names;
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!sans) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type == GEN_DNS) {
      names.push_back(
          printable(ASN1_STRING_get0_data(name->d.dNSName), ASN1_STRING_length(name->d.dNSName)));
    } else if (name->type == GEN_IPADD) {
      names.push_back(ip_to_string(name->d.iPAddress));
    }
  }
  return names;
}

std::string sha256_hex(const X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!X509_digest(cert, EVP_sha256(), digest, &length)) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

std::string time_text(const ASN1_TIME* time) {
  auto seconds = asn1_time_to_seconds(time);
  return seconds ? format_iso8601_utc(*seconds) : std::string();
}

}  // namespace

CertificateInfo describe_certificate(const X509* cert) {
  CertificateInfo info;
  if (!cert) return info;
  info.subject = name_to_rfc2253(X509_get_subject_name(cert));
  info.issuer = name_to_rfc2253(X509_get_issuer_name(cert));
  info.common_name = common_name(X509_get_subject_name(cert));
  info.names = subject_alt_names(cert);
  info.sha256 = sha256_hex(cert);
  info.not_before = time_text(X509_get0_notBefore(cert));
  info.not_after = time_text(X509_get0_notAfter(cert));
  return info;
}

std::string strip_brackets(std::string_view name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  return std::string(name);
}

bool is_ip_literal(std::string_view name) {
  std::string plain = strip_brackets(name);
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, plain.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, plain.c_str(), buffer) == 1;
}

std::string format_iso8601_utc(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return {};
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::optional<std::int64_t> parse_iso8601_utc(std::string_view text) {
  // Exactly the form format_iso8601_utc writes: YYYY-MM-DDTHH:MM:SSZ.
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](size_t pos, size_t len) -> int {
    int value = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  std::tm tm{};
  int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<std::int64_t> asn1_time_to_seconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (!time || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace mailtap::tls
