use clap::Parser;

/// mimalloc rather than glibc's malloc: a request allocates and frees many small buffers on
/// two threads, which glibc serves with locks and consolidation passes (issue 12, `/livez`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tonggan::cli::run(tonggan::cli::Cli::parse()).await
}
