#pragma once
// TLS for `newsreel serve --tls-cert FILE --tls-key FILE`: the certificate (with its chain) and
// key, read and checked before the server starts and again on SIGHUP, and the settings of the
// SSL_CTX that lws creates for each service thread's context (service_thread.cpp applies them
// there, on that thread).
//
// A reload never touches a connection: OpenSSL copies a context's certificate into each
// connection as it starts, so connections keep the certificate they began with, and every one
// that starts after the reload gets the new one.

#include <array>
#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
struct stack_st_X509;

namespace newsreel::streaming {

// A certificate, the chain that follows it in its file, and its private key, parsed and checked
// to belong together. Immutable once loaded: shared by every service thread.
class TlsCertificate {
 public:
  // Reads `cert_file` (PEM: the certificate first, then any intermediates) and `key_file` (an
  // unencrypted PEM private key). kInvalidArgument or kIo with a message that names the file
  // and what is wrong with it: unreadable, no certificate, no key, an encrypted key, or a key
  // that does not match the certificate.
  static Result<std::shared_ptr<const TlsCertificate>> Load(const std::filesystem::path& cert_file,
                                                            const std::filesystem::path& key_file);
  ~TlsCertificate();
  TlsCertificate(const TlsCertificate&) = delete;
  TlsCertificate& operator=(const TlsCertificate&) = delete;

  // Makes `ctx` present this certificate, chain and key to connections that start from now on.
  // Call on the thread that owns `ctx`.
  Status Use(SSL_CTX* ctx) const;

  // For log lines: "CN=news.example, serial 1A2B, SHA-256 AB:CD:..., valid until ...".
  std::string Describe() const;
  const std::string& sha256() const { return sha256_; }  // "AB:CD:..." as openssl prints it
  bool expired() const;

 private:
  TlsCertificate() = default;
  X509* leaf_ = nullptr;
  stack_st_X509* chain_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  std::string sha256_;
};

// Keys that encrypt session tickets: the same for every service thread, so that a client that
// resumes its session on another thread's connection is recognised (SO_REUSEPORT spreads them).
// Random for each start of the server.
using TlsTicketKeys = std::array<unsigned char, 80>;
Result<TlsTicketKeys> NewTlsTicketKeys();

// What every server SSL_CTX gets: TLS 1.2 and 1.3 only; forward-secret AEAD ciphers only
// (ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3's three suites); X25519, P-256 and P-384
// for the key exchange; no renegotiation, no compression; the shared ticket keys.
Status ConfigureTlsContext(SSL_CTX* ctx, const TlsTicketKeys& ticket_keys);

}  // namespace newsreel::streaming
