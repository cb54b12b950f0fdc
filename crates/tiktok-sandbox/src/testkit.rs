//! Helpers for tests that drive the sandbox: a media file server to pull from, a webhook
//! sink, tiny valid media files, and a browser-free consent step.

use std::{
    collections::HashMap,
    io,
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A minimal well-formed MP4 whose index says 640x360 H.264 at 30 fps lasting
/// `duration_secs`: passes the sandbox's checks (except the duration one when too long), not
/// a player.
pub fn mp4_bytes(duration_secs: u32) -> Vec<u8> {
    postiqo_media_probe::sample::mp4_lasting(4096, duration_secs)
}

/// EBML magic followed by filler: passes the WebM signature check.
pub fn webm_bytes() -> Vec<u8> {
    let mut out = vec![0x1A, 0x45, 0xDF, 0xA3];
    out.extend_from_slice(&[0x42, 0x82, 0x84]);
    out.extend_from_slice(b"webm");
    out.extend_from_slice(&[0u8; 32]);
    out
}

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Serves files from memory at `/<name>`; `/redirect/<name>` answers 302 to `/<name>`.
/// Starts with `ok.mp4` (5 s), `long.mp4` (1 h), `ok.webm` (a WebM signature only, which the
/// pull checks refuse) and `bad.bin` (not a video).
pub struct MediaServer {
    base_url: String,
    files: Files,
    handle: ServerHandle,
}

async fn serve_file(req: HttpRequest, files: web::Data<Files>) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    if let Some(target) = path.strip_prefix("redirect/") {
        return HttpResponse::Found()
            .insert_header(("Location", format!("/{target}")))
            .finish();
    }
    let body = files
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(path)
        .cloned();
    match body {
        Some(bytes) => HttpResponse::Ok().content_type("video/mp4").body(bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

impl MediaServer {
    pub async fn start() -> io::Result<Self> {
        let mut initial = HashMap::new();
        initial.insert("ok.mp4".to_owned(), mp4_bytes(5));
        initial.insert("long.mp4".to_owned(), mp4_bytes(3600));
        initial.insert("ok.webm".to_owned(), webm_bytes());
        initial.insert("bad.bin".to_owned(), b"this is not a video at all".to_vec());
        let files: Files = Arc::new(Mutex::new(initial));
        let data = web::Data::new(files.clone());
        let (base_url, handle) = spawn(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(serve_file))
        })?;
        Ok(Self {
            base_url,
            files,
            handle,
        })
    }

    /// `http://127.0.0.1:<port>/`, ready to be a verified prefix.
    pub fn prefix(&self) -> String {
        format!("{}/", self.base_url)
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{}", self.base_url, name.trim_start_matches('/'))
    }

    pub fn put(&self, name: &str, bytes: Vec<u8>) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.trim_start_matches('/').to_owned(), bytes);
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// One webhook as received.
#[derive(Clone, Debug)]
pub struct ReceivedWebhook {
    pub signature: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct SinkState {
    received: Vec<ReceivedWebhook>,
    /// Statuses to answer next (then 200), to exercise retries.
    fail_with: Vec<u16>,
}

/// Accepts webhook POSTs on any path and records them.
pub struct WebhookSink {
    base_url: String,
    state: Arc<Mutex<SinkState>>,
    handle: ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<SinkState>>>,
) -> HttpResponse {
    let signature = req
        .headers()
        .get("tiktok-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.received.push(ReceivedWebhook {
        signature,
        body: body.to_vec(),
    });
    let status = if s.fail_with.is_empty() {
        200
    } else {
        s.fail_with.remove(0)
    };
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .finish()
}

impl WebhookSink {
    pub async fn start() -> io::Result<Self> {
        let state = Arc::new(Mutex::new(SinkState::default()));
        let data = web::Data::new(state.clone());
        let (base_url, handle) = spawn(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })?;
        Ok(Self {
            base_url,
            state,
            handle,
        })
    }

    pub fn url(&self) -> String {
        format!("{}/webhooks/tiktok", self.base_url)
    }

    /// The next deliveries get these statuses instead of 200.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.lock().fail_with.extend_from_slice(statuses);
    }

    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.lock().received.clone()
    }

    /// Waits until a received body satisfies `pred` (e.g. contains an event name).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&ReceivedWebhook) -> bool,
    ) -> Option<ReceivedWebhook> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(hit) = self.lock().received.iter().find(|w| pred(w)).cloned() {
                return Some(hit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn spawn<F, A>(factory: F) -> io::Result<(String, ServerHandle)>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    A: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(factory)
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((format!("http://{addr}"), handle))
}

/// Answers the consent step without a browser: appends `sandbox_auto` (and the user) to an
/// authorize URL, sends it, and returns the `Location` TikTok would redirect to.
pub async fn auto_authorize(
    authorize_url: &str,
    decision: &str,
    username: &str,
) -> Result<url::Url, BoxError> {
    let mut url = url::Url::parse(authorize_url)?;
    url.query_pairs_mut()
        .append_pair("sandbox_auto", decision)
        .append_pair("sandbox_user", username);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = client.get(url).send().await?;
    if resp.status() != reqwest::StatusCode::FOUND {
        return Err(format!("authorize answered {}", resp.status()).into());
    }
    let location = resp
        .headers()
        .get("location")
        .ok_or("authorize answered without Location")?
        .to_str()?;
    Ok(url::Url::parse(location)?)
}
