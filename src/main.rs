//! The `webcare` binary: parse the command line, set up logging, hand over to the command.

use clap::Parser;

webcare::daemon_allocator!();

fn main() {
    let cli = webcare::cli::Cli::parse();
    webcare::commands::init_logging(cli.log_format);
    std::process::exit(webcare::commands::run(cli));
}
