#include "mailtap/cli/commands.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cli/subcommands.h"

namespace mailtap::cli {

int run(int argc, char** argv) {
  CLI::App app{
      "mailtap: sits between a mail client and a mail server and shows, byte for byte and "
      "explained, what they say to each other (SMTP, IMAP, POP3; plaintext, implicit TLS, "
      "STARTTLS)."};
  app.set_version_flag("--version", std::string("mailtap ") + MAILTAP_VERSION);
  app.require_subcommand(1);
  int status = 0;
  add_proxy_command(app, status);
  add_ca_command(app, status);
  add_show_command(app, status);
  add_extra_commands(app, status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return status;
}

}  // namespace mailtap::cli
