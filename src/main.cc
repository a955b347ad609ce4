// mailtap: see, byte for byte and explained, what a mail client and a mail server say.
#include <csignal>

#include "mailtap/cli/commands.h"

int main(int argc, char** argv) {
  // A peer that resets its connection while mailtap writes to it must cost that one session
  // (the write fails with EPIPE and the session closes), never the process: SIGPIPE's default
  // action would end the proxy and every other session with it.
  std::signal(SIGPIPE, SIG_IGN);
  return mailtap::cli::run(argc, argv);
}
