//! `shopai`: the ShopAI batch CLI. Raw arguments (clap, [`cli::Cli`]) → validated config → run;
//! each command is one function in `cli/`, calling the library's stages.

mod cli;

use clap::Parser;
use shopai_batch::io::log;

fn main() {
    let args = cli::Cli::parse();
    log::set_json(args.json);
    if let Err(e) = cli::run(args) {
        if log::is_json() {
            eprintln!("{}", serde_json::json!({"level": "error", "msg": format!("{e:#}")}));
        } else {
            eprintln!("error: {e:#}");
        }
        std::process::exit(1);
    }
}
