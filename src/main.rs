//! The `heft` binary: parses the command line (`cli`) and prints any error as one line, without
//! a backtrace, exiting with status 1.

mod cli;

use clap::Parser;

fn main() {
    if let Err(e) = cli::run(cli::Cli::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
