// `mailtap ca init|export|path`: the local CA that signs the certificates shown to mail clients.
#include <fstream>
#include <iostream>

#include "cli/subcommands.h"
#include "mailtap/tls/cert_authority.h"

namespace mailtap::cli {

void add_ca_command(CLI::App& app, int& status) {
  auto* ca = app.add_subcommand("ca", "Manage mailtap's local certificate authority");
  ca->require_subcommand(1);
  auto dir = std::make_shared<std::string>(tls::CertAuthority::default_directory().string());

  auto* init = ca->add_subcommand("init", "Create the local CA (key mode 0600, in a per-user directory)");
  init->add_option("--ca-dir", *dir, "Directory of the CA")->capture_default_str();
  auto force = std::make_shared<bool>(false);
  init->add_flag("--force", *force, "Replace an existing CA");
  init->callback([dir, force, &status] {
    std::string error = tls::CertAuthority::init(*dir, *force);
    if (!error.empty()) {
      std::cerr << "mailtap ca init: " << error << "\n";
      status = 2;
      return;
    }
    std::cout << "mailtap: local CA ready in " << *dir << "\n"
              << "Install " << *dir << "/ca.pem in your mail client (or `mailtap ca export`) "
              << "so it trusts the certificates mailtap shows it.\n";
  });

  auto* exp = ca->add_subcommand("export", "Print the CA certificate (PEM) to install in a mail client");
  exp->add_option("--ca-dir", *dir, "Directory of the CA")->capture_default_str();
  auto out = std::make_shared<std::string>();
  exp->add_option("-o,--output", *out, "Write to this file instead of standard output");
  exp->callback([dir, out, &status] {
    std::string error;
    auto authority = tls::CertAuthority::load(*dir, error);
    if (!authority) {
      std::cerr << "mailtap ca export: " << error << "\n";
      status = 2;
      return;
    }
    if (out->empty()) {
      std::cout << authority->certificate_pem();
    } else {
      std::ofstream f(*out);
      f << authority->certificate_pem();
      if (!f) {
        std::cerr << "mailtap ca export: cannot write " << *out << "\n";
        status = 2;
      }
    }
  });

  auto* path = ca->add_subcommand("path", "Print where the CA lives");
  path->add_option("--ca-dir", *dir, "Directory of the CA")->capture_default_str();
  path->callback([dir] { std::cout << *dir << "\n"; });
}

}  // namespace mailtap::cli
