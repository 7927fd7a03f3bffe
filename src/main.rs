//! The `pubsubd` binary: parse the configuration, start logging, run the
//! server until shutdown.

use std::process::ExitCode;
use std::sync::Arc;

use pubsubd::config::{Config, Startup};
use pubsubd::shared::Shared;

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os().skip(1)) {
        Ok(Startup::Run(config)) => config,
        Ok(Startup::Exit { text, code }) => {
            if code == 0 {
                println!("{text}");
            } else {
                eprintln!("{text}");
            }
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
        Err(e) => {
            eprintln!("pubsubd: fatal config error: {e}");
            return ExitCode::from(1);
        }
    };
    let log_control = match pubsubd::logging::init(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pubsubd: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pubsubd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The config file is the first argument when it is not a flag.
    let config_file = std::env::args_os()
        .nth(1)
        .filter(|a| !a.to_string_lossy().starts_with('-'))
        .map(std::path::PathBuf::from)
        .and_then(|p| std::fs::canonicalize(&p).ok().or(Some(p)));
    let mut shared = Shared::new(config.clone(), Some(log_control));
    shared.config_file = config_file;
    let shared = Arc::new(shared);
    match runtime.block_on(pubsubd::server::run(config, shared)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pubsubd: {e}");
            ExitCode::from(1)
        }
    }
}
