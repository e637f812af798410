//! A TCP forwarder standing between a server and Postgres, so a test can take the database away
//! and bring it back without touching the real server.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Proxy {
    port: u16,
    upstream: String,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free port, closed: connections to it are refused until [`Proxy::open`].
    pub fn closed(upstream: String) -> Self {
        Self { port: super::free_port(), upstream, running: None }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts accepting and forwarding connections.
    pub fn open(&mut self) {
        assert!(self.running.is_none(), "already open");
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind proxy port");
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, streams2, upstream) = (stop.clone(), streams.clone(), self.upstream.clone());
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let mut all = streams2.lock().expect("lock");
                all.push(client.try_clone().expect("clone"));
                all.push(server.try_clone().expect("clone"));
                pipe(client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                pipe(server, client);
            }
        });
        self.running = Some(Running { stop, streams, acceptor });
    }

    /// Stops accepting and cuts every forwarded connection, as a database crash would.
    pub fn close(&mut self) {
        let Some(running) = self.running.take() else { return };
        running.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        if let Ok(mut wake) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = wake.flush();
        }
        running.acceptor.join().expect("acceptor");
        for stream in running.streams.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.close();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}
