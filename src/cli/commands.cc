#include "mailtap/cli/commands.h"

#include <CLI/CLI.hpp>

namespace mailtap::cli {

int run(int argc, char** argv) {
  CLI::App app{"mailtap: see, byte for byte and explained, what mail clients and servers say"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

}  // namespace mailtap::cli
