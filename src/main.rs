use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tonggan::cli::run(tonggan::cli::Cli::parse()).await
}
