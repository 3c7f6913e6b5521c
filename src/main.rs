//! The `webcare` binary: parse the command line, set up logging, hand over to the command.

use clap::Parser;

// Parsing feeds and JSON allocates many small strings; mimalloc handles that pattern with far
// less overhead than the system allocator, and keeps memory compact for a long-running daemon.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = webcare::cli::Cli::parse();
    webcare::commands::init_logging(cli.log_format);
    std::process::exit(webcare::commands::run(cli));
}
