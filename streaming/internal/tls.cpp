#include "streaming/internal/tls.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace newsreel::streaming {

namespace {

// Certificates and keys are small; anything larger is not one (or is /dev/zero).
constexpr off_t kMaxPemBytes = 1 << 20;

// TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only (Mozilla's "intermediate" list
// without the DHE ones, which would need DH parameters).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr char kGroups[] = "X25519:P-256:P-384";

// The last OpenSSL error in words, and the queue cleared.
std::string OpenSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(code);
    text = reason ? reason : buf;
  }
  ERR_clear_error();
  return text.empty() ? "unknown error" : text;
}

// The bytes of `file`, for a message that names `flag`.
Result<std::string> ReadPemFile(const std::filesystem::path& file, const char* flag) {
  const std::string where = std::string(flag) + " " + file.string();
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(where + ": cannot read it: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxPemBytes) {
    close(fd);
    return InvalidArgument(where + ": not a PEM file (a regular file of at most 1 MB)");
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      close(fd);
      return IoError(where + ": cannot read it: " + std::strerror(err));
    }
    got += static_cast<size_t>(n);
  }
  close(fd);
  return bytes;
}

// A password callback that declines: an encrypted key cannot be loaded unattended.
int NoPassword(char*, int, int, void*) { return -1; }

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using UniqueBio = std::unique_ptr<BIO, BioDeleter>;

std::string Hex(const unsigned char* bytes, size_t n, const char* separator) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += separator;
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const TlsCertificate>> TlsCertificate::Load(
    const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
  auto cert_pem = ReadPemFile(cert_file, "--tls-cert");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadPemFile(key_file, "--tls-key");
  if (!key_pem.ok()) return key_pem.status();
  ERR_clear_error();
  std::shared_ptr<TlsCertificate> c(new TlsCertificate());
  {
    UniqueBio bio(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
    if (!bio) return Internal("TLS: out of memory");
    c->leaf_ = PEM_read_bio_X509_AUX(bio.get(), nullptr, NoPassword, nullptr);
    if (c->leaf_ == nullptr) {
      ERR_clear_error();
      return InvalidArgument("--tls-cert " + cert_file.string() +
                             ": holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
    }
    c->chain_ = sk_X509_new_null();
    if (c->chain_ == nullptr) return Internal("TLS: out of memory");
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr)) {
      if (sk_X509_push(c->chain_, extra) == 0) {
        X509_free(extra);
        return Internal("TLS: out of memory");
      }
    }
    ERR_clear_error();  // the end of the file reads as an error
  }
  {
    if (key_pem->find("ENCRYPTED") != std::string::npos)
      return InvalidArgument("--tls-key " + key_file.string() +
                             ": the key is encrypted; give the server an unencrypted key "
                             "(readable by the server's user only)");
    UniqueBio bio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
    if (!bio) return Internal("TLS: out of memory");
    c->key_ = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr);
    if (c->key_ == nullptr)
      return InvalidArgument("--tls-key " + key_file.string() + ": holds no PEM private key (" +
                             OpenSslError() + ")");
  }
  if (X509_check_private_key(c->leaf_, c->key_) != 1) {
    ERR_clear_error();
    return InvalidArgument("--tls-key " + key_file.string() +
                           " does not match the certificate in --tls-cert " + cert_file.string());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (X509_digest(c->leaf_, EVP_sha256(), digest, &digest_len) != 1)
    return Internal("TLS: cannot hash the certificate: " + OpenSslError());
  c->sha256_ = Hex(digest, digest_len, ":");
  return std::shared_ptr<const TlsCertificate>(std::move(c));
}

TlsCertificate::~TlsCertificate() {
  X509_free(leaf_);
  if (chain_) sk_X509_pop_free(chain_, X509_free);
  EVP_PKEY_free(key_);
}

Status TlsCertificate::Use(SSL_CTX* ctx) const {
  ERR_clear_error();
  // Certificate, key and chain in one call, replacing the ones before (override = 1).
  if (SSL_CTX_use_cert_and_key(ctx, leaf_, key_, chain_, 1) != 1)
    return Internal("TLS: cannot use the certificate: " + OpenSslError());
  return Status::Ok();
}

bool TlsCertificate::expired() const {
  return X509_cmp_current_time(X509_get0_notAfter(leaf_)) < 0;
}

std::string TlsCertificate::Describe() const {
  std::string out;
  char name[256] = "";
  X509_NAME_oneline(X509_get_subject_name(leaf_), name, sizeof name);
  out += name;
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf_)) {
    out += ", serial " + Hex(serial->data, static_cast<size_t>(serial->length), "");
  }
  out += ", SHA-256 " + sha256_;
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio && ASN1_TIME_print(bio.get(), X509_get0_notAfter(leaf_)) == 1) {
    char* text = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &text);
    out += ", valid until " + std::string(text, static_cast<size_t>(n));
  }
  ERR_clear_error();
  return out;
}

Result<TlsTicketKeys> NewTlsTicketKeys() {
  TlsTicketKeys keys{};
  if (RAND_bytes(keys.data(), static_cast<int>(keys.size())) != 1)
    return Internal("TLS: no random bytes for the session ticket keys: " + OpenSslError());
  return keys;
}

Status ConfigureTlsContext(SSL_CTX* ctx, const TlsTicketKeys& ticket_keys) {
  ERR_clear_error();
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
  ok = ok && SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1;
  ok = ok && SSL_CTX_set_ciphersuites(ctx, kTls13Suites) == 1;
  ok = ok && SSL_CTX_set1_groups_list(ctx, kGroups) == 1;
  // All of these ciphers are strong: the client's order (which knows whether it has AES in
  // hardware) decides.
  SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  ok = ok && SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<unsigned char*>(ticket_keys.data()),
                                            static_cast<long>(ticket_keys.size())) == 1;
  if (!ok) return Internal("TLS: cannot configure the server's TLS settings: " + OpenSslError());
  return Status::Ok();
}

}  // namespace newsreel::streaming
