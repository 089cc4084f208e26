//! One participant's WebSocket session. It owns the participant's transports and
//! consumers (so they close when it ends), forwards room events, and answers requests.
//! It ends on a close, a lost connection (no frame for [`GONE_AFTER`]), a client that
//! takes no frame for [`SEND_WITHIN`], a replacement by a newer session of the same
//! client, a host's removal, or server shutdown.
use crate::auth::{Access, PaceKey};
use crate::name::Naming;
use crate::protocol::*;
use crate::rate_limit::{KeyedBuckets, Pace, TokenBucket};
use parking_lot::Mutex;
use crate::room::{JoinError, Kick, ParticipantId, Room, RoomEvent, RoomId, Rooms};
use std::net::IpAddr;
use axum::extract::ws::{Message, WebSocket};
use mediasoup::prelude::*;
use mediasoup::types::scalability_modes::ScalabilityMode;
use mediasoup::worker::RequestError;
use mediasoup::types::rtp_parameters::RtpCodecParametersParametersValue as ParameterValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// The server pings this often; browsers answer pings by themselves.
const PING_EVERY: Duration = Duration::from_secs(3);
/// A participant not heard from (any frame, pongs included) for this long is gone.
const GONE_AFTER: Duration = Duration::from_secs(8);
/// A frame the client does not take within this (its connection's buffers full: it
/// stopped reading) ends the session. Without a bound the session would wait in that
/// send for good, and with it its liveness check, its join deadline and a host's
/// removal: the participant would stay in the room until the client let go.
pub const SEND_WITHIN: Duration = Duration::from_secs(5);
/// The closing frame of a session that ended waits at most this: the peer may be the
/// one that stopped reading.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);
/// A socket that has not joined by then is closed (it holds a file descriptor and a
/// slot of its address's socket limit for nothing).
pub const JOIN_WITHIN: Duration = Duration::from_secs(10);
/// Error replies in a row that end the session. A page gets a few at most (a stream
/// that closed as it asked for it); a loop that keeps sending past its refusals
/// costs the server its answers (a probe got 18,000 refusals a second answered, at 40 %
/// of a core), and is cut off instead: reconnecting is paced.
const ERRORS_IN_A_ROW: u32 = 200;

pub struct SessionContext {
    pub rooms: Arc<Rooms>,
    pub shutdown: watch::Receiver<bool>,
    /// Who opened the socket (checked for this room before the upgrade).
    pub access: Access,
    pub client_ip: IpAddr,
    /// The paces of the client's address, shared by all its connections.
    pub paces: Arc<ClientPaces>,
}

/// Paces kept per client (its address, and its token's subject: `auth::PaceKey`),
/// beside each connection's own: a connection's buckets are new at each join, so a
/// client that reconnected in a loop got a fresh burst each time (a probe made 1900
/// producers a second that way). Generous enough for an office behind one address,
/// in open mode, joining at once.
pub struct ClientPaces {
    joins: Mutex<KeyedBuckets<PaceKey>>,
    produces: Mutex<KeyedBuckets<PaceKey>>,
    pauses: Mutex<KeyedBuckets<PaceKey>>,
    requests: Mutex<KeyedBuckets<PaceKey>>,
}

impl Default for ClientPaces {
    fn default() -> Self {
        Self {
            joins: Mutex::new(JOINS.per_key()),
            produces: Mutex::new(STARTING_STREAMS.client.per_key()),
            pauses: Mutex::new(MUTING.client.per_key()),
            requests: Mutex::new(REQUESTS.client.per_key()),
        }
    }
}

/// One client's joins: 60 at once (a class arriving), then 10 a second.
const JOINS: Pace = Pace::new(60, 10.0);

/// What one kind of a member's requests is held to: a pace per connection and one per
/// client (its address and token, over all its connections), and the words a refusal
/// names them by.
struct PaceRule {
    what: &'static str,
    connection: Pace,
    client: Pace,
}

/// A person toggling mute by hand stays far below a connection's pace; a script in a
/// loop does not. A client's: the mute changes of a room of people.
const MUTING: PaceRule = PaceRule { what: "muting and unmuting", connection: Pace::new(20, 5.0), client: Pace::new(100, 20.0) };
/// Joining takes two (microphone, camera), a screen share two more; people start and
/// stop sharing a few times a meeting. A client's: three per join (microphone, camera,
/// and a share now and then), so that every join admitted can also send (a reconnect
/// storm would otherwise turn into join-and-leave churn).
const STARTING_STREAMS: PaceRule = PaceRule { what: "starting streams", connection: Pace::new(10, 2.0), client: Pace::new(180, 30.0) };
/// Every request but consuming streams (which the room's streams bound): a join takes
/// about eight, a share or a mute two. A person stays far below a connection's pace; a
/// loop does not. A client's: some 250 joins at once (an office or a class behind one
/// address), then four times one member's pace: the sockets a client may open (50) do
/// not multiply its pace.
const REQUESTS: PaceRule = PaceRule { what: "requests", connection: Pace::new(400, 50.0), client: Pace::new(2000, 200.0) };

/// `wait` as the `rate_limited` error for `what` ("joining", …).
fn paced(what: &str, at_most: f64, wait: std::time::Duration) -> ErrorBody {
    ErrorBody::new(ErrorCode::RateLimited, format!("{what} too fast (at most {at_most} a second): try again in {:.1} s", crate::rate_limit::seconds_to_wait(wait)))
}

impl ClientPaces {
    fn take(bucket: &Mutex<KeyedBuckets<PaceKey>>, ctx: &SessionContext) -> Result<(), std::time::Duration> {
        bucket.lock().take(&ctx.access.pace_key(ctx.client_ip), std::time::Instant::now())
    }
}

/// One from the connection's `own` bucket and one from the client's `shared` one, or
/// none: both must have room before either is charged; `rule` names the refusal.
fn take_both(own: &mut TokenBucket, shared: &Mutex<KeyedBuckets<PaceKey>>, ctx: &SessionContext, rule: &PaceRule) -> Result<(), ErrorBody> {
    let now = std::time::Instant::now();
    own.check(now).map_err(|wait| paced(rule.what, rule.connection.per_second, wait))?;
    ClientPaces::take(shared, ctx).map_err(|wait| paced(&format!("{} from your address", rule.what), rule.client.per_second, wait))?;
    let _ = own.take(now);
    Ok(())
}

/// A member's request, against its connection's and its client's request paces.
fn take_request(m: &mut Membership, ctx: &SessionContext) -> Result<(), ErrorBody> {
    take_both(&mut m.request_pace, &ctx.paces.requests, ctx, &REQUESTS)
}

struct Membership {
    room: Arc<Room>,
    participant_id: ParticipantId,
    /// The client's Device capabilities, once it sent them.
    rtp_capabilities: Option<RtpCapabilities>,
    events: broadcast::Receiver<RoomEvent>,
    kicked: tokio::sync::oneshot::Receiver<Kick>,
    /// The kick receiver has completed (it must not be polled again).
    kick_settled: bool,
    transports: HashMap<TransportId, OwnTransport>,
    consumers: HashMap<ConsumerId, Consumed>,
    /// Paces `pause_producer` and `resume_producer`: each is sent to everyone in the
    /// room and to its recorders.
    pause_pace: TokenBucket,
    /// Paces `produce`: each new producer is told to everyone in the room, gets an
    /// audio observer and a level tap, and a consumer in every recorder. With `close_producer`
    /// after it, a loop of them made the same storm the mute pacing stops (a probe ran
    /// 1900 a second).
    produce_pace: TokenBucket,
    /// Paces every request of the member: each reaches the mediasoup worker, and one
    /// the worker refuses is also a line in the log (a probe sent 9,000 a second of a
    /// repeated `connect_transport`: 1.7 MB of log a second, and most of a core).
    request_pace: TokenBucket,
}

/// One of the member's transports.
struct OwnTransport {
    direction: Direction,
    transport: WebRtcTransport,
    /// Connecting is done once: a browser connects each transport once. Answered here
    /// after that, and after a few failures, without asking the worker again.
    connected: bool,
    failed_connects: u8,
}

/// A browser connects a transport once; a client whose DTLS parameters are refused may
/// correct them, a few times.
const CONNECT_TRIES: u8 = 3;

/// One of the member's consumers, and what it shows.
struct Consumed {
    consumer: Consumer,
    /// Whose producer it consumes.
    owner: ParticipantId,
    /// The simulcast layers of a camera sent in layers (`None`: one layer, nothing to
    /// choose), and the one asked for last.
    layers: Option<(u8, u8)>,
}

impl Consumed {
    /// Asks mediasoup for the layer this member's page needs of this camera now.
    async fn prefer_layer(&mut self, stage: &crate::simulcast::Stage, viewer: &str) {
        let Some((count, current)) = self.layers else { return };
        let wanted = crate::simulcast::for_page(stage, viewer, &self.owner, count);
        if wanted != current {
            match self.consumer.set_preferred_layers(ConsumerLayers { spatial_layer: wanted, temporal_layer: None }).await {
                // Noted only once done: a failed request is tried again at the next change.
                Ok(()) => self.layers = Some((count, wanted)),
                Err(e) => tracing::debug!(consumer = %self.consumer.id(), "cannot set the preferred layer: {e}"),
            }
        }
    }
}


enum Flow {
    Continue,
    End(&'static str),
}

pub async fn run(mut socket: WebSocket, room_id: RoomId, ctx: SessionContext) {
    let mut shutdown = ctx.shutdown.clone();
    let mut member: Option<Membership> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    let join_deadline = tokio::time::sleep(JOIN_WITHIN);
    tokio::pin!(join_deadline);
    let mut errors_in_a_row = 0u32;
    let reason = loop {
        let flow = tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(frame)) => {
                    last_heard = Instant::now();
                    let (flow, answer) = handle_frame(&mut socket, frame, &room_id, &ctx, &mut member).await;
                    errors_in_a_row = if answer == Answer::Error { errors_in_a_row + 1 } else { 0 };
                    if errors_in_a_row >= ERRORS_IN_A_ROW {
                        tracing::info!(room = %room_id, ip = %ctx.client_ip, "a signaling client kept sending past {ERRORS_IN_A_ROW} refusals in a row: its session ends");
                        send(&mut socket, &ServerMessage::Bye { v: PROTOCOL_VERSION, code: ByeCode::TooManyErrors, reason: format!("{ERRORS_IN_A_ROW} requests in a row were refused: slow down, then rejoin") }).await;
                        Flow::End("too many errors")
                    } else {
                        flow
                    }
                }
                Some(Err(_)) | None => Flow::End("connection closed"),
            },
            signal = member_signal(&mut member) => match signal {
                MemberSignal::Event(event) => forward_event(&mut socket, event, member.as_mut().unwrap()).await,
                MemberSignal::Lagged(n) => {
                    tracing::warn!(room = %room_id, skipped = n, "session too slow for its room's events");
                    send(&mut socket, &ServerMessage::Bye { v: PROTOCOL_VERSION, code: ByeCode::TooSlow, reason: "connection too slow: rejoin".into() }).await;
                    Flow::End("lagged")
                }
                MemberSignal::Kicked(Kick::Replaced) => {
                    send(&mut socket, &ServerMessage::Bye { v: PROTOCOL_VERSION, code: ByeCode::Replaced, reason: "you joined again from elsewhere (a newer connection of this tab)".into() }).await;
                    // The room already removed this member: do not remove the newer one.
                    if let Some(m) = member.as_mut() { m.participant_id.clear(); }
                    Flow::End("replaced")
                }
                MemberSignal::Kicked(Kick::Removed) => {
                    send(&mut socket, &ServerMessage::Bye { v: PROTOCOL_VERSION, code: ByeCode::Removed, reason: "a host removed you from the meeting".into() }).await;
                    Flow::End("removed by a host")
                }
            },
            () = &mut join_deadline, if member.is_none() => {
                let close = Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: axum::extract::ws::close_code::POLICY,
                    reason: "join within 10 s of connecting".into(),
                }));
                send_frame(&mut socket, close, CLOSE_WITHIN).await;
                Flow::End("did not join in time")
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > GONE_AFTER {
                    Flow::End("not heard from")
                } else if !send_frame(&mut socket, Message::Ping(Default::default()), SEND_WITHIN).await {
                    Flow::End("connection closed or not reading")
                } else {
                    Flow::Continue
                }
            }
            () = stopping(&mut shutdown) => {
                send(&mut socket, &ServerMessage::Bye { v: PROTOCOL_VERSION, code: ByeCode::Shutdown, reason: "the server is shutting down".into() }).await;
                Flow::End("server shutdown")
            }
        };
        if let Flow::End(reason) = flow {
            break reason;
        }
    };
    if let Some(m) = member {
        tracing::debug!(room = %room_id, participant = %m.participant_id, reason, "session ended");
        leave(&ctx.rooms, m).await;
    }
    send_frame(&mut socket, Message::Close(None), CLOSE_WITHIN).await;
}

async fn leave(rooms: &Rooms, m: Membership) {
    let Membership { room, participant_id, transports, consumers, .. } = m;
    // Consumers and transports first (closing a transport closes its producers too),
    // then the room forgets the member and, if they were the last, closes.
    drop(consumers);
    drop(transports);
    if !participant_id.is_empty() {
        rooms.leave(&room, &participant_id).await;
    }
}

async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    // An error means the server is gone: stopping too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

enum MemberSignal {
    Event(RoomEvent),
    Lagged(u64),
    Kicked(Kick),
}

/// The next room event or the kick of a joined session; never resolves before joining.
async fn member_signal(member: &mut Option<Membership>) -> MemberSignal {
    let Some(m) = member else { return std::future::pending().await };
    loop {
        tokio::select! {
            event = m.events.recv() => return match event {
                Ok(event) => MemberSignal::Event(event),
                Err(broadcast::error::RecvError::Lagged(n)) => MemberSignal::Lagged(n),
                // The room is gone: only happens once this member left it.
                Err(broadcast::error::RecvError::Closed) => MemberSignal::Kicked(Kick::Replaced),
            },
            kick = &mut m.kicked, if !m.kick_settled => match kick {
                Ok(kick) => {
                    m.kick_settled = true;
                    return MemberSignal::Kicked(kick);
                }
                // The room dropped the sender without kicking: wait for events only.
                Err(_) => m.kick_settled = true,
            },
        }
    }
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    let text = serde_json::to_string(message).expect("server messages serialize");
    send_frame(socket, Message::Text(text.into()), SEND_WITHIN).await
}

/// Sends a frame; false when the connection is gone or the client did not take it
/// `within` (see [`SEND_WITHIN`]).
async fn send_frame(socket: &mut WebSocket, frame: Message, within: Duration) -> bool {
    match tokio::time::timeout(within, socket.send(frame)).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            tracing::info!("a signaling client took no frame for {within:?}: it stopped reading; its session ends");
            false
        }
    }
}

/// What a frame was answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// An answer, or none needed (pings, pongs, a close).
    Fine,
    Error,
}

async fn handle_frame(socket: &mut WebSocket, frame: Message, room_id: &RoomId, ctx: &SessionContext, member: &mut Option<Membership>) -> (Flow, Answer) {
    let text = match frame {
        Message::Text(text) => text,
        Message::Binary(bytes) if bytes.len() > MAX_MESSAGE_BYTES => {
            let err = ErrorBody::new(ErrorCode::TooLarge, format!("message of {} bytes is over the limit of {MAX_MESSAGE_BYTES}", bytes.len()));
            return (reply(socket, ServerMessage::error(None, err)).await, Answer::Error);
        }
        Message::Binary(_) => {
            return (reply(socket, ServerMessage::error(None, ErrorBody::new(ErrorCode::BadRequest, "send JSON text messages"))).await, Answer::Error);
        }
        Message::Close(_) => return (Flow::End("closed by the client"), Answer::Fine),
        Message::Ping(_) | Message::Pong(_) => return (Flow::Continue, Answer::Fine),
    };
    let envelope = match parse_client_message(&text) {
        Ok(envelope) => envelope,
        Err((id, err)) => return (reply(socket, ServerMessage::error(id, err)).await, Answer::Error),
    };
    let id = envelope.id;
    let leaving = matches!(envelope.request, ClientRequest::Leave {});
    let (response, answer) = match handle_request(envelope.request, room_id, ctx, member).await {
        Ok(data) => (ServerMessage::ok(id, data), Answer::Fine),
        Err(err) => (ServerMessage::error(Some(id), err), Answer::Error),
    };
    let flow = reply(socket, response).await;
    if leaving {
        return (Flow::End("left"), answer);
    }
    (flow, answer)
}

async fn reply(socket: &mut WebSocket, message: ServerMessage) -> Flow {
    if send(socket, &message).await {
        Flow::Continue
    } else {
        Flow::End("connection closed or not reading")
    }
}

fn not_joined() -> ErrorBody {
    ErrorBody::new(ErrorCode::NotJoined, "join the room first")
}

fn internal(what: &str, err: impl std::fmt::Display) -> ErrorBody {
    tracing::warn!("{what}: {err}");
    ErrorBody::new(ErrorCode::Internal, format!("{what}: {err}"))
}

async fn handle_request(request: ClientRequest, room_id: &RoomId, ctx: &SessionContext, member: &mut Option<Membership>) -> Result<ResponseData, ErrorBody> {
    let rooms = &ctx.rooms;
    match request {
        ClientRequest::Join { name, client_id } => {
            if member.is_some() {
                return Err(ErrorBody::new(ErrorCode::AlreadyJoined, "this connection has already joined"));
            }
            if let Some(c) = &client_id {
                if c.is_empty() || c.len() > 64 {
                    return Err(ErrorBody::new(ErrorCode::BadRequest, "client_id is 1 to 64 characters"));
                }
            }
            // Secured mode: the token names the participant, whatever the message says.
            let (name, naming) = match ctx.access.trusted_name() {
                Some(issued) => (issued.to_string(), Naming::Issued),
                None => (name, Naming::Chosen),
            };
            // A rejoin replaces only a session of the same identity: with tokens, the
            // client id is the token's `sub`'s, so nobody else's tab can be kicked.
            let client_id = match &ctx.access {
                Access::User(claims) => client_id.map(|c| format!("{}\u{1f}{c}", claims.sub)),
                _ => client_id,
            };
            // Each join is told to the whole room (and written into its recording's
            // sidecar), and may make a room: paced per client (address and token).
            ClientPaces::take(&ctx.paces.joins, ctx).map_err(|wait| paced("joining from your address", JOINS.per_second, wait))?;
            let (room, joined) = rooms.join(room_id, &name, naming, client_id).await.map_err(|e| {
                let code = match e {
                    JoinError::InvalidName(_) => ErrorCode::InvalidName,
                    JoinError::NameTaken { .. } => ErrorCode::NameTaken,
                    JoinError::RoomFull(_) => ErrorCode::RoomFull,
                    JoinError::TooManyRooms(_) => ErrorCode::TooManyRooms,
                    JoinError::NoWorker | JoinError::RoomSetup(_) => ErrorCode::Internal,
                };
                ErrorBody::new(code, e.to_string())
            })?;
            tracing::info!(target: "audit", action = "room.join", sub = %ctx.access.audit_sub(), role = %ctx.access.audit_role(), ip = %ctx.client_ip,
                room = %room_id, participant = %joined.participant_id, "joined");
            let data = ResponseData::Joined {
                participant_id: joined.participant_id.clone(),
                name: joined.name,
                rtp_capabilities: room.router.rtp_capabilities().clone(),
                participants: joined.participants,
                producers: joined.producers,
                active_speaker: joined.active_speaker,
                recording: joined.recording,
                role: ctx.access.role().map_or("guest", |r| r.as_str()),
            };
            *member = Some(Membership {
                room,
                participant_id: joined.participant_id,
                rtp_capabilities: None,
                events: joined.events,
                kicked: joined.kicked,
                kick_settled: false,
                transports: HashMap::new(),
                consumers: HashMap::new(),
                pause_pace: MUTING.connection.bucket(),
                produce_pace: STARTING_STREAMS.connection.bucket(),
                request_pace: REQUESTS.connection.bucket(),
            });
            Ok(data)
        }
        ClientRequest::Leave {} => Ok(ResponseData::Empty {}),
        request => {
            let m = member.as_mut().ok_or_else(not_joined)?;
            // Consuming someone's stream, and resuming it once, are bounded by the
            // streams in the room, and a page joining a full room makes two of each per
            // stream at once: never refused for pace (a refused one would leave a
            // picture or a voice missing). A repeated resume is charged below.
            if !matches!(request, ClientRequest::Consume { .. } | ClientRequest::ResumeConsumer { .. }) {
                take_request(m, ctx)?;
            }
            handle_member_request(request, ctx, m).await
        }
    }
}

async fn handle_member_request(request: ClientRequest, ctx: &SessionContext, m: &mut Membership) -> Result<ResponseData, ErrorBody> {
    match request {
        ClientRequest::SetRtpCapabilities { rtp_capabilities } => {
            m.rtp_capabilities = Some(rtp_capabilities);
            Ok(ResponseData::Empty {})
        }
        ClientRequest::CreateTransport { direction } => {
            if m.transports.values().any(|t| t.direction == direction) {
                return Err(ErrorBody::new(ErrorCode::BadRequest, format!("a {direction:?} transport exists already")));
            }
            let mut options = WebRtcTransportOptions::new_with_server(m.room.webrtc_server.clone());
            options.enable_udp = true;
            options.enable_tcp = m.room.tcp;
            options.prefer_udp = true;
            let transport = m.room.router.create_webrtc_transport(options).await.map_err(|e| internal("creating a transport", e))?;
            m.room.tcp_in_use.register(&transport);
            let data = ResponseData::Transport {
                transport_id: transport.id(),
                ice_parameters: transport.ice_parameters().clone(),
                ice_candidates: transport.ice_candidates().clone(),
                dtls_parameters: transport.dtls_parameters(),
            };
            m.transports.insert(transport.id(), OwnTransport { direction, transport, connected: false, failed_connects: 0 });
            Ok(data)
        }
        ClientRequest::ConnectTransport { transport_id, dtls_parameters } => {
            let own = m.transports.get_mut(&transport_id).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "no such transport"))?;
            if own.connected {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "this transport is connected already"));
            }
            if own.failed_connects >= CONNECT_TRIES {
                return Err(ErrorBody::new(ErrorCode::BadRequest, format!("connecting this transport failed {CONNECT_TRIES} times: rejoin the room for a new one")));
            }
            // mediasoup takes an empty list but the handshake could never succeed.
            if dtls_parameters.fingerprints.is_empty() || dtls_parameters.fingerprints.len() > 8 {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "dtls_parameters.fingerprints: one to eight"));
            }
            match own.transport.connect(WebRtcTransportRemoteParameters { dtls_parameters }).await {
                Ok(()) => own.connected = true,
                Err(e) => {
                    own.failed_connects += 1;
                    return Err(ErrorBody::new(ErrorCode::BadRequest, format!("cannot connect the transport: {e}")));
                }
            }
            Ok(ResponseData::Empty {})
        }
        ClientRequest::Produce { transport_id, kind, mut rtp_parameters, source, paused } => {
            let OwnTransport { direction, transport, .. } = m.transports.get(&transport_id).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "no such transport"))?;
            if *direction != Direction::Send {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "produce on the send transport"));
            }
            check_rtp_parameters(kind, &rtp_parameters)?;
            forget_empty_cname(&mut rtp_parameters);
            let source = source.unwrap_or_else(|| Source::default_for(kind));
            if !source.carries(kind) {
                return Err(ErrorBody::new(ErrorCode::BadRequest, format!("a {source:?} producer cannot send {kind:?}")));
            }
            // Layers are chosen for cameras: a share is drawn whole, from one stream.
            if source == Source::Screen && rtp_parameters.encodings.len() > 1 {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "a screen share is sent in one encoding, not in simulcast layers"));
            }
            if let Some(existing) = m.room.producer_of_source(&m.participant_id, source, kind) {
                return Err(ErrorBody::new(ErrorCode::BadRequest, format!("you already send {source:?} {kind:?} (producer {existing}): close it first")));
            }
            take_both(&mut m.produce_pace, &ctx.paces.produces, ctx, &STARTING_STREAMS)?;
            let producer = produce(transport, kind, rtp_parameters, paused).await.map_err(|e| ErrorBody::new(ErrorCode::BadRequest, format!("cannot produce: {e}")))?;
            let producer_id = producer.id();
            m.room.add_producer(&m.participant_id, producer, source).await.map_err(|e| internal("adding the producer", e))?;
            Ok(ResponseData::Produced { producer_id })
        }
        ClientRequest::PauseProducer { producer_id } => set_paused(m, ctx, producer_id, true).await,
        ClientRequest::ResumeProducer { producer_id } => set_paused(m, ctx, producer_id, false).await,
        ClientRequest::CloseProducer { producer_id } => {
            if m.room.close_producer(&m.participant_id, producer_id) {
                Ok(ResponseData::Empty {})
            } else {
                Err(ErrorBody::new(ErrorCode::NotFound, "no such producer of yours"))
            }
        }
        ClientRequest::Consume { producer_id } => {
            let (owner, source) = m.room.producer_owner(producer_id).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "no such producer in this room"))?;
            if owner == m.participant_id {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "you cannot consume your own producer"));
            }
            let caps = m.rtp_capabilities.as_ref().ok_or_else(|| ErrorBody::new(ErrorCode::BadRequest, "send set_rtp_capabilities first"))?;
            if !m.room.router.can_consume(&producer_id, caps) {
                return Err(ErrorBody::new(ErrorCode::CannotConsume, "your browser cannot receive this stream's codec"));
            }
            if m.consumers.values().any(|c| c.consumer.producer_id() == producer_id) {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "already consuming this producer"));
            }
            let transport = &m
                .transports
                .values()
                .find(|t| t.direction == Direction::Recv)
                .ok_or_else(|| ErrorBody::new(ErrorCode::BadRequest, "create a recv transport first"))?
                .transport;
            let mut options = ConsumerOptions::new(producer_id, caps.clone());
            // Start paused: the client resumes once its consumer is ready, so the first
            // video frame it gets is a keyframe.
            options.paused = true;
            // A simulcast camera starts at the layer this page shows it at (mediasoup
            // describes it by the producer's layers, which it knows before the consumer).
            let stage = m.room.stage();
            let producer_layers = m.room.producer_layers(producer_id);
            if let Some(count) = producer_layers {
                options.preferred_layers = Some(ConsumerLayers { spatial_layer: crate::simulcast::for_page(&stage, &m.participant_id, &owner, count), temporal_layer: None });
            }
            let consumer = transport.consume(options).await.map_err(|e| ErrorBody::new(ErrorCode::CannotConsume, format!("cannot consume: {e}")))?;
            let data = ResponseData::Consumer {
                consumer_id: consumer.id(),
                producer_id,
                participant_id: owner.clone(),
                kind: consumer.kind(),
                source,
                rtp_parameters: consumer.rtp_parameters().clone(),
                producer_paused: consumer.producer_paused(),
            };
            let layers = crate::simulcast::layers_of(&consumer).map(|count| (count, consumer.preferred_layers().map_or(count - 1, |l| l.spatial_layer)));
            m.consumers.insert(consumer.id(), Consumed { consumer, owner, layers });
            Ok(data)
        }
        ClientRequest::ResumeConsumer { consumer_id } => {
            let paused = m.consumers.get(&consumer_id).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "no such consumer"))?.consumer.paused();
            if paused {
                let consumer = &m.consumers[&consumer_id].consumer;
                consumer.resume().await.map_err(|e| internal("resuming the consumer", e))?;
            } else {
                // Resumed already: nothing to ask the worker, but a repeat is paced
                // like any request.
                take_request(m, ctx)?;
            }
            Ok(ResponseData::Empty {})
        }
        ClientRequest::Join { .. } | ClientRequest::Leave {} => unreachable!("handled before"),
    }
}

/// The most simulcast encodings a producer may have: mediasoup describes a consumer of
/// one by its layer count (`L1`–`L3`), and browsers send at most three.
const MAX_ENCODINGS: usize = 3;

/// Waits before producing again after mediasoup's worker said an SSRC or mid is taken.
const TAKEN_RETRIES: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(200)];

/// Produces on `transport`. mediasoup's Rust crate closes a dropped producer from a task
/// of its own, so a produce sent right after a `close_producer` can reach the worker
/// before that close does and find the closed stream's SSRC or mid still taken. Such a
/// refusal is tried again once the close has had time to land; a stream that is really
/// taken (two open at once) is refused after the last try, as before.
async fn produce(transport: &WebRtcTransport, kind: MediaKind, rtp_parameters: RtpParameters, paused: bool) -> Result<Producer, ProduceError> {
    let mut waits = TAKEN_RETRIES.iter();
    loop {
        let mut options = ProducerOptions::new(kind, rtp_parameters.clone());
        options.paused = paused;
        match transport.produce(options).await {
            Err(ProduceError::Request(RequestError::Response { reason })) if reason.contains("already exists") => match waits.next() {
                Some(wait) => {
                    tracing::debug!(%reason, "produce refused for a stream that may be closing: trying again");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(ProduceError::Request(RequestError::Response { reason })),
            },
            other => return other,
        }
    }
}

/// What mediasoup would accept but a consumer of it (every browser, the recorder) could
/// not be built from: refused here, with a clear error.
fn check_rtp_parameters(kind: MediaKind, p: &RtpParameters) -> Result<(), ErrorBody> {
    if p.encodings.len() > MAX_ENCODINGS {
        return Err(ErrorBody::new(ErrorCode::BadRequest, format!("at most {MAX_ENCODINGS} encodings (simulcast layers), not {}", p.encodings.len())));
    }
    if p.codecs.is_empty() || p.codecs.len() > 8 {
        return Err(ErrorBody::new(ErrorCode::BadRequest, "one to eight codecs"));
    }
    let matches = |c: &RtpCodecParameters| matches!((kind, c), (MediaKind::Audio, RtpCodecParameters::Audio { .. }) | (MediaKind::Video, RtpCodecParameters::Video { .. }));
    if !p.codecs.iter().all(matches) {
        return Err(ErrorBody::new(ErrorCode::BadRequest, format!("a {kind:?} producer's codecs must all be {kind:?} codecs")));
    }
    check_forwarded_text(p)
}

/// mediasoup-client sends a simulcast camera's CNAME as "" (Chrome's SDP for layers
/// sent by rid has no `a=ssrc:… cname:` line). mediasoup's Node layer takes "" as no
/// CNAME and makes one up; its Rust crate takes it as given, and the worker refuses it
/// ("empty cname") when nothing was produced on the transport before: a 720p camera
/// with the microphone off could not join. So "" is no CNAME, as in Node.
fn forget_empty_cname(p: &mut RtpParameters) {
    if p.rtcp.cname.as_deref() == Some("") {
        p.rtcp.cname = None;
    }
}

/// The text of a producer's parameters that mediasoup copies into its consumers, and so
/// into every other participant's browser, where mediasoup-client writes it into SDP
/// lines (`a=ssrc:… cname:`, `a=msid:`, `a=fmtp:`, `a=rid:`). A line break in it would
/// add lines of the sender's choosing to others' sessions: a candidate that reveals
/// their address, ICE credentials, a fingerprint, or a line that breaks their receiving.
/// So it is held to what browsers send: visible ASCII (and a space in `msid`).
fn check_forwarded_text(p: &RtpParameters) -> Result<(), ErrorBody> {
    let refuse = |field: &str| Err(ErrorBody::new(ErrorCode::BadRequest, format!("rtp_parameters.{field}: at most 255 visible ASCII characters (it is copied into the other participants' sessions)")));
    // Empty is fine: mediasoup-client sends a simulcast camera's cname as "".
    let token = |text: &str| text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic());
    let msid = |text: &str| text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if p.rtcp.cname.as_deref().is_some_and(|c| !token(c)) {
        return refuse("rtcp.cname");
    }
    if p.mid.as_deref().is_some_and(|m| !token(m)) {
        return refuse("mid");
    }
    if p.msid.as_deref().is_some_and(|m| !msid(m)) {
        return refuse("msid");
    }
    if p.encodings.iter().any(|e| e.rid.as_deref().is_some_and(|r| !token(r))) {
        return refuse("encodings[].rid");
    }
    // mediasoup takes any text that starts like a mode ("L1T3…") as a custom one and
    // forwards it whole; the modes webrtc-svc names are its own variants.
    if p.encodings.iter().any(|e| matches!(&e.scalability_mode, ScalabilityMode::Custom { scalability_mode, .. } if !is_scalability_mode(scalability_mode))) {
        return Err(ErrorBody::new(ErrorCode::BadRequest, "rtp_parameters.encodings[].scalabilityMode: a webrtc-svc mode such as L1T3 or S2T3 (it is copied into the other participants' sessions)"));
    }
    for codec in &p.codecs {
        let parameters = match codec {
            RtpCodecParameters::Audio { parameters, .. } | RtpCodecParameters::Video { parameters, .. } => parameters,
        };
        for (key, value) in parameters.iter() {
            let value_ok = match value {
                ParameterValue::String(v) => token(v),
                ParameterValue::Number(_) => true,
            };
            if !token(key) || !value_ok {
                return refuse("codecs[].parameters");
            }
        }
    }
    Ok(())
}

/// A scalability mode in webrtc-svc's form: `L` or `S`, spatial layers, `T`, temporal
/// layers (one or two digits each), and `_KEY` or `_KEY_SHIFT` at most.
fn is_scalability_mode(text: &str) -> bool {
    let modes = text.strip_suffix("_KEY_SHIFT").or_else(|| text.strip_suffix("_KEY")).unwrap_or(text);
    let Some((spatial, temporal)) = modes.strip_prefix(['L', 'S']).and_then(|rest| rest.split_once('T')) else { return false };
    let layers = |n: &str| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit());
    layers(spatial) && layers(temporal)
}

/// Pauses or resumes one of the member's producers. Only a change is told to the room:
/// pausing a paused producer answers `{}` and sends nobody anything.
async fn set_paused(m: &mut Membership, ctx: &SessionContext, producer_id: ProducerId, pause: bool) -> Result<ResponseData, ErrorBody> {
    let producer = own_producer(m, producer_id)?;
    if producer.paused() == pause {
        return Ok(ResponseData::Empty {});
    }
    take_both(&mut m.pause_pace, &ctx.paces.pauses, ctx, &MUTING)?;
    if pause {
        producer.pause().await.map_err(|e| internal("pausing", e))?;
    } else {
        producer.resume().await.map_err(|e| internal("resuming", e))?;
    }
    m.room.producer_paused_changed(&m.participant_id, &producer);
    Ok(ResponseData::Empty {})
}

fn own_producer(m: &Membership, producer_id: ProducerId) -> Result<Producer, ErrorBody> {
    m.room.producer_of(&m.participant_id, producer_id).ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "no such producer of yours"))
}

/// Points each simulcast camera consumer at the layer this page shows it at now.
async fn refresh_layers(m: &mut Membership) {
    let stage = m.room.stage();
    // Not the consumers of someone leaving: their producers are closing (the worker
    // has forgotten the consumers before this session hears of it).
    for consumed in m.consumers.values_mut().filter(|c| !c.consumer.closed() && m.room.member_name(&c.owner).is_some()) {
        consumed.prefer_layer(&stage, &m.participant_id).await;
    }
}

async fn forward_event(socket: &mut WebSocket, event: RoomEvent, m: &mut Membership) -> Flow {
    let v = PROTOCOL_VERSION;
    let message = match event {
        RoomEvent::Joined(p) if p.id == m.participant_id => return Flow::Continue,
        RoomEvent::Joined(participant) => ServerMessage::ParticipantJoined { v, participant },
        RoomEvent::Updated(participant) => ServerMessage::ParticipantUpdated { v, participant },
        // Removed by a host (or replaced): the room took them out first; their `bye`
        // says so.
        RoomEvent::Left(p) if p == m.participant_id => return Flow::Continue,
        RoomEvent::Left(participant_id) => {
            // Before anyone spoke, the stage is the first to have joined: it may move.
            refresh_layers(m).await;
            ServerMessage::ParticipantLeft { v, participant_id }
        }
        RoomEvent::NewProducer(p) if p.participant_id == m.participant_id => return Flow::Continue,
        RoomEvent::NewProducer(producer) => {
            if producer.source == Source::Screen {
                refresh_layers(m).await;
            }
            ServerMessage::NewProducer { v, producer }
        }
        RoomEvent::ProducerPaused { producer_id, participant_id } => ServerMessage::ProducerPaused { v, producer_id, participant_id },
        RoomEvent::ProducerResumed { producer_id, participant_id } => ServerMessage::ProducerResumed { v, producer_id, participant_id },
        RoomEvent::ProducerClosed { producer_id } => {
            let closed = m.consumers.values().find(|c| c.consumer.producer_id() == producer_id).map(|c| c.consumer.id());
            if let Some(consumer_id) = closed {
                m.consumers.remove(&consumer_id);
            }
            // A share that ends puts the speaker back on the stage, big.
            refresh_layers(m).await;
            let Some(consumer_id) = closed else { return Flow::Continue };
            ServerMessage::ConsumerClosed { v, consumer_id, producer_id }
        }
        RoomEvent::ActiveSpeaker { speaker, since, .. } => {
            refresh_layers(m).await;
            ServerMessage::ActiveSpeaker { v, participant_id: speaker, since }
        }
        RoomEvent::Speaking(participant_id, speaking) => ServerMessage::Speaking { v, participant_id, speaking },
        RoomEvent::Levels(levels) => ServerMessage::Levels { v, levels: levels.as_ref().clone() },
        RoomEvent::Recording { recording, error } => ServerMessage::Recording { v, recording, error },
        RoomEvent::ShareStopped { participant_id, producer_id, reason } if participant_id == m.participant_id => ServerMessage::ProducerClosed { v, producer_id, reason },
        RoomEvent::ShareStopped { .. } => return Flow::Continue,
    };
    reply(socket, message).await
}
