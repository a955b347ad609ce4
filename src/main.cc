// mailtap: see, byte for byte and explained, what a mail client and a mail server say.
#include "mailtap/cli/commands.h"

int main(int argc, char** argv) { return mailtap::cli::run(argc, argv); }
