//! The IVI's media service, with the flaw the reference attack exploits: it hands the title of
//! a `PLAY` request to a shell unescaped (command injection), as media players that shell out
//! to a decoder helper have done.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

pub const PROCESS_NAME: &str = "ivi-media";
/// Where the demo and the testbed run it, on the IVI's address.
pub const PORT: u16 = 8554;

/// Serves until the process is killed; runs from the IVI's file-system root.
pub async fn serve(listen: SocketAddr, fs_root: &Path) -> std::io::Result<()> {
    super::set_process_name(PROCESS_NAME)?;
    std::env::set_current_dir(fs_root)?;
    let listener = TcpListener::bind(listen).await?;
    info!(%listen, "ivi-media serving.");
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = session(stream).await {
                warn!(%peer, error = %e, "Media session failed.");
            }
        });
    }
}

async fn session(stream: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let Some(title) = line.strip_prefix("PLAY ") else {
            write.write_all(b"ERR unknown command\n").await?;
            continue;
        };
        // The flaw: the title reaches the shell unescaped.
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("echo decoding {title}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        write.write_all(b"OK playing\n").await?;
        tokio::spawn(async move { child.wait().await });
    }
    Ok(())
}
