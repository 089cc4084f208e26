//! A signaling client for tests: the same JSON protocol a browser speaks.
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Server events received while waiting for responses.
    pub events: VecDeque<Value>,
}

impl Client {
    pub async fn connect(base_url: &str, room: &str) -> Client {
        let url = format!("{}/api/rooms/{room}/ws", base_url.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
        Client { ws, next_id: 1, events: VecDeque::new() }
    }

    /// Connects over a TCP connection that buffers as little as the kernel allows on
    /// this side: a client that stops reading fills it, and then the server's, soon.
    pub async fn connect_small_buffer(base_url: &str, room: &str) -> Client {
        let addr: std::net::SocketAddr = base_url.trim_start_matches("http://").parse().expect("http://IP:PORT");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.expect("tcp connect");
        let url = format!("ws://{addr}/api/rooms/{room}/ws");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.expect("websocket handshake");
        Client { ws, next_id: 1, events: VecDeque::new() }
    }

    /// Connects from the local address `source` (127.0.0.2, …): each address is a
    /// client of its own to the per-client limits.
    pub async fn connect_from(base_url: &str, room: &str, source: std::net::IpAddr) -> Client {
        let addr: std::net::SocketAddr = base_url.trim_start_matches("http://").parse().expect("http://IP:PORT");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::new(source, 0)).expect("bind the source address");
        let stream = socket.connect(addr).await.expect("tcp connect");
        let url = format!("ws://{addr}/api/rooms/{room}/ws");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.expect("websocket handshake");
        Client { ws, next_id: 1, events: VecDeque::new() }
    }

    /// Connects to a full WebSocket URL (with `?token=` for a secured server).
    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
        Client { ws, next_id: 1, events: VecDeque::new() }
    }

    /// Wraps a WebSocket opened another way (over TLS, with chosen headers).
    pub fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client { ws, next_id: 1, events: VecDeque::new() }
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Next message from the server (events and responses), with a timeout.
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("no message from the server within 10 s")
                .expect("connection closed")
                .expect("websocket error");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(_) => panic!("server closed the connection"),
                _ => continue,
            }
        }
    }

    /// The response with this id; events that come first are kept in `events`.
    pub async fn response(&mut self, id: u64) -> Value {
        loop {
            let msg = self.recv().await;
            if msg["type"] == "response" && msg["id"] == id {
                return msg;
            }
            self.events.push_back(msg);
        }
    }

    /// Sends a request; returns the whole response (`ok`, `data` or `error`).
    pub async fn request(&mut self, kind: &str, body: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"v": 1, "id": id, "type": kind});
        msg.as_object_mut().unwrap().extend(body.as_object().cloned().unwrap_or_default());
        self.send_text(msg.to_string()).await;
        self.response(id).await
    }

    /// Sends a request that must succeed; returns its data.
    pub async fn ok(&mut self, kind: &str, body: Value) -> Value {
        let r = self.request(kind, body).await;
        assert_eq!(r["ok"], true, "{kind} failed: {r}");
        r["data"].clone()
    }

    /// Waits for an event of this type (from those kept, then new ones).
    pub async fn event(&mut self, kind: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
            return self.events.remove(i).unwrap();
        }
        loop {
            let msg = self.recv().await;
            if msg["type"] == kind {
                return msg;
            }
            self.events.push_back(msg);
        }
    }

    /// Joins with transports, sends an Opus "microphone", and returns (participant id,
    /// producer id). Uses the router's capabilities as the client's.
    pub async fn join_with_audio(&mut self, name: &str) -> (String, String) {
        let joined = self.ok("join", json!({"name": name})).await;
        let me = joined["participant_id"].as_str().unwrap().to_string();
        self.ok("set_rtp_capabilities", json!({"rtp_capabilities": joined["rtp_capabilities"]})).await;
        let send = self.ok("create_transport", json!({"direction": "send"})).await;
        self.ok("create_transport", json!({"direction": "recv"})).await;
        let dtls = json!({"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "82:5A:68:3D:36:C3:0A:DE:AF:E7:32:43:D2:88:83:57:AC:2D:65:E5:80:C4:B6:FB:AF:1A:A0:21:9F:6D:0C:AD"}]});
        self.ok("connect_transport", json!({"transport_id": send["transport_id"], "dtls_parameters": dtls})).await;
        let ssrc = 1000 + u32::from(name.as_bytes()[0]);
        let produced = self.ok("produce", opus_produce(&send["transport_id"], "0", ssrc)).await;
        (me, produced["producer_id"].as_str().unwrap().to_string())
    }

    /// Lets the connection stop being read (pings go unanswered), as a frozen or lost
    /// network does; returns the socket so the caller keeps it open.
    pub fn freeze(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }
}

/// A `produce` request's body for an Opus "microphone" on `transport_id`, with its own
/// `mid` and `ssrc` (each producer of a transport needs both new).
pub fn opus_produce(transport_id: &Value, mid: &str, ssrc: u32) -> Value {
    json!({"transport_id": transport_id, "kind": "audio", "rtp_parameters": {
        "mid": mid,
        "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2, "parameters": {}, "rtcpFeedback": []}],
        "headerExtensions": [],
        "encodings": [{"ssrc": ssrc}],
        "rtcp": {"cname": format!("cname{ssrc}"), "reducedSize": true}
    }})
}
