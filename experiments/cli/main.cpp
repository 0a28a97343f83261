#include "samplersearch/experiments/cli.hpp"

int main(int argc, char** argv) { return samplersearch::cli::main(argc, argv); }
