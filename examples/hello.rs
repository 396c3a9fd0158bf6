//! A bare axum "hello world" with the same axum and tokio as the service: `make bench` measures
//! it beside `/livez` to show what the service's own layers (request id, access log, panic
//! catching, timeout, CSRF) cost per request. Listens on 127.0.0.1 and the port given as the
//! first argument (default 3000).

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    axum::serve(listener, app).await
}
