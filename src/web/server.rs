//! The dashboard's listener and its routes: binds at start (so `web-url` knows
//! the port, even a chosen-by-the-kernel `:0`), writes the access token, then
//! accepts on its own thread, one thread per admitted connection.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};

use super::auth::{self, Access, Credential};
use super::http::{self, ReadError, Request, Response};
use crate::config::HttpSettings;
use crate::control::{Hooks, Source};
use crate::supervisor::Supervisor;

/// The accept thread's own write of a `503`: the next connection waits for it. A
/// refusal is a few hundred bytes, which a new socket's buffer takes at once;
/// the bound makes that a guarantee rather than an assumption.
const REFUSAL_TIME: Duration = Duration::from_millis(100);

/// The bound listener, before it serves.
pub struct Bound {
    listener: TcpListener,
    address: SocketAddr,
    access: Arc<Access>,
    token_file: PathBuf,
}

/// Binds `settings.listen` and writes the access token next to `socket`: a new
/// one, or `kept_token`, the one an upgrade in place handed over.
pub fn bind(
    settings: &HttpSettings,
    socket: &Path,
    kept_token: Option<String>,
) -> Result<Bound, String> {
    let listener = TcpListener::bind(settings.listen).map_err(|e| {
        format!(
            "cannot listen on {} for the web dashboard: {e}",
            settings.listen
        )
    })?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("web dashboard: cannot read its address: {e}"))?;
    let token = match kept_token {
        Some(token) => token,
        None => auth::random_token()
            .map_err(|e| format!("web dashboard: cannot make an access token: {e}"))?,
    };
    let token_file = auth::token_path(socket);
    auth::write_token(&token_file, &token).map_err(|e| {
        format!(
            "web dashboard: cannot write its access token to {}: {e}",
            token_file.display()
        )
    })?;
    Ok(Bound {
        listener,
        address,
        access: Arc::new(Access::new(token, settings.auth.clone())),
        token_file,
    })
}

impl Bound {
    /// The access token (handed over by an upgrade in place).
    pub fn token(&self) -> String {
        self.access.token().to_string()
    }

    /// The page's address with the token: what `taskmasterctl web-url` prints.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.address, self.access.token())
    }

    pub fn token_file(&self) -> PathBuf {
        self.token_file.clone()
    }

    /// Serves on a `web-accept` thread from now on.
    pub fn start(self, sup: Arc<Supervisor>, hooks: Arc<Hooks>) -> Result<(), String> {
        info!(
            "web dashboard listening on http://{} (token in {})",
            self.address,
            self.token_file.display()
        );
        let Bound {
            listener, access, ..
        } = self;
        super::spawn_small("web-accept", move || accept(listener, sup, hooks, access))
    }
}

fn accept(listener: TcpListener, sup: Arc<Supervisor>, hooks: Arc<Hooks>, access: Arc<Access>) {
    for conn in listener.incoming() {
        let mut stream = match conn {
            Ok(s) => s,
            // EMFILE and friends: the client waits in the backlog; a short pause
            // keeps a lasting failure from spinning.
            Err(e) => {
                hooks.connections.accept_failed(&e);
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let slot = match hooks.connections.admit(&sup) {
            Ok(slot) => slot,
            Err(why) => {
                Response::text(503, &why).send_within(&mut stream, REFUSAL_TIME);
                continue;
            }
        };
        let (sup, hooks, access) = (sup.clone(), hooks.clone(), access.clone());
        let refused = stream.try_clone();
        let spawned = std::thread::Builder::new()
            .name("web".into())
            .stack_size(super::COMMAND_STACK)
            .spawn(move || {
                let _slot = slot;
                serve(stream, peer, &sup, &hooks, &access);
            });
        if let (Err(e), Ok(mut stream)) = (spawned, refused) {
            warn!("web dashboard: cannot start a connection thread: {e}");
            Response::text(503, "no thread could be started for this connection")
                .send_within(&mut stream, REFUSAL_TIME);
        }
    }
}

/// One connection: one request, answered (or turned into a WebSocket).
fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    sup: &Arc<Supervisor>,
    hooks: &Arc<Hooks>,
    access: &Access,
) {
    let request = match http::read_request(&mut stream) {
        Ok(r) => r,
        Err(ReadError::Gone) => return,
        Err(ReadError::Answer(status, text)) => {
            return Response::text(status, &text).send(&mut stream);
        }
    };
    // None: a WebSocket took the connection, and is done with it.
    if let Some(response) = route(stream.try_clone(), request, peer, sup, hooks, access) {
        response.send(&mut stream);
    }
}

/// What the request gets; `None` once a WebSocket took the connection.
fn route(
    stream: std::io::Result<TcpStream>,
    request: Request,
    peer: SocketAddr,
    sup: &Arc<Supervisor>,
    hooks: &Arc<Hooks>,
    access: &Access,
) -> Option<Response> {
    let page = request.method == "GET" && request.path == "/";
    let credential = match access.check(&request, page) {
        Ok(Some(credential)) => credential,
        Ok(None) => return Some(unauthorized(access, page)),
        Err(auth::Busy) => {
            return Some(
                Response::text(503, "too many password checks under way: try again")
                    .with("Retry-After", "1"),
            )
        }
    };
    let websocket = request.path == "/ws" || request.path == "/ws/attach";
    if request.method == "POST" || websocket {
        // A browser names the page that sends a POST or opens a WebSocket: only
        // this server's own page may, so no other site can act with the cookie.
        let allowed = match auth::same_origin(&request) {
            Some(same) => same,
            None => !credential.ambient(),
        };
        if !allowed {
            warn!(
                "web dashboard: a request from {peer} to {} refused: its Origin ({}) is not \
                 this server",
                request.path,
                request.header("origin").unwrap_or("none")
            );
            return Some(Response::text(
                403,
                "cross-origin request refused: the Origin header must be this server's",
            ));
        }
    }
    let source = Source::Web {
        peer: peer.to_string(),
        user: credential.user().map(str::to_string),
    };
    let response = match (request.method.as_str(), request.path.as_str()) {
        // The token leaves the address bar (and the history) at once.
        ("GET", "/") if credential == Credential::Query => Response::text(303, "see /")
            .with("Location", "/")
            .with("Set-Cookie", access.set_cookie()),
        ("GET", "/") => Response::new(200, "text/html; charset=utf-8", super::assets::INDEX),
        ("GET", "/ws") | ("GET", "/ws/attach") => {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => return Some(Response::text(503, &format!("{e}"))),
            };
            let name = request.query_param("name");
            let (reader, outbox) = match super::ws::upgrade(stream, &request) {
                Ok(pair) => pair,
                Err(refused) => return Some(refused),
            };
            match name {
                Some(name) if request.path == "/ws/attach" => {
                    super::attach::run(reader, outbox, name, sup, hooks, source)
                }
                _ if request.path == "/ws/attach" => {
                    outbox.text(
                        r#"{"type":"error","message":"attach: name the instance (?name=)"}"#.into(),
                    );
                    outbox.close();
                }
                _ => super::live::run(reader, outbox, sup, hooks, source),
            }
            return None;
        }
        ("POST", "/api/command") => super::api::command(&request, sup, hooks, source),
        (_, "/api/command") => Response::text(405, "use POST").with("Allow", "POST"),
        ("GET", path) => match super::assets::get(path) {
            Some((kind, bytes)) => Response::new(200, kind, bytes),
            None => Response::text(404, &format!("no such page: {path}")),
        },
        // Every other page is read-only.
        (method, _) => {
            Response::text(405, &format!("method {method} not allowed")).with("Allow", "GET")
        }
    };
    // A password accepted once: the cookie stands for it from now on.
    Some(match credential {
        Credential::Password(_) => response.with("Set-Cookie", access.set_cookie()),
        _ => response,
    })
}

/// 401: how to get in. With `http.auth` the browser asks for the password.
fn unauthorized(access: &Access, page: bool) -> Response {
    const HOW: &str = "not authenticated: open the address that `taskmasterctl web-url` \
                       prints (it carries the access token), or send the token as \
                       `Authorization: Bearer TOKEN`";
    let response = match page {
        true => Response::new(
            401,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><meta charset=utf-8><title>taskmaster</title>\
                 <p>taskmaster: {}</p>\n",
                HOW.replace('`', "")
            ),
        ),
        false => Response::text(401, HOW),
    };
    match access.has_password() {
        true => response.with(
            "WWW-Authenticate",
            "Basic realm=\"taskmaster\", charset=\"UTF-8\"",
        ),
        false => response,
    }
}
